"""Per-process, deterministic, resumable batches: TFDS array_record + grain.

Each process reads only its own slice of every split (examples i with
i % process_count == process_index), shuffles it with the run's seed (a new
permutation each epoch) and batches global_batch / process_count rows. The
grain iterator's state is a few integers saved in every checkpoint.
"""

from __future__ import annotations

import hashlib
import os
from typing import Iterator

import grain
import jax
from jax.experimental import multihost_utils
import ml_collections
import numpy as np

from aoarm.data import builder, sources
from aoarm.data.markov import MarkovSource
from aoarm.data.text import CharTokenizer, SentencePieceTokenizer, normalize_text8


def _fingerprint(*parts) -> str:
  return hashlib.sha1(repr(parts).encode()).hexdigest()[:8]


def _data_dir(d: ml_collections.ConfigDict) -> str:
  return os.path.abspath(os.path.expanduser(d.data_dir))


def markov_source(d: ml_collections.ConfigDict) -> MarkovSource:
  mk = d.markov
  return MarkovSource(vocab_size=d.vocab_size, concentration=mk.concentration,
                      num_hidden=mk.num_hidden, seed=mk.seed)


def source_text(d: ml_collections.ConfigDict) -> dict[str, str]:
  """{split: text} of a text source (normalised for the char tokenizer)."""
  if d.source == "shakespeare":
    return sources.shakespeare()
  if d.source == "text8":
    return sources.text8(d.path)
  texts = sources.text_dir(d.path)
  if d.tokenizer == "char":
    return {split: normalize_text8(text) for split, text in texts.items()}
  return texts


def _spm_path(d: ml_collections.ConfigDict) -> str:
  if d.spm_model:
    return os.path.expanduser(d.spm_model)
  key = _fingerprint(d.source, os.path.abspath(d.path), d.vocab_size)
  return os.path.join(_data_dir(d), "spm", f"{d.source}_{key}_v{d.vocab_size}.model")


def tokenizer(d: ml_collections.ConfigDict):
  """The data's tokenizer; a SentencePiece model is trained once if missing."""
  if d.tokenizer == "char":
    return CharTokenizer()
  path = _spm_path(d)
  if not os.path.exists(path):
    # Enough text for a good vocabulary, bounded in time.
    SentencePieceTokenizer.train(source_text(d)["train"][:20_000_000], path,
                                 d.vocab_size)
  spm = SentencePieceTokenizer(path)
  if spm.vocab_size != d.vocab_size:
    raise ValueError(f"SentencePiece model {path} has {spm.vocab_size} pieces but "
                     f"config.data.vocab_size={d.vocab_size}; make them agree")
  return spm


def dataset_config(d: ml_collections.ConfigDict) -> builder.TokenChunksConfig:
  """The TFDS config naming (and, when needed, building) this data."""
  if d.source == "markov":
    mk = d.markov
    name = (f"markov_v{d.vocab_size}_k{mk.num_hidden}_c{mk.concentration}_s{mk.seed}"
            f"_n{mk.num_tokens}")

    def load():
      src, n = markov_source(d), mk.num_tokens
      return {"train": src.sample(n, seed=1), "validation": src.sample(n // 20, seed=2),
              "test": src.sample(n // 20, seed=3)}
  else:
    where = "" if d.source == "shakespeare" else "_" + _fingerprint(os.path.abspath(d.path))
    vocab = "char" if d.tokenizer == "char" else "spm" + _fingerprint(
        open(_spm_path(d), "rb").read())
    name = f"{d.source}{where}_{vocab}"

    def load():
      tok = tokenizer(d)
      return {split: tok.encode(text) for split, text in source_text(d).items()}
  return builder.TokenChunksConfig(name=f"{name}_L{d.seq_len}".replace(".", "p"),
                                   seq_len=d.seq_len, load=load)


def data_source(d: ml_collections.ConfigDict, split: str):
  """Random-access source of {'tokens': int32[seq_len]} for a split.

  The first call prepares the data (and trains the SentencePiece model);
  with several processes, process 0 does so while the others wait.
  """
  def prepare():
    if d.tokenizer == "sentencepiece":
      tokenizer(d)  # trains the model first if it is missing
    return builder.prepare(dataset_config(d), _data_dir(d))

  if jax.process_count() > 1:
    if jax.process_index() == 0:
      prepare()
    multihost_utils.sync_global_devices("aoarm: data prepared")
  return prepare().as_data_source(split=split)


def _tokens(example) -> np.ndarray:
  return example["tokens"]


def train_batches(source, batch_size: int, seed: int, process_index: int,
                  process_count: int, num_threads: int = 2,
                  prefetch: int = 4) -> grain.DatasetIterator:
  """Endless shuffled int32[batch_size / process_count, L] batches of this
  process's slice. `get_state()` / `set_state()` save and restore its place."""
  local = batch_size // process_count
  ds = grain.MapDataset.source(source)[process_index::process_count]
  if len(ds) < local:
    raise ValueError(f"process {process_index} holds {len(ds)} sequences, fewer than "
                     f"its batch of {local}: use more data or a smaller batch")
  ds = ds.map(_tokens).shuffle(seed=seed).repeat(None).batch(local, drop_remainder=True)
  options = grain.ReadOptions(num_threads=num_threads, prefetch_buffer_size=prefetch)
  return iter(ds.to_iter_dataset(options))


def eval_batches(source, batch_size: int, process_index: int, process_count: int,
                 max_batches: int = 0) -> Iterator[tuple[np.ndarray, np.ndarray]]:
  """(tokens int32[b, L], weights float32[b, L]) over this process's slice, in
  order; the last batch is padded with weight-0 rows so every process yields
  the same number of full batches."""
  local = batch_size // process_count
  ds = grain.MapDataset.source(source)[process_index::process_count].map(_tokens)
  # Every process runs the same number of batches (the shortest slice decides).
  per_process = len(source) // process_count
  num = -(-per_process // local)
  if max_batches:
    num = min(num, max_batches)
  for i in range(num):
    rows = [ds[j] for j in range(i * local, min((i + 1) * local, per_process))]
    tokens = np.zeros((local, len(rows[0])), np.int32)
    weights = np.zeros((local, len(rows[0])), np.float32)
    tokens[:len(rows)] = np.stack(rows)
    weights[:len(rows)] = 1.0
    yield tokens, weights


def global_array(local: np.ndarray, sharding: jax.sharding.Sharding) -> jax.Array:
  """Assembles the global batch from every process's rows."""
  global_shape = (local.shape[0] * jax.process_count(),) + local.shape[1:]
  return jax.make_array_from_process_local_data(sharding, local, global_shape)
