"""Masked dot-product attention: one pure function and its causal mask.

Legend: B batch, T query length, S key length, N query heads, H key/value
heads (N = G * H: query head n reads key/value head n // G), K head dim.
Two-stream attention uses the grouping: both streams' queries read the same
content keys, so they are stacked as G = 2 query heads per key head.
"""

from __future__ import annotations

import functools
from typing import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

from aoarm.models import rope
from aoarm.models.config import ModelConfig
from aoarm.sharding import EMBED, HEADS, KV


def causal_mask(num_queries: int, num_keys: int, offset: int = 0) -> jax.Array:
  """bool[T, S]: query t sees keys s <= t + offset (inclusive)."""
  q_T1 = jnp.arange(num_queries)[:, None]
  k_1S = jnp.arange(num_keys)[None, :]
  return k_1S <= q_T1 + offset


def dot_product_attention(q_BxTxNxK: jax.Array, k_BxSxHxK: jax.Array,
                          v_BxSxHxK: jax.Array,
                          mask: jax.Array | None = None,
                          return_weights: bool = False):
  """Softmax(q k^T / sqrt(K)) v over the allowed keys.

  Args:
    q_BxTxNxK: queries (already rotated), N a multiple of H.
    k_BxSxHxK: keys (already rotated).
    v_BxSxHxK: values.
    mask: bool broadcastable to [B, T, S]: True where query t may read key s.
      None attends everywhere. Every query must see at least one key.
    return_weights: also return the attention weights, float32[B, N, T, S].

  Returns:
    BxTxNxK outputs in q's dtype (and the weights if asked). Scores and the
    softmax are computed in float32 whatever the input dtype.
  """
  b, t, n, k_dim = q_BxTxNxK.shape
  h = k_BxSxHxK.shape[2]
  if n % h:
    raise ValueError(f"{n} query heads cannot share {h} key/value heads")
  q_BxTxHxGxK = q_BxTxNxK.reshape(b, t, h, n // h, k_dim)
  scores_BxHxGxTxS = jnp.einsum(
      "bthgk,bshk->bhgts", q_BxTxHxGxK, k_BxSxHxK,
      preferred_element_type=jnp.float32) * (k_dim ** -0.5)
  if mask is not None:
    mask_Bx1x1xTxS = jnp.broadcast_to(mask, (b,) + mask.shape[-2:])[:, None, None]
    scores_BxHxGxTxS = jnp.where(mask_Bx1x1xTxS, scores_BxHxGxTxS,
                                 jnp.finfo(jnp.float32).min)
  weights_BxHxGxTxS = jax.nn.softmax(scores_BxHxGxTxS, axis=-1)
  out_BxTxHxGxK = jnp.einsum("bhgts,bshk->bthgk",
                             weights_BxHxGxTxS.astype(v_BxSxHxK.dtype),
                             v_BxSxHxK)
  out_BxTxNxK = out_BxTxHxGxK.reshape(b, t, n, k_dim)
  if return_weights:
    return out_BxTxNxK, weights_BxHxGxTxS.reshape(b, n, t, -1)
  return out_BxTxNxK


class MultiStreamAttention(nn.Module):
  """Projections around `dot_product_attention` for one or more streams.

  Stream 0 is the content stream: it alone supplies keys and values. Every
  stream supplies queries (two_stream's query stream is stream 1), rotated by
  its own positions. With `shared=False` stream s > 0 has its own query and
  output projections.
  """

  cfg: ModelConfig
  num_streams: int = 1
  shared: bool = True

  @nn.compact
  def __call__(self, xs: Sequence[jax.Array], q_pos: Sequence[jax.Array | None],
               k_pos_BxS: jax.Array | None, mask: jax.Array | None
               ) -> list[jax.Array]:
    cfg = self.cfg
    h, k = cfg.num_heads, cfg.head_dim
    dense = functools.partial(
        nn.DenseGeneral, use_bias=False, dtype=cfg.compute_dtype,
        param_dtype=cfg.params_dtype)
    init = nn.initializers.normal(cfg.init_std)
    n_proj = 1 if self.shared else self.num_streams
    queries = [dense((h, k), kernel_init=nn.with_logical_partitioning(
        init, (EMBED, HEADS, KV)), name=_stream_name("query", i))
               for i in range(n_proj)]
    outs = [dense(cfg.d_model, axis=(-2, -1), kernel_init=nn.with_logical_partitioning(
        init, (HEADS, KV, EMBED)), name=_stream_name("out", i))
            for i in range(n_proj)]
    kv_2xBxSxHxK = dense((2, h, k), kernel_init=nn.with_logical_partitioning(
        init, (EMBED, None, HEADS, KV)), name="key_value")(xs[0])
    kv_2xBxSxHxK = jnp.moveaxis(kv_2xBxSxHxK, -3, 0)
    key_BxSxHxK, value_BxSxHxK = kv_2xBxSxHxK[0], kv_2xBxSxHxK[1]
    if k_pos_BxS is not None:
      key_BxSxHxK = rope.rotate_one(key_BxSxHxK, k_pos_BxS, cfg.rope_max_wavelength)

    qs = []
    for i, (x, pos) in enumerate(zip(xs, q_pos)):
      q_BxTxHxK = queries[min(i, n_proj - 1)](x)
      if pos is not None:
        q_BxTxHxK = rope.rotate_one(q_BxTxHxK, pos, cfg.rope_max_wavelength)
      qs.append(q_BxTxHxK)
    # Streams become G query heads per key head: one attention call for all.
    q_BxTxHxGxK = jnp.stack(qs, axis=3)
    b, t = q_BxTxHxGxK.shape[:2]
    att_BxTxNxK = dot_product_attention(
        q_BxTxHxGxK.reshape(b, t, h * len(xs), k), key_BxSxHxK, value_BxSxHxK,
        mask)
    att_BxTxHxGxK = att_BxTxNxK.reshape(b, t, h, len(xs), k)
    return [outs[min(i, n_proj - 1)](att_BxTxHxGxK[:, :, :, i])
            for i in range(len(xs))]


def _stream_name(base: str, stream: int) -> str:
  return base if stream == 0 else f"{base}_stream{stream}"
