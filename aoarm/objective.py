"""Training objectives: order sampling, the AO-ARM loss, the MDM ELBO.

All pure functions of arrays. Losses return (scalar loss in nats per token,
metrics dict). Per-token weights (1 for real tokens, 0 for padding) are given
in natural position order.

Legend: B batch, L length, V vocabulary.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp

ORDER_KINDS = ("random", "l2r")


def sample_orders(rng: jax.Array, batch_size: int, length: int,
                  kind: str = "random", l2r_fraction: float = 0.0) -> jax.Array:
  """int32[B, L] orders: uniform permutations, with each row left-to-right
  with probability `l2r_fraction` (kind='random'), or all left-to-right."""
  if kind not in ORDER_KINDS:
    raise ValueError(f"unknown order kind {kind!r}; use one of {ORDER_KINDS}")
  if not 0.0 <= l2r_fraction <= 1.0:
    raise ValueError(f"l2r_fraction={l2r_fraction} must lie in [0, 1]")
  identity_BxL = jnp.broadcast_to(jnp.arange(length, dtype=jnp.int32),
                                  (batch_size, length))
  if kind == "l2r":
    return identity_BxL
  perm_rng, mix_rng = jax.random.split(rng)
  random_BxL = jnp.argsort(
      jax.random.uniform(perm_rng, (batch_size, length)), axis=1).astype(jnp.int32)
  if l2r_fraction == 0.0:
    return random_BxL
  use_l2r_Bx1 = jax.random.uniform(mix_rng, (batch_size, 1)) < l2r_fraction
  return jnp.where(use_l2r_Bx1, identity_BxL, random_BxL)


def token_nll(logits_BxLxV: jax.Array, targets_BxL: jax.Array) -> jax.Array:
  """-log softmax(logits)[target], float32[B, L]."""
  logits = logits_BxLxV.astype(jnp.float32)
  target_logit_BxL = jnp.take_along_axis(logits, targets_BxL[..., None], axis=-1)[..., 0]
  return jax.nn.logsumexp(logits, axis=-1) - target_logit_BxL


def _metrics(loss: jax.Array, num_tokens: jax.Array) -> dict[str, jax.Array]:
  return {"loss": loss, "bits_per_token": loss / math.log(2), "num_tokens": num_tokens}


def aoarm_loss(logits_BxLxV: jax.Array, tokens_BxL: jax.Array,
               order_BxL: jax.Array, weights_BxL: jax.Array | None = None
               ) -> tuple[jax.Array, dict[str, jax.Array]]:
  """Mean NLL of the tokens, each scored at the step that reveals it.

  logits[b, t] scores tokens[b, order[b, t]] (the model contract).
  """
  targets_BxL = jnp.take_along_axis(tokens_BxL, order_BxL, axis=1)
  if weights_BxL is None:
    weights_BxL = jnp.ones(tokens_BxL.shape, jnp.float32)
  step_weights_BxL = jnp.take_along_axis(weights_BxL.astype(jnp.float32), order_BxL, axis=1)
  nll_BxL = token_nll(logits_BxLxV, targets_BxL)
  num_tokens = step_weights_BxL.sum()
  loss = (nll_BxL * step_weights_BxL).sum() / jnp.maximum(num_tokens, 1.0)
  return loss, _metrics(loss, num_tokens)


def mdm_corrupt(rng: jax.Array, tokens_BxL: jax.Array, mask_id: int,
                min_rate: float = 1e-3
                ) -> tuple[jax.Array, jax.Array, jax.Array]:
  """Masks each token with probability u_b (linear schedule, time t = u).

  The rates are low-discrepancy across the batch: u_b = (u0 + b / B) mod 1,
  then mapped into [min_rate, 1] so that 1/u stays bounded.

  Returns: (noisy int[B, L], masked bool[B, L], rates float32[B]).
  """
  b, length = tokens_BxL.shape
  offset_rng, mask_rng = jax.random.split(rng)
  u_B = jnp.mod(jax.random.uniform(offset_rng) + jnp.arange(b) / b, 1.0)
  u_B = min_rate + (1.0 - min_rate) * u_B
  masked_BxL = jax.random.uniform(mask_rng, (b, length)) < u_B[:, None]
  noisy_BxL = jnp.where(masked_BxL, mask_id, tokens_BxL)
  return noisy_BxL, masked_BxL, u_B


def mdm_loss(logits_BxLxV: jax.Array, tokens_BxL: jax.Array,
             masked_BxL: jax.Array, rates_B: jax.Array,
             weights_BxL: jax.Array | None = None
             ) -> tuple[jax.Array, dict[str, jax.Array]]:
  """Continuous-time MDM ELBO (linear schedule), nats per token.

  Per sequence: (1/u) * sum over masked positions of CE, over the number of
  tokens; averaged over tokens of the batch. Its expectation over u and the
  masks is the negative ELBO, an upper bound on -log p(x) / L.
  """
  if weights_BxL is None:
    weights_BxL = jnp.ones(tokens_BxL.shape, jnp.float32)
  weights_BxL = weights_BxL.astype(jnp.float32)
  nll_BxL = token_nll(logits_BxLxV, tokens_BxL)
  per_token_BxL = jnp.where(masked_BxL, nll_BxL, 0.0) * weights_BxL / rates_B[:, None]
  num_tokens = weights_BxL.sum()
  loss = per_token_BxL.sum() / jnp.maximum(num_tokens, 1.0)
  return loss, _metrics(loss, num_tokens)
