"""Rotary position embeddings, with query and key positions given apart.

Standard RoPE rotates queries and keys by the same positions; Decoupled RoPE
rotates each query by the position it predicts (its target) and each key by
the position its token sits at (its source). Both are `rotate(q, k, q_pos,
k_pos)`; only the position arrays differ.

Legend: B batch, L length, H heads, K head dim.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp


def rotate_one(x_BxLxHxK: jax.Array, pos_BxL: jax.Array,
               max_wavelength: float = 10_000.0) -> jax.Array:
  """Rotates feature pairs (i, i + K/2) of x by angle pos / wavelength_i."""
  half = x_BxLxHxK.shape[-1] // 2
  freq_K2 = max_wavelength ** (-jnp.arange(half, dtype=jnp.float32) / half)
  angle_BxLx1xK2 = (pos_BxL.astype(jnp.float32)[:, :, None, None] * freq_K2)
  sin, cos = jnp.sin(angle_BxLx1xK2), jnp.cos(angle_BxLx1xK2)
  x1, x2 = jnp.split(x_BxLxHxK.astype(jnp.float32), 2, axis=-1)
  out = jnp.concatenate([x1 * cos - x2 * sin, x2 * cos + x1 * sin], axis=-1)
  return out.astype(x_BxLxHxK.dtype)


def rotate(q_BxLxHxK: jax.Array, k_BxSxHxK: jax.Array, q_pos_BxL: jax.Array,
           k_pos_BxS: jax.Array, max_wavelength: float = 10_000.0
           ) -> tuple[jax.Array, jax.Array]:
  """Rotates queries by q_pos and keys by k_pos.

  The score q_t . k_s then depends on positions only through
  q_pos[t] - k_pos[s].
  """
  return (rotate_one(q_BxLxHxK, q_pos_BxL, max_wavelength),
          rotate_one(k_BxSxHxK, k_pos_BxS, max_wavelength))
