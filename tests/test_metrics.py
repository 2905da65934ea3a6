"""Metric files: TensorBoard reads our event files; JSONL rows; progress."""

import io
import math

import pytest

from aoarm import metrics


def test_crc32c_known_answer():
  assert metrics.crc32c(b"123456789") == 0xE3069283


def test_tensorboard_reads_our_event_file(tmp_path):
  event_accumulator = pytest.importorskip(
      "tensorboard.backend.event_processing.event_accumulator")
  writer = metrics.TensorBoardWriter(str(tmp_path))
  for step in range(1, 4):
    writer.write(step, {"loss": 1.0 / step, "eval/bits_per_token": 2.0 * step})
  writer.close()
  acc = event_accumulator.EventAccumulator(str(tmp_path))
  acc.Reload()
  assert set(acc.Tags()["scalars"]) == {"loss", "eval/bits_per_token"}
  loss = acc.Scalars("loss")
  assert [e.step for e in loss] == [1, 2, 3]
  assert [round(e.value, 6) for e in loss] == [1.0, 0.5, round(1 / 3, 6)]


def test_jsonl_rows_and_non_finite_values(tmp_path):
  w = metrics.MetricWriter(str(tmp_path))
  w.write(10, {"loss": 2.5, "grad_norm": math.inf})
  w.close()
  assert metrics.read_jsonl(tmp_path / "metrics.jsonl") == [
      {"step": 10, "loss": 2.5, "grad_norm": "inf"}]


def test_progress_line_has_eta():
  p = metrics.Progress(100, stream=io.StringIO())
  line = p.line(50, {"loss": 1.23456, "tok/s": 51234.5})
  assert line.startswith("step 50/100 | loss 1.235 | tok/s 51234 | eta 0:00:")
