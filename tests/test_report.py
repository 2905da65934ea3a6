"""Sampling a checkpoint and the Markdown report, on a tiny text run."""

import json
import os

from aoarm import config as config_lib
from aoarm import report, train


def test_train_sample_and_report(tmp_path):
  (tmp_path / "txt").mkdir()
  (tmp_path / "txt" / "a.txt").write_text(
      " ".join(["the cat sat on the mat and the dog ate the hat"] * 200))
  runs, results, samples = {}, {}, {}
  for arch in ("two_stream", "mdm"):
    config = config_lib.load_experiment(f"experiments/corpus.py:arch={arch},size=tiny,seq_len=32")
    config.data.source = "text_dir"
    config.data.path = str(tmp_path / "txt")
    config.data.data_dir = str(tmp_path / "tfds")
    config.train.num_steps = 3
    config.train.batch_size = 8
    config.eval.batch_size = 8
    config.eval.max_batches = 1
    config.sample.batch_size = 2
    config.sample.temperatures = (0.5, 1.0)
    config.sample.mdm_steps = 8
    workdir = str(tmp_path / arch)
    train.train(config, workdir)
    results[arch] = report.evaluate_checkpoint(config, workdir)
    samples[arch] = report.sample_checkpoint(config, workdir)
    runs[arch] = workdir
    rows = json.load(open(os.path.join(workdir, "sample_quality.json")))
    assert [r["temperature"] for r in rows] == [0.5, 1.0]
    assert all(0 <= r["coherence"] <= 1 and r["seconds_per_sample"] > 0 for r in rows)
    text = open(os.path.join(workdir, "samples.txt")).read()
    assert text.count("== temperature") == 2
  path = tmp_path / "report.md"
  report.write_report(runs, results, str(path), "intro", samples)
  body = path.read_text()
  assert "| two_stream |" in body and "ELBO bound" in body and "frontier.png" in body
  assert (tmp_path / "frontier.png").exists() and (tmp_path / "curves.png").exists()
