"""Sampling speed: KV cache vs full recomputation vs masked diffusion.

  python benchmarks/sampling.py --size=tiny --lengths=128,512,1024 --batch=1

For each length L: wall time to generate a batch of L-token sequences with
the cache, without it (the full forward at every step), and with `mdm` at L
and at L/8 unmasking steps; same model size, random weights (speed does not
depend on training). Prints and writes JSON with the ratios.
"""

import json
import time

from absl import app, flags
import jax

from aoarm import models, sample

FLAGS = flags.FLAGS
flags.DEFINE_list("archs", ["two_stream", "decoupled_rope"], "cached architectures")
flags.DEFINE_string("size", "tiny", "model size (models.SIZES)")
flags.DEFINE_list("lengths", ["128", "512", "1024"], "sequence lengths")
flags.DEFINE_integer("batch", 1, "sequences per call")
flags.DEFINE_string("out", "benchmarks/results/sampling.json", "JSON output")


def seconds(model, variables, length, **kw) -> float:
  run = lambda: sample.generate(model, variables, jax.random.key(0), batch_size=FLAGS.batch,
                                length=length, **kw).block_until_ready()
  run()  # compile
  start = time.perf_counter()
  run()
  return time.perf_counter() - start


def build(arch: str, length: int):
  cfg = models.ModelConfig.from_size(FLAGS.size, arch=arch, vocab_size=27, max_len=length)
  model = models.build(cfg)
  tokens = jax.numpy.zeros((1, length), jax.numpy.int32)
  order = jax.numpy.arange(length, dtype=jax.numpy.int32)[None]
  return model, model.init(jax.random.key(0), tokens, order)


def main(argv):
  del argv
  rows = []
  for length in map(int, FLAGS.lengths):
    mdm, mdm_vars = build("mdm", length)
    row = {"length": length,
           "mdm_L_steps": seconds(mdm, mdm_vars, length, num_steps=length),
           "mdm_L/8_steps": seconds(mdm, mdm_vars, length, num_steps=max(length // 8, 1))}
    for arch in FLAGS.archs:
      model, variables = build(arch, length)
      row[f"{arch}_cached"] = seconds(model, variables, length)
      row[f"{arch}_recompute"] = seconds(model, variables, length, use_cache=False)
      row[f"{arch}_speedup_vs_recompute"] = row[f"{arch}_recompute"] / row[f"{arch}_cached"]
      row[f"{arch}_speedup_vs_mdm_L"] = row["mdm_L_steps"] / row[f"{arch}_cached"]
      row[f"{arch}_speedup_vs_mdm_L/8"] = row["mdm_L/8_steps"] / row[f"{arch}_cached"]
    rows.append(row)
    print(json.dumps(row), flush=True)
  with open(FLAGS.out, "w") as f:
    json.dump(dict(size=FLAGS.size, batch=FLAGS.batch, devices=jax.device_count(),
                   platform=jax.devices()[0].platform, results=rows), f, indent=2)
  print(f"wrote {FLAGS.out}")


if __name__ == "__main__":
  app.run(main)
