"""Results from run directories: checkpoint evaluation and the Markdown report.

A run directory (WORKDIR) holds config.json, metrics.jsonl, tensorboard/ and
checkpoints/; this module only reads them (and writes its outputs beside).
"""

from __future__ import annotations

import json
import os

import time

import jax
import ml_collections
import numpy as np

from aoarm import checkpoint, evaluate, experiment, metrics, quality, sample
from aoarm.data import pipeline


def restore_params(config: ml_collections.ConfigDict, workdir: str):
  """(experiment, step, params) of the latest checkpoint in `workdir` (the
  EMA parameters when the run keeps them)."""
  exp = experiment.build(config, experiment.mesh_from_config(config))
  ckpt = checkpoint.Checkpointer(os.path.join(workdir, "checkpoints"))
  step = ckpt.latest_step()
  if step is None:
    raise FileNotFoundError(f"no checkpoint in {workdir}/checkpoints: train first")
  state = ckpt.restore(step, exp.abstract_state, None, config)
  ckpt.close()
  return exp, step, state.ema_params if state.ema_params is not None else state.params


def evaluate_checkpoint(config: ml_collections.ConfigDict, workdir: str) -> dict:
  """Evaluates the latest checkpoint in `workdir` on `config.eval.split`;
  writes WORKDIR/eval_<split>.json and returns its figures."""
  exp, step, params = restore_params(config, workdir)
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


def sample_checkpoint(config: ml_collections.ConfigDict, workdir: str) -> list[dict]:
  """Samples the latest checkpoint at each of `config.sample.temperatures`;
  writes WORKDIR/samples.txt and WORKDIR/sample_quality.json (one row per
  temperature: quality figures and seconds per sample) and returns the rows."""
  exp, step, params = restore_params(config, workdir)
  s, d = config.sample, config.data
  tok = pipeline.tokenizer(d) if d.source != "markov" else None
  vocabulary = set(pipeline.source_text(d)["train"].split()) if tok else None
  variables = {"params": params}
  rows, lines = [], []
  for i, temperature in enumerate(s.temperatures):
    rng = jax.random.key(config.train.seed + 100 + i)
    kw = dict(batch_size=s.batch_size, length=d.seq_len, order=s.order,
              temperature=temperature, top_p=s.top_p,
              num_steps=(s.mdm_steps or None) if config.model.arch == "mdm" else None)
    sample.generate(exp.model, variables, rng, **kw).block_until_ready()  # compile
    start = time.perf_counter()
    out = np.asarray(sample.generate(exp.model, variables, rng, **kw))
    seconds = (time.perf_counter() - start) / s.batch_size
    texts = [tok.decode(row) if tok else " ".join(map(str, row)) for row in out]
    row = dict(temperature=temperature, seconds_per_sample=seconds, step=step)
    if vocabulary is not None:
      row.update(quality.sample_quality(texts, vocabulary))
    rows.append(row)
    lines += [f"== temperature {temperature}"] + texts + [""]
  if jax.process_index() == 0:
    with open(os.path.join(workdir, "samples.txt"), "w") as f:
      f.write("\n".join(lines))
    with open(os.path.join(workdir, "sample_quality.json"), "w") as f:
      json.dump(rows, f, indent=2)
  return rows


def plot_frontier(quality_rows: dict[str, list[dict]], path: str) -> None:
  """Coherence against diversity, one curve (over temperatures) per model."""
  fig, ax = _figure()
  for name, rows in quality_rows.items():
    xs = [r["distinct_1"] for r in rows]
    ys = [r["coherence"] for r in rows]
    ax.plot(xs, ys, "o-", label=name)
    for r, x, y in zip(rows, xs, ys):
      ax.annotate(f"T={r['temperature']:g}", (x, y), fontsize=7, xytext=(3, 3),
                  textcoords="offset points")
  _save(fig, ax, path, "diversity: distinct words / all words",
        "coherence: words found in the training vocabulary")


def plot_curves(runs: dict[str, str], path: str, key: str = "bits_per_token") -> None:
  """Training (thin) and held-out (markers) bits per token against step."""
  fig, ax = _figure()
  for name, workdir in runs.items():
    rows = metrics.read_jsonl(os.path.join(workdir, "metrics.jsonl"))
    train_rows = [r for r in rows if key in r]
    line, = ax.plot([r["step"] for r in train_rows], [r[key] for r in train_rows],
                    lw=1, alpha=0.7, label=f"{name} (train)")
    held = [r for r in rows if f"eval/{key}" in r]
    ax.plot([r["step"] for r in held], [r[f"eval/{key}"] for r in held], "o-",
            color=line.get_color(), label=f"{name} (held-out)")
  _save(fig, ax, path, "step", "bits per character")


def _figure():
  import matplotlib
  matplotlib.use("Agg")  # files only, no display
  import matplotlib.pyplot as plt
  return plt.subplots(figsize=(6, 4))


def _save(fig, ax, path: str, xlabel: str, ylabel: str) -> None:
  import matplotlib.pyplot as plt
  ax.set_xlabel(xlabel)
  ax.set_ylabel(ylabel)
  ax.grid(alpha=0.3)
  ax.legend()
  fig.tight_layout()
  fig.savefig(path, dpi=120)
  plt.close(fig)


def write_report(runs: dict[str, str], results: dict[str, dict], path: str,
                 intro: str = "", samples: dict[str, list[dict]] | None = None) -> None:
  """A Markdown report: held-out figures, learning curves and, when given,
  sample quality per temperature with the coherence-diversity frontier."""
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
  if samples:
    lines += ["## Samples", "",
              "| model | temperature | coherence | unique words | unique 4-grams "
              "| 4-gram repetition | ms per sample |", "|---|---|---|---|---|---|---|"]
    for name, rows in samples.items():
      for r in rows:
        lines.append(f"| {name} | {r['temperature']:g} | {r['coherence']:.3f} | "
                     f"{r['unique_words']:.0f} | {r['unique_4grams']:.0f} | "
                     f"{r['repetition_4']:.3f} | {1000 * r['seconds_per_sample']:.1f} |")
    frontier = os.path.join(os.path.dirname(path), "frontier.png")
    plot_frontier(samples, frontier)
    lines += ["", f"![coherence against diversity]({os.path.basename(frontier)})", ""]
    for name, workdir in runs.items():
      with open(os.path.join(workdir, "samples.txt")) as f:
        excerpt = f.read().split("\n\n")[-1].strip().splitlines()[:4]
      lines += [f"{name}, {excerpt[0].strip('= ')}:", "", "```", *excerpt[1:], "```", ""]
  with open(path, "w") as f:
    f.write("\n".join(lines))
