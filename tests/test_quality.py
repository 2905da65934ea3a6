"""Sample-quality figures by hand."""

import pytest

from aoarm import quality


def test_sample_quality_by_hand():
  vocabulary = {"the", "cat", "sat", "on", "mat"}
  texts = ["xx the cat sat on the cat sat on yy",  # inner: the cat sat on the cat sat on
           "zz the dog sat ww"]                     # inner: the dog sat
  q = quality.sample_quality(texts, vocabulary)
  assert q["num_words"] == 11
  assert q["coherence"] == pytest.approx(10 / 11)  # 'dog' is unknown
  assert q["unique_words"] == 5 and q["distinct_1"] == pytest.approx(5 / 11)
  # 3-grams: first sample has 6 (4 unique), second 1.
  assert q["unique_3grams"] == 5 and q["distinct_3"] == pytest.approx(5 / 7)
  assert q["repetition_3"] == pytest.approx(((1 - 4 / 6) + 0) / 2)
  # 4-grams: first sample 5 (4 unique: "the cat sat on" twice), second none.
  assert q["unique_4grams"] == 4 and q["repetition_4"] == pytest.approx(1 - 4 / 5)


def test_ngrams():
  assert quality.ngrams(["a", "b", "c"], 2) == [("a", "b"), ("b", "c")]
  assert quality.ngrams(["a"], 3) == []
