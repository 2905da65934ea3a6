"""The experiment config: every section and field, with allowed values.

Experiment files (`experiments/*.py`) start from `base_config()` and change
what their experiment needs; `validate(config)` checks every value before
anything is compiled, naming the field and the fix. The library reads fields
directly (never `config.get(key, default)`): a field that is read is defined
here.
"""

from __future__ import annotations

import os
from typing import Any

import ml_collections

from aoarm import models
from aoarm.objective import ORDER_KINDS
from aoarm.sharding import RULE_PRESETS

SOURCES = ("shakespeare", "text8", "text_dir", "markov")
TOKENIZERS = ("char", "sentencepiece")
SCHEDULES = ("cosine", "constant")


def base_config() -> ml_collections.ConfigDict:
  """Defaults for every field; experiments override what they need."""
  c = ml_collections.ConfigDict()

  c.model = m = ml_collections.ConfigDict()
  m.arch = "two_stream"  # ar | sigma | ao_gpt | decoupled_rope | two_stream | mdm
  m.size = "tiny"  # tiny | mini | small | gpt2 (see models.SIZES); sets the 4 below
  m.num_layers = 2
  m.d_model = 64
  m.num_heads = 4
  m.mlp_dim = 256
  m.mlp_activation = "gelu"  # gelu | swiglu
  m.dtype = "float32"  # compute dtype: float32 | bfloat16
  m.param_dtype = "float32"  # float32 | bfloat16
  m.tie_embeddings = True  # output head = transposed input embedding
  m.rope_max_wavelength = 10_000.0
  m.bos_key_position = 0  # RoPE position of the BOS key (0: unrotated; -1: before the sequence)
  m.position_embedding = "learned"  # sigma / ao_gpt tables: learned | sinusoidal
  m.cond_dim = 64  # ao_gpt: width of the target-position embedding driving adaLN
  m.two_stream_shared = True  # two_stream: query stream shares the content weights
  m.init_std = 0.02

  c.data = d = ml_collections.ConfigDict()
  d.source = "shakespeare"  # shakespeare | text8 | text_dir | markov
  d.path = ""  # text8: the file or zip; text_dir: the folder
  d.tokenizer = "char"  # char (text8's 27 symbols) | sentencepiece; markov ignores it
  d.vocab_size = 27  # char: 27; sentencepiece: pieces to train; markov: symbols
  d.spm_model = ""  # sentencepiece: model file; '' trains one into data_dir
  d.seq_len = 128  # tokens per sequence (= model max_len)
  d.data_dir = "~/.cache/aoarm/tfds"  # where prepared TFDS datasets are kept
  d.num_threads = 2  # grain read threads per process
  d.prefetch = 4  # batches read ahead per process
  d.markov = mk = ml_collections.ConfigDict()
  mk.concentration = 0.5  # Dirichlet parameter of the transition rows
  mk.num_hidden = 0  # 0: first-order chain over the symbols; K > 0: K-state HMM
  mk.seed = 0  # draws the chain's parameters
  mk.num_tokens = 2_000_000  # tokens generated for the train split (val/test: 1/20 each)

  c.optim = o = ml_collections.ConfigDict()
  o.lr = 1e-3  # peak learning rate
  o.schedule = "cosine"  # cosine (to min_lr_ratio * lr) | constant (after warmup)
  o.warmup_steps = 100
  o.min_lr_ratio = 0.1
  o.weight_decay = 0.1  # AdamW, on matrices only
  o.b1 = 0.9
  o.b2 = 0.99
  o.eps = 1e-8
  o.grad_clip = 1.0  # global-norm clipping; 0 disables
  o.ema_decay = 0.0  # parameter EMA (e.g. 0.999); 0 disables

  c.train = t = ml_collections.ConfigDict()
  t.num_steps = 1000
  t.batch_size = 32  # global batch, split across processes and the data axes
  t.seed = 0
  t.order = "random"  # random | l2r: the orders the AO-ARMs train on
  t.l2r_fraction = 0.0  # with order=random, this fraction of rows left-to-right
  t.mdm_min_rate = 1e-3  # mdm: smallest masking rate (bounds the 1/u weight)
  t.log_every = 50  # steps between metric lines
  t.eval_every = 500  # steps between held-out evaluations; 0: only at the end

  c.mesh = ms = ml_collections.ConfigDict()
  ms.data = -1  # devices on each axis; -1 takes what the others leave
  ms.fsdp = 1
  ms.tensor = 1
  ms.rules = "data_parallel"  # data_parallel | fsdp | fsdp_tensor

  c.ckpt = ck = ml_collections.ConfigDict()
  ck.every_steps = 500  # 0: only at the end (and on Ctrl-C)
  ck.max_to_keep = 3
  ck.async_save = True

  c.eval = e = ml_collections.ConfigDict()
  e.split = "validation"  # validation | test
  e.batch_size = 32
  e.num_orders = 4  # K random orders per sequence for the random-order bound
  e.max_batches = 16  # batches per evaluation; 0: the whole split

  c.sample = s = ml_collections.ConfigDict()
  s.batch_size = 8  # sequences drawn per temperature
  s.temperatures = (0.7, 0.8, 0.9, 1.0)
  s.top_p = 1.0
  s.order = "random"  # random | l2r
  s.mdm_steps = 0  # mdm unmasking steps; 0: seq_len
  return c


def parse_arg(arg: str | None, **defaults: Any) -> dict[str, Any]:
  """Parses 'key=value,key=value' against typed defaults (unknown keys fail)."""
  out = dict(defaults)
  for item in filter(None, (arg or "").split(",")):
    key, sep, value = item.partition("=")
    if not sep or key not in defaults:
      raise ValueError(f"config argument {item!r}: expected key=value with key in "
                       f"{sorted(defaults)}")
    out[key] = type(defaults[key])(value) if defaults[key] is not None else value
  return out


def set_size(config: ml_collections.ConfigDict, size: str) -> None:
  """Copies a named size from models.SIZES into config.model."""
  if size not in models.SIZES:
    raise ValueError(f"size={size!r}: use one of {tuple(models.SIZES)}")
  config.model.size = size
  config.model.update(models.SIZES[size])


def model_config(config: ml_collections.ConfigDict) -> models.ModelConfig:
  """The ModelConfig of an experiment: model section + data vocabulary/length."""
  m = config.model
  return models.ModelConfig(
      arch=m.arch, vocab_size=config.data.vocab_size, max_len=config.data.seq_len,
      num_layers=m.num_layers, d_model=m.d_model, num_heads=m.num_heads,
      mlp_dim=m.mlp_dim, mlp_activation=m.mlp_activation, dtype=m.dtype,
      param_dtype=m.param_dtype, tie_embeddings=m.tie_embeddings,
      rope_max_wavelength=m.rope_max_wavelength, bos_key_position=m.bos_key_position,
      position_embedding=m.position_embedding, cond_dim=m.cond_dim,
      two_stream_shared=m.two_stream_shared, init_std=m.init_std)


def validate(config: ml_collections.ConfigDict, num_processes: int = 1) -> None:
  """Raises ValueError naming the first bad field, its value and the fix."""

  def check(ok: bool, field: str, fix: str):
    if not ok:
      section, name = field.split(".", 1)
      value = config[section]
      for part in name.split("."):
        value = value[part]
      raise ValueError(f"config.{field}={value!r}: {fix}")

  model_config(config)  # ModelConfig validates the model section itself
  d, t, o, e = config.data, config.train, config.optim, config.eval
  check(d.source in SOURCES, "data.source", f"use one of {SOURCES}")
  check(d.tokenizer in TOKENIZERS, "data.tokenizer", f"use one of {TOKENIZERS}")
  check(d.source == "markov" or d.tokenizer != "char" or d.vocab_size == 27,
        "data.vocab_size", "the char tokenizer has 27 symbols: set it to 27")
  check(d.source not in ("text8", "text_dir") or bool(d.path), "data.path",
        f"data.source={d.source!r} reads a local copy: set its path")
  check(d.seq_len >= 2, "data.seq_len", "use at least 2 tokens")
  check(t.num_steps >= 1, "train.num_steps", "train for at least one step")
  check(t.batch_size >= 1 and t.batch_size % num_processes == 0, "train.batch_size",
        f"use a positive multiple of the {num_processes} processes")
  check(e.batch_size >= 1 and e.batch_size % num_processes == 0, "eval.batch_size",
        f"use a positive multiple of the {num_processes} processes")
  check(t.order in ORDER_KINDS, "train.order", f"use one of {ORDER_KINDS}")
  check(0.0 <= t.l2r_fraction <= 1.0, "train.l2r_fraction", "use a value in [0, 1]")
  check(config.model.arch != "ar" or t.order == "l2r", "train.order",
        "arch='ar' trains left-to-right only: set train.order='l2r'")
  check(0.0 < t.mdm_min_rate < 1.0, "train.mdm_min_rate", "use a value in (0, 1)")
  check(o.lr > 0, "optim.lr", "use a positive learning rate")
  check(o.schedule in SCHEDULES, "optim.schedule", f"use one of {SCHEDULES}")
  check(0 <= o.warmup_steps, "optim.warmup_steps", "use a non-negative count")
  check(0.0 <= o.ema_decay < 1.0, "optim.ema_decay", "use 0 (off) or a value in (0, 1)")
  check(o.grad_clip >= 0, "optim.grad_clip", "use 0 (off) or a positive norm")
  check(config.mesh.rules in RULE_PRESETS, "mesh.rules", f"use one of {tuple(RULE_PRESETS)}")
  check(t.log_every >= 1, "train.log_every", "log at least every N >= 1 steps")
  check(e.num_orders >= 1, "eval.num_orders", "use at least one order")
  check(e.split in ("validation", "test"), "eval.split", "use validation or test")
  s = config.sample
  check(all(temp > 0 for temp in s.temperatures), "sample.temperatures",
        "use temperatures > 0")
  check(0 < s.top_p <= 1, "sample.top_p", "use a value in (0, 1]")
  check(s.order in ORDER_KINDS, "sample.order", f"use one of {ORDER_KINDS}")
  check(config.model.arch != "ar" or s.order == "l2r", "sample.order",
        "arch='ar' generates left to right: set sample.order='l2r'")
  check(0 <= s.mdm_steps <= d.seq_len, "sample.mdm_steps",
        f"use 0 (= seq_len) or a count in [1, {d.seq_len}]")
  check(s.batch_size >= 1, "sample.batch_size", "draw at least one sequence")


def load_experiment(spec: str) -> ml_collections.ConfigDict:
  """Loads 'path/to/experiment.py[:arg]' as `--config` does."""
  import importlib.util
  path, _, arg = spec.partition(":")
  if not os.path.exists(path):
    raise FileNotFoundError(f"no experiment file {path!r}")
  module_spec = importlib.util.spec_from_file_location(
      os.path.splitext(os.path.basename(path))[0], path)
  module = importlib.util.module_from_spec(module_spec)
  module_spec.loader.exec_module(module)
  return module.get_config(arg or None)
