"""Masked dot-product attention: one pure function and its causal mask.

Legend: B batch, T query length, S key length, H heads, K head dim.
Two-stream attention runs one call per stream against the same content keys
(measured faster on XLA:CPU than stacking the streams as grouped query heads).
"""

from __future__ import annotations

import functools
from typing import NamedTuple, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

from aoarm.models import rope
from aoarm.models.config import ModelConfig
from aoarm.sharding import EMBED, HEADS, KV


def param(module: nn.Module, cfg: ModelConfig, name: str, shape: tuple[int, ...],
          axes: tuple[str | None, ...]) -> jax.Array:
  """A weight with logical axis names, stored in param_dtype, cast for compute."""
  w = module.param(name, nn.with_logical_partitioning(
      nn.initializers.normal(cfg.init_std), axes), shape, cfg.params_dtype)
  return w.astype(cfg.compute_dtype)


def causal_mask(num_queries: int, num_keys: int, offset=0) -> jax.Array:
  """bool[T, S]: query t sees keys s <= t + offset (inclusive); the offset
  may be traced (the decoding position)."""
  q_T1 = jnp.arange(num_queries)[:, None]
  k_1S = jnp.arange(num_keys)[None, :]
  return k_1S <= q_T1 + offset


def dot_product_attention(q_BxTxHxK: jax.Array, k_BxSxHxK: jax.Array,
                          v_BxSxHxK: jax.Array,
                          mask: jax.Array | None = None) -> jax.Array:
  """Softmax(q k^T / sqrt(K)) v over the allowed keys.

  Args:
    q_BxTxHxK: queries (already rotated).
    k_BxSxHxK: keys (already rotated).
    v_BxSxHxK: values.
    mask: bool broadcastable to [B, T, S]: True where query t may read key s.
      None attends everywhere. Every query must see at least one key.

  Returns:
    BxTxHxK outputs in q's dtype; scores and softmax in float32.
  """
  b, t, _, k_dim = q_BxTxHxK.shape
  s = k_BxSxHxK.shape[1]
  # Heads-major layout: each product is one plain batched matmul.
  q_BxHxTxK = (q_BxTxHxK * k_dim ** -0.5).transpose(0, 2, 1, 3)
  scores_BxHxTxS = jnp.matmul(q_BxHxTxK, k_BxSxHxK.transpose(0, 2, 3, 1),
                              preferred_element_type=jnp.float32)
  if mask is not None:
    bias_Bx1xTxS = jnp.broadcast_to(jnp.where(mask, 0.0, -1e30), (b, t, s))[:, None]
    scores_BxHxTxS = scores_BxHxTxS + bias_Bx1xTxS
  weights_BxHxTxS = jax.nn.softmax(scores_BxHxTxS, axis=-1)
  out_BxHxTxK = jnp.matmul(weights_BxHxTxS.astype(v_BxSxHxK.dtype),
                           v_BxSxHxK.transpose(0, 2, 1, 3))
  return out_BxHxTxK.transpose(0, 2, 1, 3)


class KVCache(NamedTuple):
  """One layer's keys and values for every slot, float[B, L, H, K] each."""

  key: jax.Array
  value: jax.Array


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
               k_pos_BxT: jax.Array | None, mask: jax.Array | None,
               cache: KVCache | None = None, index: jax.Array | None = None
               ) -> tuple[list[jax.Array], KVCache | None]:
    """Attends each stream's T new slots.

    Without a cache the keys are the T slots themselves (under `mask`). With
    one, the new keys and values are written at slots index..index+T-1 of
    the cache and every new slot reads the cache up to and including itself
    (`mask` is then ignored). Returns the streams' outputs and the cache.
    """
    cfg = self.cfg
    h, k, d = cfg.num_heads, cfg.head_dim, cfg.d_model
    weight = functools.partial(param, self, cfg)
    n_proj = 1 if self.shared else self.num_streams
    queries = [weight(stream_name("query", i), (d, h, k), (EMBED, HEADS, KV))
               for i in range(n_proj)]
    outs = [weight(stream_name("out", i), (h, k, d), (HEADS, KV, EMBED))
            for i in range(n_proj)]
    kv_Dx2xHxK = weight("key_value", (d, 2, h, k), (EMBED, None, HEADS, KV))
    # Projections as [tokens, features] matmuls (see blocks.Mlp).
    b, t = xs[0].shape[:2]
    kv_BxTx2xHxK = (xs[0].reshape(b * t, d) @ kv_Dx2xHxK.reshape(d, 2 * h * k)
                    ).reshape(b, t, 2, h, k)
    key_BxSxHxK, value_BxSxHxK = kv_BxTx2xHxK[:, :, 0], kv_BxTx2xHxK[:, :, 1]
    if k_pos_BxT is not None:
      key_BxSxHxK = rope.rotate_one(key_BxSxHxK, k_pos_BxT, cfg.rope_max_wavelength)
    if cache is not None:
      key_BxSxHxK = jax.lax.dynamic_update_slice_in_dim(
          cache.key, key_BxSxHxK.astype(cache.key.dtype), index, axis=1)
      value_BxSxHxK = jax.lax.dynamic_update_slice_in_dim(
          cache.value, value_BxSxHxK.astype(cache.value.dtype), index, axis=1)
      cache = KVCache(key_BxSxHxK, value_BxSxHxK)
      mask = causal_mask(t, key_BxSxHxK.shape[1], offset=index)
    qs = []
    for i, (x, pos) in enumerate(zip(xs, q_pos)):
      w_DxHxK = queries[min(i, n_proj - 1)]
      q_BxTxHxK = (x.reshape(b * t, d) @ w_DxHxK.reshape(d, h * k)).reshape(b, t, h, k)
      if pos is not None:
        q_BxTxHxK = rope.rotate_one(q_BxTxHxK, pos, cfg.rope_max_wavelength)
      qs.append(q_BxTxHxK)
    # One attention call per stream against the shared content keys.
    return [(dot_product_attention(q_BxTxHxK, key_BxSxHxK, value_BxSxHxK, mask
                                   ).reshape(b * t, h * k)
             @ outs[min(i, n_proj - 1)].reshape(h * k, d)).reshape(b, t, d)
            for i, q_BxTxHxK in enumerate(qs)], cache


def stream_name(base: str, stream: int) -> str:
  return base if stream == 0 else f"{base}_stream{stream}"
