"""An experiment's pieces: TrainState, the jitted sharded step and init.

One code path for every scale: the state is created directly in its sharded
layout (jit with out_shardings), the step is jitted with explicit in/out
shardings and donates the old state, and a one-device mesh is simply the
unsharded case.

Legend: B batch, L length.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any, Callable

import flax.linen as nn
import jax
import jax.numpy as jnp
import ml_collections
import optax
from flax import struct

from aoarm import checkpoint, config as config_lib, evaluate, models, objective, sharding


class TrainState(struct.PyTreeNode):
  step: jax.Array
  params: Any
  opt_state: Any
  ema_params: Any  # None when optim.ema_decay == 0


def make_optimizer(o: ml_collections.ConfigDict, num_steps: int
                   ) -> tuple[optax.GradientTransformation, optax.Schedule]:
  """AdamW (decay on matrices only) after global-norm clipping; warmup, then
  cosine decay or a constant rate."""
  warmup = min(o.warmup_steps, num_steps)
  if o.schedule == "cosine":
    schedule = optax.warmup_cosine_decay_schedule(
        0.0, o.lr, warmup, max(num_steps, warmup + 1), end_value=o.lr * o.min_lr_ratio)
  else:
    schedule = optax.join_schedules(
        [optax.linear_schedule(0.0, o.lr, warmup), optax.constant_schedule(o.lr)], [warmup])
  decay_mask = lambda params: jax.tree.map(lambda p: p.ndim >= 2, params)
  tx = optax.chain(
      optax.clip_by_global_norm(o.grad_clip) if o.grad_clip else optax.identity(),
      optax.adamw(schedule, b1=o.b1, b2=o.b2, eps=o.eps, weight_decay=o.weight_decay,
                  mask=decay_mask))
  return tx, schedule


def loss_fn(params: Any, model: nn.Module, tokens_BxL: jax.Array, rng: jax.Array,
            t: ml_collections.ConfigDict) -> tuple[jax.Array, dict]:
  """The arch's objective: AO-ARM NLL over sampled orders, or the MDM ELBO."""
  if model.cfg.arch == "mdm":
    noisy_BxL, masked_BxL, rates_B = objective.mdm_corrupt(
        rng, tokens_BxL, model.mask_id, t.mdm_min_rate)
    logits = model.apply({"params": params}, noisy_BxL, method=model.denoise)
    return objective.mdm_loss(logits, tokens_BxL, masked_BxL, rates_B)
  b, length = tokens_BxL.shape
  order_BxL = objective.sample_orders(rng, b, length, t.order, t.l2r_fraction)
  logits = model.apply({"params": params}, tokens_BxL, order_BxL)
  return objective.aoarm_loss(logits, tokens_BxL, order_BxL)


def train_step(state: TrainState, tokens_BxL: jax.Array, rng: jax.Array, *,
               model: nn.Module, tx: optax.GradientTransformation,
               schedule: optax.Schedule, config: ml_collections.ConfigDict
               ) -> tuple[TrainState, dict]:
  """One optimiser step; the step's randomness depends on (rng, step) only."""
  step_rng = jax.random.fold_in(rng, state.step)
  grad_fn = jax.value_and_grad(loss_fn, has_aux=True)
  (_, aux), grads = grad_fn(state.params, model, tokens_BxL, step_rng, config.train)
  updates, opt_state = tx.update(grads, state.opt_state, state.params)
  params = optax.apply_updates(state.params, updates)
  ema = state.ema_params
  if ema is not None:
    decay = config.optim.ema_decay
    ema = jax.tree.map(lambda e, p: decay * e + (1 - decay) * p, ema, params)
  out = dict(loss=aux["loss"], bits_per_token=aux["bits_per_token"],
             grad_norm=optax.tree.norm(grads), lr=schedule(state.step))
  return TrainState(state.step + 1, params, opt_state, ema), out


@dataclasses.dataclass
class Experiment:
  """Everything a run derives from its config and mesh, before any data."""

  config: ml_collections.ConfigDict
  mesh: jax.sharding.Mesh
  model: nn.Module
  abstract_state: Any  # ShapeDtypeStructs of the state, with its shardings
  init: Callable[[jax.Array], TrainState]
  step: Callable[[TrainState, jax.Array, jax.Array], tuple[TrainState, dict]]
  eval_step: Callable  # see evaluate.make_eval_step

  @property
  def batch_sharding(self) -> jax.sharding.NamedSharding:
    return sharding.batch_sharding(self.mesh)


def build(config: ml_collections.ConfigDict, mesh: jax.sharding.Mesh) -> Experiment:
  """Model, optimiser, state shardings and the jitted init and step."""
  model = models.build(config_lib.model_config(config))
  tx, schedule = make_optimizer(config.optim, config.train.num_steps)
  rules = sharding.RULE_PRESETS[config.mesh.rules]
  length = config.data.seq_len
  dummy = jnp.zeros((1, length), jnp.int32)
  dummy_order = jnp.broadcast_to(jnp.arange(length, dtype=jnp.int32), (1, length))
  use_ema = config.optim.ema_decay > 0

  def init_boxed(rng):
    params = model.init(rng, dummy, dummy_order)["params"]
    return TrainState(jnp.zeros((), jnp.int32), params, tx.init(params),
                      params if use_ema else None)

  # Boxed (logically annotated) shapes give every leaf's sharding; optax's
  # state mirrors the parameters, so it inherits theirs.
  boxed_shapes = jax.eval_shape(init_boxed, jax.random.key(0))
  state_shardings = sharding.logical_shardings(boxed_shapes, mesh, rules)
  abstract_state = checkpoint.abstract_like(
      sharding.strip_boxes(boxed_shapes), state_shardings)
  repl = sharding.replicated(mesh)

  def in_context(fn):
    @functools.wraps(fn)
    def wrapped(*args):
      with jax.set_mesh(mesh), nn.logical_axis_rules(rules):
        return fn(*args)
    return wrapped

  init = in_context(jax.jit(lambda rng: nn.meta.unbox(init_boxed(rng)),
                            out_shardings=state_shardings))
  step = in_context(jax.jit(
      functools.partial(train_step, model=model, tx=tx, schedule=schedule, config=config),
      in_shardings=(state_shardings, sharding.batch_sharding(mesh), repl),
      out_shardings=(state_shardings, repl), donate_argnums=(0,)))
  eval_step = in_context(evaluate.make_eval_step(model, config, mesh))
  return Experiment(config, mesh, model, abstract_state, init, step, eval_step)


def mesh_from_config(config: ml_collections.ConfigDict) -> jax.sharding.Mesh:
  m = config.mesh
  return sharding.make_mesh(m.data, m.fsdp, m.tensor)
