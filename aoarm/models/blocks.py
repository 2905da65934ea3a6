"""The pre-norm transformer block and its parts: RMSNorm, MLP, adaLN.

Legend: B batch, L length, D model width, F MLP width, C adaLN condition width.
"""

from __future__ import annotations

import functools
from typing import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

from aoarm.models.attention import KVCache, MultiStreamAttention, param, stream_name
from aoarm.models.config import ModelConfig
from aoarm.sharding import BATCH, COND, EMBED, LENGTH, MLP


def constrain(x_BxLxD: jax.Array) -> jax.Array:
  """Annotates an activation of the residual stream for sharding."""
  return nn.with_logical_constraint(x_BxLxD, (BATCH, LENGTH, EMBED))


class RMSNorm(nn.Module):
  """x / rms(x) * scale, computed in float32, returned in the compute dtype."""

  cfg: ModelConfig

  @nn.compact
  def __call__(self, x_BxLxD: jax.Array) -> jax.Array:
    scale_D = self.param(
        "scale", nn.with_logical_partitioning(nn.initializers.ones, (EMBED,)),
        (x_BxLxD.shape[-1],), self.cfg.params_dtype)
    x = x_BxLxD.astype(jnp.float32)
    x = x * jax.lax.rsqrt(jnp.mean(x * x, axis=-1, keepdims=True) + self.cfg.norm_eps)
    return (x * scale_D.astype(jnp.float32)).astype(self.cfg.compute_dtype)


class Mlp(nn.Module):
  """Two-layer MLP (GELU) or gated (SwiGLU)."""

  cfg: ModelConfig

  @nn.compact
  def __call__(self, x_BxLxD: jax.Array) -> jax.Array:
    cfg = self.cfg
    weight = functools.partial(param, self, cfg)
    # Tokens flattened to rows: XLA:CPU runs [N, D] matmuls and their
    # elementwise neighbours far faster than the same work on [B, L, D].
    x_NxD = x_BxLxD.reshape(-1, x_BxLxD.shape[-1])
    up_NxF = x_NxD @ weight("up", (cfg.d_model, cfg.mlp_dim), (EMBED, MLP))
    if cfg.mlp_activation == "swiglu":
      gate_NxF = x_NxD @ weight("gate", (cfg.d_model, cfg.mlp_dim), (EMBED, MLP))
      h_NxF = nn.silu(gate_NxF) * up_NxF
    else:
      h_NxF = nn.gelu(up_NxF)
    h_NxF = nn.with_logical_constraint(h_NxF, (BATCH, MLP))
    out_NxD = h_NxF @ weight("down", (cfg.mlp_dim, cfg.d_model), (MLP, EMBED))
    return out_NxD.reshape(x_BxLxD.shape)


class Block(nn.Module):
  """Pre-norm block: x += attn(norm(x)); x += mlp(norm(x)), for every stream.

  Stream 0 (content) supplies keys and values; all streams are updated. With
  `adaptive` the norms are modulated by a per-step condition (DiT-style adaLN,
  ao_gpt): norm(x) * (1 + scale) + shift, and each residual branch is scaled
  by (1 + gate); the modulation starts near the identity.
  """

  cfg: ModelConfig
  num_streams: int = 1
  shared: bool = True
  adaptive: bool = False

  @nn.compact
  def __call__(self, xs: Sequence[jax.Array], q_pos: Sequence[jax.Array | None],
               k_pos_BxL: jax.Array | None, mask: jax.Array | None,
               cond_BxLxC: jax.Array | None = None, cache: KVCache | None = None,
               index: jax.Array | None = None) -> tuple[list[jax.Array], KVCache | None]:
    cfg = self.cfg
    n_proj = 1 if self.shared else self.num_streams
    attn_norms = [RMSNorm(cfg, name=stream_name("attn_norm", i)) for i in range(n_proj)]
    mlp_norms = [RMSNorm(cfg, name=stream_name("mlp_norm", i)) for i in range(n_proj)]
    mlps = [Mlp(cfg, name=stream_name("mlp", i)) for i in range(n_proj)]
    pick = lambda parts, i: parts[min(i, n_proj - 1)]

    if self.adaptive:
      mod_BxLx6D = nn.Dense(
          6 * cfg.d_model, dtype=cfg.compute_dtype, param_dtype=cfg.params_dtype,
          kernel_init=nn.with_logical_partitioning(
              nn.initializers.normal(cfg.init_std), (COND, EMBED)),
          bias_init=nn.with_logical_partitioning(nn.initializers.zeros, (EMBED,)),
          name="adaln")(nn.silu(cond_BxLxC))
      shift1, scale1, gate1, shift2, scale2, gate2 = jnp.split(mod_BxLx6D, 6, axis=-1)
    else:  # XLA folds the identity modulation away.
      shift1 = scale1 = gate1 = shift2 = scale2 = gate2 = 0.0
    modulate = lambda y, shift, scale: y * (1 + scale) + shift

    normed = [modulate(pick(attn_norms, i)(x), shift1, scale1) for i, x in enumerate(xs)]
    atts, cache = MultiStreamAttention(cfg, self.num_streams, self.shared, name="attn")(
        normed, q_pos, k_pos_BxL, mask, cache, index)
    xs = [x + (1 + gate1) * a for x, a in zip(xs, atts)]
    return [constrain(x + (1 + gate2) * pick(mlps, i)(
        modulate(pick(mlp_norms, i)(x), shift2, scale2))) for i, x in enumerate(xs)], cache
