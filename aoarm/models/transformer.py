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

from aoarm.models.attention import KVCache, causal_mask
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


def _untied_head(cfg: ModelConfig, vocab: int) -> nn.Dense | None:
  if cfg.tie_embeddings:
    return None
  return nn.Dense(vocab, use_bias=False, kernel_init=nn.with_logical_partitioning(
      nn.initializers.normal(cfg.init_std), (EMBED, VOCAB)), name="head",
                  **_dense_kwargs(cfg))


def _logits(embed: nn.Embed, head: nn.Dense | None, x_BxLxD: jax.Array,
            vocab: int) -> jax.Array:
  """Output logits over the first `vocab` symbols, float32."""
  logits = embed.attend(x_BxLxD)[..., :vocab] if head is None else head(x_BxLxD)
  return logits.astype(jnp.float32)


class AnyOrderTransformer(nn.Module):
  """ar, sigma, ao_gpt, decoupled_rope and two_stream, in step order.

  `__call__(tokens, order)` is the full forward; `decode(...)` runs one new
  slot against a KV cache (for two_stream, the cache holds the content
  stream; the query stream is computed for the new target only).
  """

  cfg: ModelConfig

  def setup(self):
    cfg = self.cfg
    d = cfg.d_model
    vector = lambda name: self.param(name, nn.with_logical_partitioning(
        nn.initializers.normal(cfg.init_std), (EMBED,)), (d,), cfg.params_dtype)
    self.embed = _embed(cfg, cfg.vocab_size, d, (VOCAB, EMBED), "embed")
    self.bos = vector("bos")
    if cfg.arch == "two_stream":
      self.query_init = vector("query_init")
    if cfg.arch in ("sigma", "ao_gpt") and cfg.position_embedding == "learned":
      self.source_pos = _embed(cfg, cfg.max_len, d, (POSITION, EMBED), "source_pos")
      if cfg.arch == "sigma":
        self.target_pos = _embed(cfg, cfg.max_len, d, (POSITION, EMBED), "target_pos")
    if cfg.arch == "ao_gpt":
      self.target_cond = _embed(cfg, cfg.max_len, cfg.cond_dim, (POSITION, COND),
                                "target_cond")
    num_streams = 2 if cfg.arch == "two_stream" else 1
    self.blocks = [Block(cfg, num_streams=num_streams, shared=cfg.two_stream_shared,
                         adaptive=cfg.arch == "ao_gpt", name=f"block_{i}")
                   for i in range(cfg.num_layers)]
    self.final_norm = RMSNorm(cfg, name="final_norm")
    self.head = _untied_head(cfg, cfg.vocab_size)

  def __call__(self, tokens_BxL: jax.Array, order_BxL: jax.Array) -> jax.Array:
    cfg = self.cfg
    check_inputs(cfg, tokens_BxL, order_BxL)
    b, length = tokens_BxL.shape
    order_BxL = order_BxL.astype(jnp.int32)
    steps_BxL = jnp.take_along_axis(tokens_BxL, order_BxL, axis=1)
    # Slot t reads the token revealed at step t - 1 and predicts order[t].
    src_tok_BxL = jnp.pad(steps_BxL[:, :-1], ((0, 0), (1, 0)))
    src_pos_BxL = jnp.pad(order_BxL[:, :-1], ((0, 0), (1, 0)))
    slot_BxL = jnp.broadcast_to(jnp.arange(length, dtype=jnp.int32), (b, length))
    streams, q_pos, k_pos, cond = self._slots(src_tok_BxL, src_pos_BxL, order_BxL, slot_BxL)
    mask_LxL = causal_mask(length, length)
    for block in self.blocks:
      streams, _ = block(streams, q_pos, k_pos, mask_LxL, cond)
      self.sow("intermediates", "content", streams[0])
    return _logits(self.embed, self.head, self.final_norm(streams[-1]), cfg.vocab_size)

  def decode(self, src_tok_B: jax.Array, src_pos_B: jax.Array, tgt_pos_B: jax.Array,
             index: jax.Array, cache: list[KVCache]
             ) -> tuple[jax.Array, list[KVCache]]:
    """Logits float32[B, V] for the target of slot `index`, and the cache.

    Slot `index` holds the token revealed at the previous step (`src_tok`, at
    `src_pos`; ignored at slot 0, which is BOS) and predicts position
    `tgt_pos`. Slots are decoded in order 0, 1, ... (see `init_cache`).
    """
    b = src_tok_B.shape[0]
    slot_Bx1 = jnp.full((b, 1), index, jnp.int32)
    streams, q_pos, k_pos, cond = self._slots(
        src_tok_B[:, None], src_pos_B[:, None].astype(jnp.int32),
        tgt_pos_B[:, None].astype(jnp.int32), slot_Bx1)
    new_cache = []
    for block, layer_cache in zip(self.blocks, cache):
      streams, layer_cache = block(streams, q_pos, k_pos, None, cond, layer_cache, index)
      new_cache.append(layer_cache)
    logits_Bx1xV = _logits(self.embed, self.head, self.final_norm(streams[-1]),
                           self.cfg.vocab_size)
    return logits_Bx1xV[:, 0], new_cache

  def _slots(self, src_tok_BxT, src_pos_BxT, tgt_pos_BxT, slot_BxT):
    """The inputs of T slots: (streams, query positions, key positions, cond)."""
    cfg = self.cfg
    b, t = src_tok_BxT.shape
    d = cfg.d_model
    is_bos_BxTx1 = (slot_BxT == 0)[..., None]
    h_BxTxD = jnp.where(is_bos_BxTx1, self.bos.astype(cfg.compute_dtype),
                        self.embed(src_tok_BxT))
    src_pos_BxT = jnp.where(slot_BxT == 0, cfg.bos_key_position, src_pos_BxT)
    streams, cond_BxTxC, k_pos, q_pos = [h_BxTxD], None, None, [None]
    if cfg.arch == "ar":
      k_pos, q_pos = slot_BxT, [slot_BxT]
    elif cfg.arch == "decoupled_rope":
      k_pos, q_pos = src_pos_BxT, [tgt_pos_BxT]
    elif cfg.arch == "two_stream":
      streams.append(jnp.broadcast_to(self.query_init.astype(cfg.compute_dtype), (b, t, d)))
      k_pos, q_pos = src_pos_BxT, [src_pos_BxT, tgt_pos_BxT]
    else:  # sigma, ao_gpt: absolute position embeddings, no RoPE.
      source = self._positions(jnp.maximum(src_pos_BxT, 0), "source_pos")
      h_BxTxD = h_BxTxD + jnp.where(is_bos_BxTx1, 0.0, source).astype(h_BxTxD.dtype)
      if cfg.arch == "sigma":
        h_BxTxD = h_BxTxD + self._positions(tgt_pos_BxT, "target_pos")
      else:
        cond_BxTxC = self.target_cond(tgt_pos_BxT)
      streams = [h_BxTxD]
    return [constrain(x) for x in streams], q_pos, k_pos, cond_BxTxC

  def _positions(self, pos_BxT: jax.Array, name: str) -> jax.Array:
    cfg = self.cfg
    if cfg.position_embedding == "sinusoidal":
      return sinusoidal(pos_BxT, cfg.d_model).astype(cfg.compute_dtype)
    return getattr(self, name)(pos_BxT)

  def init_cache(self, batch_size: int, length: int) -> list[KVCache]:
    """An empty cache for `length` slots (call through model.init_cache)."""
    cfg = self.cfg
    shape = (batch_size, length, cfg.num_heads, cfg.head_dim)
    zeros = lambda: jnp.zeros(shape, cfg.compute_dtype)
    return [KVCache(zeros(), zeros()) for _ in range(cfg.num_layers)]


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
    self.head = _untied_head(cfg, cfg.vocab_size)

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
      (x_BxLxD,), _ = block([x_BxLxD], [pos_BxL], pos_BxL, None)
    logits_BxLxV = _logits(self.embed, self.head, self.final_norm(x_BxLxD), cfg.vocab_size)
    visible_BxLx1 = (noisy_BxL != self.mask_id)[..., None]
    copy_BxLxV = jnp.where(
        jax.nn.one_hot(noisy_BxL, cfg.vocab_size, dtype=jnp.bool_), 0.0,
        jnp.finfo(jnp.float32).min)
    return jnp.where(visible_BxLx1, copy_BxLxV, logits_BxLxV)

  def __call__(self, tokens_BxL: jax.Array, order_BxL: jax.Array) -> jax.Array:
    check_inputs(self.cfg, tokens_BxL, order_BxL)
    if self.is_initializing():
      # The parameters are those of one denoising pass: skip the B * L passes
      # (at L = 1024 they would not fit in memory).
      return self.denoise(jnp.full_like(tokens_BxL, self.mask_id))
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
