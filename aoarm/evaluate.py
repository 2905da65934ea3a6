"""Held-out likelihoods.

AO-ARMs: the *random-order bound* (mean NLL over `eval.num_orders` random
orders per sequence, with its standard error over sequences) and the
left-to-right NLL. `ar`: left-to-right only. `mdm`: the ELBO, averaged over
`eval.num_orders` masking draws per sequence. The main figure of each,
`bits_per_token`, is the one the paper compares: an upper bound on -log p(x)
per token except for `ar`'s, which is exact.

Legend: B batch, L length, K orders (or masking draws) per sequence.
"""

from __future__ import annotations

import math
from typing import Any, Callable

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
from jax.experimental import multihost_utils

from aoarm import objective, sharding
from aoarm.data import pipeline


def bound_name(arch: str) -> str:
  return {"ar": "left-to-right NLL", "mdm": "ELBO bound"}.get(arch, "random-order bound")


def _per_sequence_nll(logits_BxLxV, targets_BxL, weights_BxL) -> jax.Array:
  return (objective.token_nll(logits_BxLxV, targets_BxL) * weights_BxL).sum(axis=1)


def make_eval_step(model, config: ml_collections.ConfigDict, mesh) -> Callable:
  """jit(params, tokens, weights, rng) -> per-sequence NLL sums:
  {'main': float32[K, B], 'l2r': float32[B] (not mdm), 'tokens': float32[B]}."""
  arch = model.cfg.arch
  num = config.eval.num_orders

  def step(params, tokens_BxL, weights_BxL, rng):
    variables = {"params": params}
    b, length = tokens_BxL.shape
    identity_BxL = objective.sample_orders(rng, b, length, kind="l2r")
    out = {"tokens": weights_BxL.sum(axis=1)}
    if arch != "mdm":
      logits = model.apply(variables, tokens_BxL, identity_BxL)
      out["l2r"] = _per_sequence_nll(logits, tokens_BxL, weights_BxL)
    if arch == "ar":
      out["main"] = out["l2r"][None]
      return out

    def one(rng_k):
      if arch == "mdm":
        noisy, masked, rates = objective.mdm_corrupt(
            rng_k, tokens_BxL, model.mask_id, config.train.mdm_min_rate)
        logits = model.apply(variables, noisy, method=model.denoise)
        nll = objective.token_nll(logits, tokens_BxL) * masked * weights_BxL
        return nll.sum(axis=1) / rates
      order = objective.sample_orders(rng_k, b, length)
      logits = model.apply(variables, tokens_BxL, order)
      return _per_sequence_nll(logits, jnp.take_along_axis(tokens_BxL, order, axis=1),
                               jnp.take_along_axis(weights_BxL, order, axis=1))

    out["main"] = jax.lax.map(one, jax.random.split(rng, num))
    return out

  batch = sharding.batch_sharding(mesh)
  return jax.jit(step, in_shardings=(None, batch, batch, sharding.replicated(mesh)))


def summarize(main_KxN: np.ndarray, l2r_N: np.ndarray | None,
              tokens_N: np.ndarray) -> dict[str, float]:
  """Nats / bits per token, perplexity and standard errors over sequences."""
  keep = tokens_N > 0
  main_KxN, tokens_N = main_KxN[:, keep], tokens_N[keep]
  per_seq = main_KxN.mean(axis=0) / tokens_N  # nats/token of each sequence
  nats = main_KxN.mean(axis=0).sum() / tokens_N.sum()
  stderr = per_seq.std(ddof=1) / math.sqrt(len(per_seq)) if len(per_seq) > 1 else float("nan")
  out = dict(nats_per_token=nats, bits_per_token=nats / math.log(2),
             bits_per_token_stderr=stderr / math.log(2), perplexity=math.exp(nats),
             num_sequences=float(len(per_seq)))
  if l2r_N is not None:
    nats_l2r = l2r_N[keep].sum() / tokens_N.sum()
    out.update(nats_per_token_l2r=nats_l2r, bits_per_token_l2r=nats_l2r / math.log(2),
               perplexity_l2r=math.exp(nats_l2r))
  return {k: float(v) for k, v in out.items()}


def evaluate(exp: Any, params: Any, source, rng: jax.Array) -> dict[str, float]:
  """Likelihood figures of `params` on a data source (all processes call it)."""
  config = exp.config
  e = config.eval
  proc, nproc = jax.process_index(), jax.process_count()
  mains, l2rs, counts = [], [], []
  for i, (tokens, weights) in enumerate(pipeline.eval_batches(
      source, e.batch_size, proc, nproc, e.max_batches)):
    tokens_g = pipeline.global_array(tokens, exp.batch_sharding)
    weights_g = pipeline.global_array(weights, exp.batch_sharding)
    out = exp.eval_step(params, tokens_g, weights_g, jax.random.fold_in(rng, i))
    out = jax.device_get(_gather(out))
    mains.append(out["main"])
    l2rs.append(out.get("l2r"))
    counts.append(out["tokens"])
  if not mains:
    raise ValueError("the evaluation split is empty: use more data or a shorter seq_len")
  l2r = None if l2rs[0] is None else np.concatenate(l2rs)
  return summarize(np.concatenate(mains, axis=1), l2r, np.concatenate(counts))


def _gather(tree):
  """Brings (possibly multi-host) global arrays to every host."""
  if jax.process_count() == 1:
    return tree
  return multihost_utils.process_allgather(tree, tiled=True)
