"""Generation: KV-cached any-order decoding, infilling, and the MDM sampler.

    from aoarm import sample
    out = sample.generate(model, variables, rng, batch_size=B, length=L,
                          order="random",          # or "l2r", or int32[B, L]
                          given=None,              # or (tokens int32[B, L], known bool[B, L])
                          temperature=1.0, top_p=1.0, use_cache=True)   # -> int32[B, L]

AO-ARMs reveal one position per step, keeping each layer's keys and values
in a preallocated cache updated in place inside a jitted `lax` loop (for
`two_stream`, the content stream's; the query stream is computed for the
next target only). `use_cache=False` recomputes the full forward at every
step: the reference the cache must match (same seed, same samples). `mdm`
unmasks `num_steps` groups of positions with no cache.

Given positions (infilling) are revealed first and kept exactly; the rest
follow in the requested order. Every categorical draw is made in float64
(float32 draws are known to lower the entropy of samples).

Legend: B batch, L length, V vocabulary.
"""

from __future__ import annotations

import functools

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

ORDERS = ("random", "l2r")


def decoding_order(rng: jax.Array, known_BxL: jax.Array, order) -> jax.Array:
  """int32[B, L]: the known positions (ascending), then the others in `order`
  ('random', 'l2r' or an int32[B, L] of positions)."""
  b, length = known_BxL.shape
  if isinstance(order, str):
    if order == "l2r":
      spec_BxL = jnp.broadcast_to(jnp.arange(length, dtype=jnp.int32), (b, length))
    else:
      spec_BxL = jnp.argsort(jax.random.uniform(rng, (b, length)), axis=1)
  else:
    spec_BxL = jnp.asarray(order, jnp.int32)
  rank_BxL = jnp.argsort(spec_BxL, axis=1)  # rank of each position in the spec
  pos_1xL = jnp.arange(length)[None]
  return jnp.argsort(jnp.where(known_BxL, pos_1xL, length + rank_BxL), axis=1
                     ).astype(jnp.int32)


def draw(rng: jax.Array, logits_NxV: jax.Array, temperature, top_p: float) -> jax.Array:
  """int32[N] categorical draws at `temperature` within the top-p nucleus.

  Computed in float64: call under `jax.enable_x64(True)` (generate does).
  """
  logits = logits_NxV.astype(jnp.float64) / temperature
  probs_NxV = jax.nn.softmax(logits, axis=-1)
  if top_p < 1.0:
    sorted_NxV = -jnp.sort(-probs_NxV, axis=-1)
    before_NxV = jnp.cumsum(sorted_NxV, axis=-1) - sorted_NxV  # mass of the larger ones
    kept_N = (before_NxV < top_p).sum(axis=-1, keepdims=True)  # always >= 1
    threshold_Nx1 = jnp.take_along_axis(sorted_NxV, kept_N - 1, axis=-1)
    probs_NxV = jnp.where(probs_NxV >= threshold_Nx1, probs_NxV, 0.0)
  cdf_NxV = jnp.cumsum(probs_NxV, axis=-1)
  u_N = jax.random.uniform(rng, cdf_NxV.shape[:-1], dtype=jnp.float64)
  index_N = (cdf_NxV < u_N[:, None] * cdf_NxV[:, -1:]).sum(axis=-1)
  return jnp.minimum(index_N, logits_NxV.shape[-1] - 1).astype(jnp.int32)


def _check(model: nn.Module, batch_size, length, order, given, temperature, top_p,
           num_steps):
  cfg = model.cfg
  if not 1 <= length <= cfg.max_len:
    raise ValueError(f"length={length} must lie in [1, max_len={cfg.max_len}]")
  if batch_size < 1:
    raise ValueError(f"batch_size={batch_size} must be >= 1")
  if not temperature > 0:
    raise ValueError(f"temperature={temperature} must be > 0 (use a small value "
                     "such as 1e-3 for near-greedy decoding)")
  if not 0 < top_p <= 1:
    raise ValueError(f"top_p={top_p} must lie in (0, 1]")
  if isinstance(order, str):
    if order not in ORDERS:
      raise ValueError(f"order={order!r}: use one of {ORDERS} or an int32[B, L] array")
  else:
    order = np.asarray(order)
    if order.shape != (batch_size, length):
      raise ValueError(f"order has shape {order.shape}; expected ({batch_size}, {length})")
    bad = order[(order < 0) | (order >= length)]
    if bad.size:
      raise ValueError(f"order holds position {bad[0]}, out of range [0, {length})")
    if (np.sort(order, axis=1) != np.arange(length)).any():
      raise ValueError("every row of order must be a permutation of 0..length-1")
  if given is not None:
    tokens, known = (np.asarray(x) for x in given)
    if tokens.shape != known.shape or tokens.ndim != 2 or tokens.shape[0] != batch_size:
      raise ValueError(f"given tokens {tokens.shape} and known {known.shape} must both "
                       f"be [{batch_size}, P]")
    if tokens.shape[1] > length:
      raise ValueError(f"the prompt has {tokens.shape[1]} positions, more than the "
                       f"sequence length {length}")
    shown = tokens[known.astype(bool)]
    if shown.size and (shown.min() < 0 or shown.max() >= cfg.vocab_size):
      raise ValueError(f"given tokens must lie in [0, {cfg.vocab_size})")
  if cfg.arch == "mdm":
    if num_steps is not None and not 1 <= num_steps <= length:
      raise ValueError(f"num_steps={num_steps} must lie in [1, length={length}]")
  elif num_steps not in (None, length):
    raise ValueError(f"arch={cfg.arch!r} reveals one position per step: num_steps "
                     f"must be None or {length}")


def generate(model: nn.Module, variables, rng: jax.Array, *, batch_size: int,
             length: int, order="random", given=None, temperature: float = 1.0,
             top_p: float = 1.0, use_cache: bool = True,
             num_steps: int | None = None) -> jax.Array:
  """Samples int32[batch_size, length] sequences (see the module docstring)."""
  _check(model, batch_size, length, order, given, temperature, top_p, num_steps)
  tokens = np.zeros((batch_size, length), np.int32)
  known = np.zeros((batch_size, length), bool)
  if given is not None:
    g_tokens, g_known = (np.asarray(x) for x in given)
    tokens[:, :g_tokens.shape[1]] = np.where(g_known, g_tokens, 0)
    known[:, :g_known.shape[1]] = g_known
  order_rng, draw_rng = jax.random.split(rng)
  order_BxL = decoding_order(order_rng, jnp.asarray(known), order)
  if model.cfg.arch == "ar" and (np.asarray(order_BxL) != np.arange(length)).any():
    raise ValueError("arch='ar' generates left to right: use order='l2r', and give "
                     "only a prefix of positions")
  with jax.enable_x64(True):
    if model.cfg.arch == "mdm":
      return _unmask(model, variables, draw_rng, jnp.asarray(tokens), jnp.asarray(known),
                     order_BxL, jnp.float64(temperature), top_p, num_steps or length)
    return _decode(model, variables, draw_rng, jnp.asarray(tokens), jnp.asarray(known),
                   order_BxL, jnp.float64(temperature), top_p, use_cache)


@functools.partial(jax.jit, static_argnames=("model", "top_p", "use_cache"))
def _decode(model, variables, rng, tokens_BxL, known_BxL, order_BxL, temperature,
            top_p, use_cache):
  b, length = tokens_BxL.shape
  rows_B = jnp.arange(b)

  def step(t, carry):
    tokens_BxL, cache = carry
    tgt_B = order_BxL[:, t]
    if use_cache:
      src_pos_B = order_BxL[:, jnp.maximum(t - 1, 0)]
      logits_BxV, cache = model.apply(variables, tokens_BxL[rows_B, src_pos_B], src_pos_B,
                                      tgt_B, t, cache, method=model.decode)
    else:
      logits_BxV = model.apply(variables, tokens_BxL, order_BxL)[:, t]
    token_B = draw(jax.random.fold_in(rng, t), logits_BxV, temperature, top_p)
    token_B = jnp.where(known_BxL[rows_B, tgt_B], tokens_BxL[rows_B, tgt_B], token_B)
    return tokens_BxL.at[rows_B, tgt_B].set(token_B), cache

  cache = model.init_cache(b, length) if use_cache else None
  return jax.lax.fori_loop(0, length, step, (tokens_BxL, cache))[0]


def unmask_schedule(known_BxL: jax.Array, order_BxL: jax.Array,
                    num_steps: int) -> jax.Array:
  """int32[B, L]: the unmasking step of each position (-1 if known).

  The unknown positions, in decoding order, are cut into `num_steps`
  consecutive groups of (nearly) equal size.
  """
  length = known_BxL.shape[1]
  num_known_Bx1 = known_BxL.sum(axis=1, keepdims=True)
  # Rank among the unknown positions in decoding order (known come first).
  rank_BxL = jnp.argsort(order_BxL, axis=1) - num_known_Bx1
  num_unknown_Bx1 = length - num_known_Bx1
  step_BxL = rank_BxL * num_steps // jnp.maximum(num_unknown_Bx1, 1)
  return jnp.where(known_BxL, -1, step_BxL).astype(jnp.int32)


@functools.partial(jax.jit, static_argnames=("model", "top_p", "num_steps"))
def _unmask(model, variables, rng, tokens_BxL, known_BxL, order_BxL, temperature,
            top_p, num_steps):
  """Iterative unmasking: step k reveals the next ~n/num_steps unknown
  positions of each row's order, drawn from one denoising pass."""
  b, length = tokens_BxL.shape
  mask_id = model.cfg.vocab_size
  when_BxL = unmask_schedule(known_BxL, order_BxL, num_steps)

  def step(k, noisy_BxL):
    logits_BxLxV = model.apply(variables, noisy_BxL, method=model.denoise)
    drawn_BxL = draw(jax.random.fold_in(rng, k), logits_BxLxV.reshape(b * length, -1),
                     temperature, top_p).reshape(b, length)
    return jnp.where(when_BxL == k, drawn_BxL, noisy_BxL)

  start_BxL = jnp.where(known_BxL, tokens_BxL, mask_id)
  return jax.lax.fori_loop(0, num_steps, step, start_BxL)
