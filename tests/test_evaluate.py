"""Likelihood summaries, by hand, and the evaluation of a tiny trained run."""

import math

import numpy as np

from aoarm import evaluate


def test_summarize_by_hand():
  # Two orders x three sequences (the last one is padding), 4 tokens each.
  main = np.array([[4.0, 8.0, 0.0], [6.0, 10.0, 0.0]])
  l2r = np.array([4.0, 6.0, 0.0])
  tokens = np.array([4.0, 4.0, 0.0])
  out = evaluate.summarize(main, l2r, tokens)
  per_seq = np.array([5.0 / 4, 9.0 / 4])
  assert math.isclose(out["nats_per_token"], 14 / 8)
  assert math.isclose(out["bits_per_token"], 14 / 8 / math.log(2))
  assert math.isclose(out["bits_per_token_stderr"],
                      per_seq.std(ddof=1) / math.sqrt(2) / math.log(2))
  assert math.isclose(out["nats_per_token_l2r"], 10 / 8)
  assert math.isclose(out["perplexity"], math.exp(14 / 8))
  assert out["num_sequences"] == 2


def test_bound_names():
  assert evaluate.bound_name("ar") == "left-to-right NLL"
  assert evaluate.bound_name("mdm") == "ELBO bound"
  assert evaluate.bound_name("two_stream") == "random-order bound"
