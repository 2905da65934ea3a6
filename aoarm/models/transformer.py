"""The six architectures behind one contract, and `build(config)`.

Every model maps (tokens int32[B, L], order int32[B, L]) to logits
float32[B, L, V] where logits[b, t] scores tokens[b, order[b, t]] given the
tokens at order[b, :t] and the positions order[b, :t + 1].

The AO-ARMs work in *step order*. Slot t of the step sequence holds the token
revealed at step t - 1 (its *source* position order[t - 1]) and predicts the
token at its *target* position order[t]; slot 0 holds BOS. Every mask is then
plainly causal (slot t reads slots <= t), for both of two_stream's streams.

Legend: B batch, L length, D model width, V vocabulary, C adaLN width.
"""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from aoarm.models.attention import causal_mask
from aoarm.models.blocks import Block, RMSNorm, constrain
from aoarm.models.config import ModelConfig
from aoarm.sharding import COND, EMBED, POSITION, VOCAB


def _is_concrete(x) -> bool:
  return not isinstance(x, jax.core.Tracer)


def check_inputs(cfg: ModelConfig, tokens_BxL, order_BxL=None, *,
                 allow_mask: bool = False) -> None:
  """Raises ValueError for inputs that break the contract.

  Shapes are always checked. Values (token range, permutation rows, the
  identity order of `ar`) are checked when the arrays are concrete, i.e. not
  under `jax.jit`; jitted pipelines should check their data once upstream.
  """
  if tokens_BxL.ndim != 2:
    raise ValueError(f"tokens must be int[B, L]; got shape {tokens_BxL.shape}")
  if not jnp.issubdtype(tokens_BxL.dtype, jnp.integer):
    raise ValueError(f"tokens must be integers; got dtype {tokens_BxL.dtype}")
  length = tokens_BxL.shape[1]
  if length > cfg.max_len:
    raise ValueError(f"sequence length {length} exceeds ModelConfig.max_len="
                     f"{cfg.max_len}; raise max_len or shorten the sequences")
  if order_BxL is not None and order_BxL.shape != tokens_BxL.shape:
    raise ValueError(f"order shape {order_BxL.shape} != tokens shape "
                     f"{tokens_BxL.shape}; give one permutation per row")
  if _is_concrete(tokens_BxL):
    top = cfg.vocab_size + (1 if allow_mask else 0)
    toks = np.asarray(tokens_BxL)
    if toks.size and (toks.min() < 0 or toks.max() >= top):
      raise ValueError(f"tokens must lie in [0, {top}); found values in "
                       f"[{toks.min()}, {toks.max()}]: check vocab_size")
  if order_BxL is not None and _is_concrete(order_BxL):
    order = np.asarray(order_BxL)
    bad = np.nonzero((np.sort(order, axis=1) != np.arange(length)).any(axis=1))[0]
    if bad.size:
      raise ValueError(f"order row {bad[0]} is not a permutation of "
                       f"0..{length - 1}: {order[bad[0]].tolist()}")
    if cfg.arch == "ar" and (order != np.arange(length)).any():
      raise ValueError("arch='ar' is left-to-right only: order must be the "
                       "identity in every row (use objective.sample_orders("
                       "kind='l2r'), or an any-order arch)")


def _dense_kwargs(cfg: ModelConfig):
  return dict(dtype=cfg.compute_dtype, param_dtype=cfg.params_dtype)


def _embed(cfg: ModelConfig, num: int, dim: int, axes, name: str) -> nn.Embed:
  return nn.Embed(num, dim, embedding_init=nn.with_logical_partitioning(
      nn.initializers.normal(cfg.init_std), axes), name=name, **_dense_kwargs(cfg))


def sinusoidal(pos_BxL: jax.Array, dim: int) -> jax.Array:
  """Fixed sin/cos position table rows, float32[B, L, dim]."""
  freq = 10_000.0 ** (-jnp.arange(dim // 2, dtype=jnp.float32) / (dim // 2))
  angle_BxLxD2 = pos_BxL.astype(jnp.float32)[..., None] * freq
  return jnp.concatenate([jnp.sin(angle_BxLxD2), jnp.cos(angle_BxLxD2)], axis=-1)


def _head(cfg: ModelConfig, embed: nn.Embed, x_BxLxD: jax.Array,
          vocab: int) -> jax.Array:
  """Output logits over the first `vocab` symbols, float32."""
  if cfg.tie_embeddings:
    logits = embed.attend(x_BxLxD)[..., :vocab]
  else:
    logits = nn.Dense(vocab, use_bias=False, kernel_init=nn.with_logical_partitioning(
        nn.initializers.normal(cfg.init_std), (EMBED, VOCAB)), name="head",
                      **_dense_kwargs(cfg))(x_BxLxD)
  return logits.astype(jnp.float32)


class AnyOrderTransformer(nn.Module):
  """ar, sigma, ao_gpt, decoupled_rope and two_stream, in step order."""

  cfg: ModelConfig

  @nn.compact
  def __call__(self, tokens_BxL: jax.Array, order_BxL: jax.Array) -> jax.Array:
    cfg = self.cfg
    check_inputs(cfg, tokens_BxL, order_BxL)
    b, length = tokens_BxL.shape
    d = cfg.d_model
    order_BxL = order_BxL.astype(jnp.int32)
    steps_BxL = jnp.take_along_axis(tokens_BxL, order_BxL, axis=1)
    tgt_BxL = order_BxL
    src_BxL = jnp.pad(order_BxL[:, :-1], ((0, 0), (1, 0)),
                      constant_values=cfg.bos_key_position)

    embed = _embed(cfg, cfg.vocab_size, d, (VOCAB, EMBED), "embed")
    bos_D = self.param("bos", nn.with_logical_partitioning(
        nn.initializers.normal(cfg.init_std), (EMBED,)), (d,), cfg.params_dtype)
    h_BxLxD = jnp.concatenate([
        jnp.broadcast_to(bos_D.astype(cfg.compute_dtype), (b, 1, d)),
        embed(steps_BxL[:, :-1])], axis=1)

    streams, cond_BxLxC = [h_BxLxD], None
    k_pos_BxL = None
    q_pos = [None]
    if cfg.arch == "ar":
      k_pos_BxL = jnp.broadcast_to(jnp.arange(length), (b, length))
      q_pos = [k_pos_BxL]
    elif cfg.arch == "decoupled_rope":
      k_pos_BxL, q_pos = src_BxL, [tgt_BxL]
    elif cfg.arch == "two_stream":
      query_D = self.param("query_init", nn.with_logical_partitioning(
          nn.initializers.normal(cfg.init_std), (EMBED,)), (d,), cfg.params_dtype)
      streams.append(jnp.broadcast_to(query_D.astype(cfg.compute_dtype), (b, length, d)))
      k_pos_BxL, q_pos = src_BxL, [src_BxL, tgt_BxL]
    else:  # sigma, ao_gpt: absolute position embeddings, no RoPE.
      not_bos_BxLx1 = (jnp.arange(length) > 0)[None, :, None]
      h_BxLxD = h_BxLxD + not_bos_BxLx1 * self._positions(
          jnp.maximum(src_BxL, 0), "source_pos")
      if cfg.arch == "sigma":
        h_BxLxD = h_BxLxD + self._positions(tgt_BxL, "target_pos")
      else:
        cond_BxLxC = _embed(cfg, cfg.max_len, cfg.cond_dim, (POSITION, COND),
                            "target_cond")(tgt_BxL)
      streams = [h_BxLxD]

    streams = [constrain(x) for x in streams]
    mask_LxL = causal_mask(length, length)
    for i in range(cfg.num_layers):
      streams = Block(cfg, num_streams=len(streams), shared=cfg.two_stream_shared,
                      adaptive=cond_BxLxC is not None, name=f"block_{i}")(
                          streams, q_pos, k_pos_BxL, mask_LxL, cond_BxLxC)
      self.sow("intermediates", "content", streams[0])
    out_BxLxD = RMSNorm(cfg, name="final_norm")(streams[-1])
    return _head(cfg, embed, out_BxLxD, cfg.vocab_size)

  def _positions(self, pos_BxL: jax.Array, name: str) -> jax.Array:
    cfg = self.cfg
    if cfg.position_embedding == "sinusoidal":
      return sinusoidal(pos_BxL, cfg.d_model).astype(cfg.compute_dtype)
    return _embed(cfg, cfg.max_len, cfg.d_model, (POSITION, EMBED), name)(pos_BxL)


class MaskedDiffusion(nn.Module):
  """mdm: a bidirectional encoder that fills in MASK tokens (MDLM, SUBS).

  `denoise(noisy)` is its natural call (used for training); `__call__(tokens,
  order)` implements the AO-ARM contract exactly by running one denoising
  pass per step with order[b, t:] masked (B * L passes: for tiny checks and
  exact evaluation).
  """

  cfg: ModelConfig

  @property
  def mask_id(self) -> int:
    return self.cfg.vocab_size

  def setup(self):
    cfg = self.cfg
    self.embed = _embed(cfg, cfg.vocab_size + 1, cfg.d_model, (VOCAB, EMBED), "embed")
    self.blocks = [Block(cfg, name=f"block_{i}") for i in range(cfg.num_layers)]
    self.final_norm = RMSNorm(cfg)

  def denoise(self, noisy_BxL: jax.Array) -> jax.Array:
    """Logits float32[B, L, V] for every position of a partly masked sequence.

    SUBS parametrisation: MASK is never predicted, and a visible position puts
    all its mass on its own token.
    """
    cfg = self.cfg
    check_inputs(cfg, noisy_BxL, allow_mask=True)
    b, length = noisy_BxL.shape
    pos_BxL = jnp.broadcast_to(jnp.arange(length), (b, length))
    x_BxLxD = constrain(self.embed(noisy_BxL))
    for block in self.blocks:
      (x_BxLxD,) = block([x_BxLxD], [pos_BxL], pos_BxL, None)
    logits_BxLxV = _head(cfg, self.embed, self.final_norm(x_BxLxD), cfg.vocab_size)
    visible_BxLx1 = (noisy_BxL != self.mask_id)[..., None]
    copy_BxLxV = jnp.where(
        jax.nn.one_hot(noisy_BxL, cfg.vocab_size, dtype=jnp.bool_), 0.0,
        jnp.finfo(jnp.float32).min)
    return jnp.where(visible_BxLx1, copy_BxLxV, logits_BxLxV)

  def __call__(self, tokens_BxL: jax.Array, order_BxL: jax.Array) -> jax.Array:
    check_inputs(self.cfg, tokens_BxL, order_BxL)
    b, length = tokens_BxL.shape
    # rank[b, p] = the step at which position p is revealed.
    rank_BxL = jnp.argsort(order_BxL, axis=1)
    step_L = jnp.arange(length)
    hidden_BxLxL = rank_BxL[:, None, :] >= step_L[None, :, None]  # [b, t, p]
    noisy_BxLxL = jnp.where(hidden_BxLxL, self.mask_id, tokens_BxL[:, None, :])
    logits = self.denoise(noisy_BxLxL.reshape(b * length, length))
    logits_BxLxLxV = logits.reshape(b, length, length, -1)
    # Step t reads its own pass at its target position order[b, t].
    return jnp.take_along_axis(
        logits_BxLxLxV, order_BxL[:, :, None, None], axis=2)[:, :, 0]


def build(cfg: ModelConfig) -> nn.Module:
  """The Flax module for `cfg.arch`; use it with `init` / `apply`."""
  if cfg.arch == "mdm":
    return MaskedDiffusion(cfg)
  return AnyOrderTransformer(cfg)
