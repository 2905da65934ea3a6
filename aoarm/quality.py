"""Sample quality, the paper's second axis: coherence against diversity.

For generated texts: coherence is the fraction of generated words found in
the training vocabulary; diversity counts unique words and unique word
3- and 4-grams; repetition is the share of a sample's 3- or 4-grams that
repeat an earlier one in the same sample. Samples are windows of running
text, so the first and last word of each (possibly cut) are left out.
"""

from __future__ import annotations


def ngrams(words: list[str], n: int) -> list[tuple[str, ...]]:
  return [tuple(words[i:i + n]) for i in range(len(words) - n + 1)]


def sample_quality(texts: list[str], vocabulary: set[str]) -> dict[str, float]:
  """Coherence, diversity and repetition figures of a set of samples."""
  samples = [text.split()[1:-1] for text in texts]
  words = [w for sample in samples for w in sample]
  out = {"coherence": sum(w in vocabulary for w in words) / max(len(words), 1),
         "num_words": float(len(words)), "unique_words": float(len(set(words))),
         "distinct_1": len(set(words)) / max(len(words), 1)}
  for n in (3, 4):
    grams = [ngrams(sample, n) for sample in samples]
    flat = [g for gs in grams for g in gs]
    out[f"unique_{n}grams"] = float(len(set(flat)))
    out[f"distinct_{n}"] = len(set(flat)) / max(len(flat), 1)
    repeats = [1 - len(set(gs)) / len(gs) for gs in grams if gs]
    out[f"repetition_{n}"] = sum(repeats) / max(len(repeats), 1)
  return out
