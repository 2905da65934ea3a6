"""The command line, end to end in subprocesses: train, resume, eval, Ctrl-C."""

import json
import os
import signal
import subprocess
import sys

from aoarm import metrics

CONFIG = "experiments/markov.py:arch=decoupled_rope,seq_len=16,vocab=8"


def overrides(data_dir, *extra):
  return [f"--config.data.data_dir={data_dir}", "--config.data.markov.num_tokens=20000",
          "--config.train.batch_size=8", "--config.train.log_every=1",
          "--config.eval.max_batches=2", "--config.ckpt.async_save=false", *extra]


def cli(workdir, data_dir, *extra, mode="train"):
  return [sys.executable, "-m", "aoarm.main", f"--config={CONFIG}", f"--workdir={workdir}",
          f"--mode={mode}", *overrides(data_dir, *extra)]


def test_train_then_eval(tmp_path):
  run = tmp_path / "run"
  out = subprocess.run(cli(run, tmp_path / "data", "--config.train.num_steps=3"),
                       capture_output=True, text=True, timeout=300)
  assert out.returncode == 0, out.stderr[-3000:]
  assert "step 3/3" in out.stdout
  rows = metrics.read_jsonl(run / "metrics.jsonl")
  assert [r["step"] for r in rows] == [1, 2, 3] and "eval/bits_per_token" in rows[-1]
  out = subprocess.run(cli(run, tmp_path / "data", "--config.train.num_steps=3", mode="eval"),
                       capture_output=True, text=True, timeout=300)
  assert out.returncode == 0, out.stderr[-3000:]
  result = json.load(open(run / "eval_validation.json"))
  assert result["step"] == 3 and result["bound"] == "random-order bound"
  assert 0 < result["bits_per_token"] < 4


def test_ctrl_c_saves_and_resumes(tmp_path):
  run = tmp_path / "run"
  proc = subprocess.Popen(cli(run, tmp_path / "data", "--config.train.num_steps=100000",
                              "--config.train.eval_every=0"),
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
  for line in proc.stdout:  # wait until training runs
    if line.startswith("step 3/"):
      break
  proc.send_signal(signal.SIGINT)
  stdout, stderr = proc.communicate(timeout=120)
  assert proc.returncode == 0, stderr[-3000:]
  assert "SIGINT: saving step" in stdout
  saved = int(stdout.split("SIGINT: saving step ")[1].split()[0])
  assert saved >= 3 and str(saved) in os.listdir(run / "checkpoints")
  out = subprocess.run(cli(run, tmp_path / "data", f"--config.train.num_steps={saved + 2}"),
                       capture_output=True, text=True, timeout=300)
  assert out.returncode == 0, out.stderr[-3000:]
  assert "resumed from" in out.stdout and f"step {saved + 2}/{saved + 2}" in out.stdout


def test_two_processes_on_loopback_then_restore_on_one(tmp_path):
  """The multi-host path: per-process slices, gloo collectives, Orbax; the
  checkpoint then restores in a single process on a different mesh."""
  run = tmp_path / "run"
  env = dict(os.environ, PYTHON=sys.executable,
             XLA_FLAGS="--xla_force_host_platform_device_count=2")
  out = subprocess.run(["launch/multiprocess_cpu.sh", "2", CONFIG, str(run),
                        *overrides(tmp_path / "data", "--config.train.num_steps=3")],
                       capture_output=True, text=True, timeout=300, env=env)
  assert out.returncode == 0, out.stdout[-3000:]
  assert "[process 0] step 3/3" in out.stdout
  assert "[process 1] step" not in out.stdout  # only process 0 reports
  assert [r["step"] for r in metrics.read_jsonl(run / "metrics.jsonl")] == [1, 2, 3]
  out = subprocess.run(cli(run, tmp_path / "data", "--config.train.num_steps=3", mode="eval"),
                       capture_output=True, text=True, timeout=300)
  assert out.returncode == 0, out.stderr[-3000:]
  assert json.load(open(run / "eval_validation.json"))["step"] == 3
