"""Metric writers: WORKDIR/metrics.jsonl, TensorBoard event files, a progress line.

The TensorBoard writer produces the standard event-file format (TFRecord
framing with masked CRC-32C, `Event` protos with scalar summaries) directly,
so neither TensorFlow nor TensorBoard is needed to write them.
"""

from __future__ import annotations

import json
import math
import os
import socket
import struct
import sys
import time
from typing import Mapping

# --- CRC-32C (Castagnoli), as TFRecord framing requires. ---
_CRC_TABLE = []
for _i in range(256):
  _c = _i
  for _ in range(8):
    _c = (_c >> 1) ^ 0x82F63B78 if _c & 1 else _c >> 1
  _CRC_TABLE.append(_c)


def crc32c(data: bytes) -> int:
  crc = 0xFFFFFFFF
  for byte in data:
    crc = _CRC_TABLE[(crc ^ byte) & 0xFF] ^ (crc >> 8)
  return crc ^ 0xFFFFFFFF


def _masked_crc(data: bytes) -> int:
  crc = crc32c(data)
  return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF


def _varint(n: int) -> bytes:
  out = bytearray()
  while True:
    byte, n = n & 0x7F, n >> 7
    out.append(byte | (0x80 if n else 0))
    if not n:
      return bytes(out)


def _field(number: int, wire_type: int, payload: bytes) -> bytes:
  return _varint(number << 3 | wire_type) + payload


def _length_delimited(number: int, payload: bytes) -> bytes:
  return _field(number, 2, _varint(len(payload)) + payload)


def _event(wall_time: float, step: int, *, file_version: str | None = None,
           scalars: Mapping[str, float] | None = None) -> bytes:
  """An `Event` proto: wall_time=1 (double), step=2, file_version=3, summary=5."""
  out = _field(1, 1, struct.pack("<d", wall_time)) + _field(2, 0, _varint(step))
  if file_version is not None:
    out += _length_delimited(3, file_version.encode())
  if scalars:
    values = b"".join(
        _length_delimited(1, _length_delimited(1, tag.encode())
                          + _field(2, 5, struct.pack("<f", value)))
        for tag, value in scalars.items())
    out += _length_delimited(5, values)
  return out


class TensorBoardWriter:
  """Scalars to `logdir/events.out.tfevents.*`, readable by TensorBoard."""

  def __init__(self, logdir: str):
    os.makedirs(logdir, exist_ok=True)
    name = f"events.out.tfevents.{int(time.time())}.{socket.gethostname()}.{os.getpid()}"
    self.path = os.path.join(logdir, name)
    self._file = open(self.path, "ab")
    self._write(_event(time.time(), 0, file_version="brain.Event:2"))

  def _write(self, record: bytes) -> None:
    header = struct.pack("<Q", len(record))
    self._file.write(header + struct.pack("<I", _masked_crc(header)) + record
                     + struct.pack("<I", _masked_crc(record)))

  def write(self, step: int, scalars: Mapping[str, float]) -> None:
    self._write(_event(time.time(), step, scalars={k: float(v) for k, v in scalars.items()}))
    self._file.flush()

  def close(self) -> None:
    self._file.close()


class JsonlWriter:
  """One JSON object per line: {"step": ..., metric: value, ...}."""

  def __init__(self, path: str):
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    self._file = open(path, "a")

  def write(self, step: int, scalars: Mapping[str, float]) -> None:
    row = {"step": step, **{k: _jsonable(v) for k, v in scalars.items()}}
    self._file.write(json.dumps(row) + "\n")
    self._file.flush()

  def close(self) -> None:
    self._file.close()


def _jsonable(v):
  v = float(v)
  return v if math.isfinite(v) else str(v)


class MetricWriter:
  """Writes every metric row to metrics.jsonl and TensorBoard (process 0 only)."""

  def __init__(self, workdir: str, enabled: bool = True):
    self._writers = ([JsonlWriter(os.path.join(workdir, "metrics.jsonl")),
                      TensorBoardWriter(os.path.join(workdir, "tensorboard"))]
                     if enabled else [])

  def write(self, step: int, scalars: Mapping[str, float]) -> None:
    for w in self._writers:
      w.write(step, scalars)

  def close(self) -> None:
    for w in self._writers:
      w.close()


def read_jsonl(path: str) -> list[dict]:
  with open(path) as f:
    return [json.loads(line) for line in f if line.strip()]


class Progress:
  """A one-line status: step, loss, throughput and time left."""

  def __init__(self, total_steps: int, first_step: int = 0, stream=sys.stdout):
    self.total, self.first, self.stream = total_steps, first_step, stream
    self.start = time.time()

  def line(self, step: int, scalars: Mapping[str, float]) -> str:
    elapsed = time.time() - self.start
    done = max(step - self.first, 1)
    eta = elapsed / done * (self.total - step)
    parts = [f"step {step}/{self.total}"]
    parts += [f"{k} {v:.0f}" if 1e3 <= abs(v) < 1e9 else f"{k} {v:.4g}"
              for k, v in scalars.items()]
    parts.append(f"eta {_clock(eta)}")
    return " | ".join(parts)

  def print(self, step: int, scalars: Mapping[str, float]) -> None:
    print(self.line(step, scalars), file=self.stream, flush=True)


def _clock(seconds: float) -> str:
  seconds = int(max(seconds, 0))
  return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"
