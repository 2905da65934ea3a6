"""Results from run directories: checkpoint evaluation and the Markdown report.

A run directory (WORKDIR) holds config.json, metrics.jsonl, tensorboard/ and
checkpoints/; this module only reads them (and writes its outputs beside).
"""

from __future__ import annotations

import json
import os

import jax
import ml_collections

from aoarm import checkpoint, evaluate, experiment, metrics
from aoarm.data import pipeline


def evaluate_checkpoint(config: ml_collections.ConfigDict, workdir: str) -> dict:
  """Evaluates the latest checkpoint in `workdir` on `config.eval.split`;
  writes WORKDIR/eval_<split>.json and returns its figures."""
  exp = experiment.build(config, experiment.mesh_from_config(config))
  ckpt = checkpoint.Checkpointer(os.path.join(workdir, "checkpoints"))
  step = ckpt.latest_step()
  if step is None:
    raise FileNotFoundError(f"no checkpoint in {workdir}/checkpoints: train first")
  state = ckpt.restore(step, exp.abstract_state, None, config)
  ckpt.close()
  params = state.ema_params if state.ema_params is not None else state.params
  source = pipeline.data_source(config.data, config.eval.split)
  result = evaluate.evaluate(exp, params, source, jax.random.key(config.train.seed + 1))
  result = dict(step=step, arch=config.model.arch, bound=evaluate.bound_name(
      config.model.arch), split=config.eval.split, **result)
  if jax.process_index() == 0:
    path = os.path.join(workdir, f"eval_{config.eval.split}.json")
    with open(path, "w") as f:
      json.dump(result, f, indent=2)
    print(json.dumps(result, indent=2))
  return result


def plot_curves(runs: dict[str, str], path: str, key: str = "bits_per_token") -> None:
  """Training (thin) and held-out (markers) bits per token against step."""
  import matplotlib
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt
  fig, ax = plt.subplots(figsize=(6, 4))
  for name, workdir in runs.items():
    rows = metrics.read_jsonl(os.path.join(workdir, "metrics.jsonl"))
    train_rows = [r for r in rows if key in r]
    line, = ax.plot([r["step"] for r in train_rows], [r[key] for r in train_rows],
                    lw=1, alpha=0.7, label=f"{name} (train)")
    held = [r for r in rows if f"eval/{key}" in r]
    ax.plot([r["step"] for r in held], [r[f"eval/{key}"] for r in held], "o-",
            color=line.get_color(), label=f"{name} (held-out)")
  ax.set_xlabel("step")
  ax.set_ylabel("bits per character")
  ax.grid(alpha=0.3)
  ax.legend()
  fig.tight_layout()
  fig.savefig(path, dpi=120)
  plt.close(fig)


def write_report(runs: dict[str, str], results: dict[str, dict], path: str,
                 intro: str = "") -> None:
  """A Markdown report: a table of held-out figures and the learning curves."""
  lines = ["# aoarm report", "", intro, "",
           "| model | held-out bits/char (bound) | ± s.e. | left-to-right bits/char "
           "| train tokens/s | steps |",
           "|---|---|---|---|---|---|"]
  for name, r in results.items():
    l2r = r.get("bits_per_token_l2r")
    lines.append(
        f"| {name} | {r['bits_per_token']:.4f} ({r['bound']}) | "
        f"{r['bits_per_token_stderr']:.4f} | {'-' if l2r is None else f'{l2r:.4f}'} | "
        f"{r.get('tokens_per_sec', float('nan')):.0f} | {r['step']} |")
  curves = os.path.join(os.path.dirname(path), "curves.png")
  plot_curves(runs, curves)
  lines += ["", f"![learning curves]({os.path.basename(curves)})", ""]
  with open(path, "w") as f:
    f.write("\n".join(lines))
