"""A TFDS builder of fixed-length token sequences, stored as array_record.

TensorFlow is not needed: the builder writes array_record and the data is
read back with random access (`as_data_source`), which grain consumes.
Parquet is avoided on purpose: in current TFDS it silently drops rows.
"""

from __future__ import annotations

from typing import Callable

from absl import logging
import numpy as np
import tensorflow_datasets as tfds


class TokenChunksConfig(tfds.core.BuilderConfig):
  """One prepared dataset: a source, a tokenizer and a sequence length.

  `name` must identify all three (it names the folder the data is stored in);
  `load` returns {split: int32 token stream} and runs only when building.
  """

  def __init__(self, *, name: str, seq_len: int,
               load: Callable[[], dict[str, np.ndarray]], description: str = ""):
    super().__init__(name=name, version="1.0.0", description=description)
    self.seq_len = seq_len
    self.load = load


class TokenChunks(tfds.core.GeneratorBasedBuilder):
  """Non-overlapping windows of `seq_len` tokens cut from each split's stream."""

  VERSION = tfds.core.Version("1.0.0")
  RELEASE_NOTES = {"1.0.0": "First version."}

  def _info(self) -> tfds.core.DatasetInfo:
    return self.dataset_info_from_configs(
        disable_shuffling=True,  # example i is window i of the stream
        features=tfds.features.FeaturesDict({
            "tokens": tfds.features.Tensor(
                shape=(self.builder_config.seq_len,), dtype=np.int32),
        }))

  def _split_generators(self, dl_manager):
    del dl_manager  # nothing is downloaded
    streams = self.builder_config.load()
    return {split: self._generate_examples(tokens) for split, tokens in streams.items()}

  def _generate_examples(self, tokens: np.ndarray):
    seq_len = self.builder_config.seq_len
    for i in range(len(tokens) // seq_len):
      yield i, {"tokens": np.asarray(tokens[i * seq_len:(i + 1) * seq_len], np.int32)}


def prepare(config: TokenChunksConfig, data_dir: str) -> TokenChunks:
  """Builds the dataset under `data_dir` unless it is there already."""
  tfds.disable_progress_bar()
  verbosity = logging.get_verbosity()
  logging.set_verbosity(logging.ERROR)  # TFDS warns about every config not in BUILDER_CONFIGS
  try:
    builder = TokenChunks(config=config, data_dir=data_dir, file_format="array_record")
  finally:
    logging.set_verbosity(verbosity)
  builder.download_and_prepare(
      download_config=tfds.download.DownloadConfig(try_download_gcs=False))
  return builder
