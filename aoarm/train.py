"""The training loop: data, steps, metrics, evaluation, checkpoints, signals.

Metrics are fetched one step late, so the host never waits on the device;
a NaN or Inf loss stops the run before it is checkpointed; Ctrl-C (or
SIGTERM) saves a checkpoint at the next step boundary and exits cleanly.
"""

from __future__ import annotations

import os
import signal
import threading
import time

import jax
import ml_collections
import numpy as np

from aoarm import checkpoint, config as config_lib, evaluate, metrics
from aoarm.data import pipeline
from aoarm.experiment import build, mesh_from_config


class _StopFlag:
  """Turns SIGINT / SIGTERM into a request to save and stop at a step boundary."""

  def __init__(self):
    self.signal = None
    self._old = {}

  def __enter__(self):
    if threading.current_thread() is threading.main_thread():
      for sig in (signal.SIGINT, signal.SIGTERM):
        self._old[sig] = signal.signal(sig, self._handle)
    return self

  def _handle(self, signum, frame):
    del frame
    if self.signal is not None:  # a second Ctrl-C stops at once
      raise KeyboardInterrupt
    self.signal = signal.Signals(signum).name

  def __exit__(self, *exc):
    for sig, handler in self._old.items():
      signal.signal(sig, handler)


def train(config: ml_collections.ConfigDict, workdir: str) -> dict:
  """Trains (resuming from `workdir` if it holds a checkpoint), evaluates on
  held-out data every `train.eval_every` steps and at the end.

  Returns the last logged metrics, including the held-out evaluation.
  """
  proc, nproc = jax.process_index(), jax.process_count()
  config_lib.validate(config, nproc)
  t = config.train
  mesh = mesh_from_config(config)
  exp = build(config, mesh)
  train_source = pipeline.data_source(config.data, "train")
  eval_source = pipeline.data_source(config.data, config.eval.split)
  data = pipeline.train_batches(train_source, t.batch_size, t.seed, proc, nproc,
                                config.data.num_threads, config.data.prefetch)
  ckpt = checkpoint.Checkpointer(os.path.join(workdir, "checkpoints"),
                                 config.ckpt.max_to_keep, config.ckpt.async_save)
  rng = jax.random.key(t.seed)
  init_rng, step_rng, eval_rng = jax.random.split(rng, 3)
  start = ckpt.latest_step()
  if start is None:
    state, start = exp.init(init_rng), 0
  else:
    state = ckpt.restore(start, exp.abstract_state, data, config)
    print(f"resumed from {ckpt.directory} at step {start}", flush=True)
  if proc == 0:
    os.makedirs(workdir, exist_ok=True)
    with open(os.path.join(workdir, "config.json"), "w") as f:
      f.write(config.to_json_best_effort(indent=2))
  writer = metrics.MetricWriter(workdir, enabled=proc == 0)
  progress = metrics.Progress(t.num_steps, start)
  tokens_per_step = t.batch_size * config.data.seq_len
  last_good = start if ckpt.latest_step() is not None else None
  pending = None  # (step, device metrics): fetched one step late
  window_start, window_steps = time.time(), 0
  logged: dict = {}

  def report(step: int, device_metrics: dict, held_out: dict | None = None) -> None:
    """Checks, logs and writes the metrics of `step` (and its evaluation)."""
    nonlocal window_start, window_steps, logged
    host = {k: float(v) for k, v in jax.device_get(device_metrics).items()}
    bad = [k for k in ("loss", "grad_norm") if not np.isfinite(host[k])]
    if bad:
      where = (f"the last good checkpoint (step {last_good}) is kept" if last_good
               else "no checkpoint was written")
      raise FloatingPointError(
          f"{bad[0]} is {host[bad[0]]} at step {step}; stopping: {where}. Lower "
          "optim.lr, raise optim.warmup_steps, or use float32.")
    window_steps += 1
    if step % t.log_every == 0 or step == t.num_steps or held_out:
      now = time.time()
      host["tokens_per_sec"] = window_steps * tokens_per_step / (now - window_start)
      window_start, window_steps = now, 0
      host.update(held_out or {})
      writer.write(step, host)
      if proc == 0:
        progress.print(step, {label: host[k] for k, label in _SHOWN.items() if k in host})
      logged = host

  def held_out() -> dict:
    params = state.ema_params if state.ema_params is not None else state.params
    result = evaluate.evaluate(exp, params, eval_source, eval_rng)
    return {f"eval/{k}": v for k, v in result.items()}

  try:
    with _StopFlag() as stop:
      step = start
      while step < t.num_steps and stop.signal is None:
        batch = pipeline.global_array(next(data), exp.batch_sharding)
        state, step_metrics = exp.step(state, batch, step_rng)
        if pending is not None:  # the previous step, done by now
          report(*pending)
        step += 1
        pending = (step, step_metrics)
        eval_due = (t.eval_every and step % t.eval_every == 0) or step == t.num_steps
        save_due = config.ckpt.every_steps and step % config.ckpt.every_steps == 0
        if eval_due or save_due:  # `state` is exactly this step's
          report(*pending, held_out() if eval_due else None)
          pending = None
          if save_due:
            ckpt.save(step, state, data, config)
            last_good = step
      if pending is not None:
        report(*pending)
      if stop.signal is not None:
        print(f"{stop.signal}: saving step {step} and stopping", flush=True)
      if ckpt.latest_step() != step:
        ckpt.save(step, state, data, config)
  finally:
    ckpt.wait()
    ckpt.close()
    writer.close()
  return logged


_SHOWN = {"loss": "loss", "bits_per_token": "bits/tok", "grad_norm": "grad norm",
          "lr": "lr", "tokens_per_sec": "tok/s", "eval/bits_per_token": "held-out bits/tok"}
