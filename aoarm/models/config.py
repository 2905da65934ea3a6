"""ModelConfig: every choice an architecture makes, validated once.

The architectures (see DESIGN.md §2):

  ar              causal transformer, RoPE at the step index; identity order only.
  sigma           sigma-GPT: single stream, learned source + target position
                  embeddings added to the input, no RoPE.
  ao_gpt          AO-GPT: single stream, source position embedding on the input,
                  the target position drives adaLN in every block, no RoPE.
  decoupled_rope  single stream, queries rotated by the target position, keys by
                  their own (source) position.
  two_stream      XLNet two-stream attention: content stream + query stream.
  mdm             masked diffusion: bidirectional encoder with a MASK token.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import jax.numpy as jnp

ARCHS = ("ar", "sigma", "ao_gpt", "decoupled_rope", "two_stream", "mdm")
DTYPES = ("float32", "bfloat16")
MLP_ACTIVATIONS = ("gelu", "swiglu")
POSITION_EMBEDDINGS = ("learned", "sinusoidal")

# Named sizes. `small` is the paper's length-128 setting, `gpt2` its length-1024
# one (GPT-2 small); `tiny` is for laptops and tests.
SIZES: dict[str, dict[str, int]] = {
    "tiny": dict(num_layers=2, d_model=64, num_heads=4, mlp_dim=256),
    "mini": dict(num_layers=4, d_model=256, num_heads=8, mlp_dim=1024),
    "small": dict(num_layers=8, d_model=256, num_heads=8, mlp_dim=1024),
    "gpt2": dict(num_layers=12, d_model=768, num_heads=12, mlp_dim=3072),
}


@dataclasses.dataclass(frozen=True)
class ModelConfig:
  """Hyper-parameters of one network; `build(config)` turns it into a module."""

  arch: str  # one of ARCHS
  vocab_size: int  # real symbols; mdm adds one MASK id (= vocab_size) internally
  max_len: int  # longest sequence; sizes the learned position tables
  num_layers: int = 2
  d_model: int = 64
  num_heads: int = 4
  mlp_dim: int = 256
  mlp_activation: str = "gelu"  # gelu | swiglu
  dtype: str = "float32"  # compute dtype: float32 | bfloat16
  param_dtype: str = "float32"  # storage dtype of parameters: float32 | bfloat16
  tie_embeddings: bool = True  # output head = transposed input embedding
  rope_max_wavelength: float = 10_000.0
  # RoPE position of the BOS key in decoupled_rope / two_stream. 0 leaves it
  # unrotated; -1 puts it "just before the sequence", which makes
  # decoupled_rope with the identity order exactly `ar` up to a fixed rotation
  # of the query kernel (tests/test_models.py proves it).
  bos_key_position: int = 0
  position_embedding: str = "learned"  # sigma / ao_gpt tables: learned | sinusoidal
  cond_dim: int = 64  # ao_gpt: width of the target-position embedding for adaLN
  two_stream_shared: bool = True  # two_stream: the query stream shares the content weights
  norm_eps: float = 1e-6
  init_std: float = 0.02

  def __post_init__(self):
    def bad(field: str, why: str, fix: str):
      raise ValueError(
          f"ModelConfig.{field}={getattr(self, field)!r}: {why}; {fix}.")

    if self.arch not in ARCHS:
      bad("arch", "unknown architecture", f"use one of {ARCHS}")
    for field in ("vocab_size", "max_len", "num_layers", "d_model",
                  "num_heads", "mlp_dim", "cond_dim"):
      if not isinstance(getattr(self, field), int) or getattr(self, field) < 1:
        bad(field, "must be a positive integer", "set it to an integer >= 1")
    if self.d_model % self.num_heads:
      bad("d_model", f"not divisible by num_heads={self.num_heads}",
          "pick d_model a multiple of num_heads")
    if self.head_dim % 2 and self.uses_rope:
      bad("d_model", f"gives an odd head dimension {self.head_dim}, which RoPE "
          "cannot rotate in pairs", "make d_model / num_heads even")
    if self.mlp_activation not in MLP_ACTIVATIONS:
      bad("mlp_activation", "unknown activation", f"use one of {MLP_ACTIVATIONS}")
    for field in ("dtype", "param_dtype"):
      if getattr(self, field) not in DTYPES:
        bad(field, "unsupported dtype", f"use one of {DTYPES}")
    if self.position_embedding not in POSITION_EMBEDDINGS:
      bad("position_embedding", "unknown kind",
          f"use one of {POSITION_EMBEDDINGS}")
    if self.position_embedding == "sinusoidal" and self.d_model % 2:
      bad("d_model", "sinusoidal tables need an even width", "make it even")
    if self.rope_max_wavelength <= 1:
      bad("rope_max_wavelength", "must exceed 1", "use e.g. 10000")

  @classmethod
  def from_size(cls, size: str, **kwargs: Any) -> "ModelConfig":
    """A config with the named size from SIZES; kwargs override any field."""
    if size not in SIZES:
      raise ValueError(f"unknown model size {size!r}; use one of {tuple(SIZES)}")
    return cls(**{**SIZES[size], **kwargs})

  @property
  def head_dim(self) -> int:
    return self.d_model // self.num_heads

  @property
  def uses_rope(self) -> bool:
    return self.arch in ("ar", "decoupled_rope", "two_stream", "mdm")

  @property
  def compute_dtype(self) -> jnp.dtype:
    return jnp.dtype(self.dtype)

  @property
  def params_dtype(self) -> jnp.dtype:
    return jnp.dtype(self.param_dtype)
