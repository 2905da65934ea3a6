"""Text normalisation and tokenizers: text8's 27 characters, or SentencePiece.

A tokenizer has `vocab_size`, `encode(str) -> int32[N]` and `decode(ids) -> str`.
"""

from __future__ import annotations

import io
import os
import re

import numpy as np

TEXT8_ALPHABET = " abcdefghijklmnopqrstuvwxyz"  # id = index: space is 0


def normalize_text8(text: str) -> str:
  """Lower-cases, maps every run of non-letters to one space (text8's form)."""
  return re.sub(r"[^a-z]+", " ", text.lower()).strip()


class CharTokenizer:
  """The 27 symbols of text8: space and a-z."""

  vocab_size = len(TEXT8_ALPHABET)

  def __init__(self):
    self._table = np.full(256, -1, np.int32)
    for i, ch in enumerate(TEXT8_ALPHABET):
      self._table[ord(ch)] = i

  def encode(self, text: str) -> np.ndarray:
    ids = self._table[np.frombuffer(text.encode("latin-1", "replace"), np.uint8)]
    if (ids < 0).any():
      bad = text[int(np.argmax(ids < 0))]
      raise ValueError(f"character {bad!r} is not in text8's alphabet; "
                       "normalise the text with normalize_text8 first")
    return ids

  def decode(self, ids) -> str:
    return "".join(TEXT8_ALPHABET[i] for i in np.asarray(ids).ravel())


class SentencePieceTokenizer:
  """A trained SentencePiece model (unigram by default)."""

  def __init__(self, model_path: str):
    import sentencepiece as spm
    if not os.path.exists(model_path):
      raise FileNotFoundError(f"no SentencePiece model at {model_path}; train one "
                              "with SentencePieceTokenizer.train")
    self._sp = spm.SentencePieceProcessor(model_file=model_path)
    self.vocab_size = self._sp.get_piece_size()

  @staticmethod
  def train(text: str, model_path: str, vocab_size: int,
            model_type: str = "unigram") -> "SentencePieceTokenizer":
    """Trains on `text` (one sentence per line) and writes `model_path`."""
    import sentencepiece as spm
    model = io.BytesIO()
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(line for line in text.splitlines() if line.strip()),
        model_writer=model, vocab_size=vocab_size, model_type=model_type,
        character_coverage=1.0, bos_id=-1, eos_id=-1, pad_id=-1, unk_id=0,
        max_sentence_length=1 << 16, num_threads=os.cpu_count() or 1,
        minloglevel=2)
    os.makedirs(os.path.dirname(os.path.abspath(model_path)), exist_ok=True)
    with open(model_path, "wb") as f:
      f.write(model.getvalue())
    return SentencePieceTokenizer(model_path)

  def encode(self, text: str) -> np.ndarray:
    return np.asarray(self._sp.encode(text), np.int32)

  def decode(self, ids) -> str:
    return self._sp.decode(np.asarray(ids).ravel().tolist())
