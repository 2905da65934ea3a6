"""Training throughput (tokens/s) of the jitted train step, per architecture.

  python benchmarks/train_throughput.py --size=mini --seq_len=128 --batch=32

Times `--steps` steps after a compile-and-warm-up step, on random tokens, and
prints and writes JSON (--out). The 2-core reference figure in the README
comes from this script.
"""

import json
import time

from absl import app, flags
import jax
import numpy as np

from aoarm import config as config_lib
from aoarm import train

FLAGS = flags.FLAGS
flags.DEFINE_list("archs", ["ar", "decoupled_rope", "two_stream", "sigma", "ao_gpt", "mdm"],
                  "architectures to time")
flags.DEFINE_string("size", "mini", "model size (models.SIZES)")
flags.DEFINE_integer("seq_len", 128, "sequence length")
flags.DEFINE_integer("batch", 32, "global batch")
flags.DEFINE_integer("steps", 10, "timed steps")
flags.DEFINE_string("dtype", "float32", "compute dtype")
flags.DEFINE_string("out", "benchmarks/results/train_throughput.json", "JSON output")


def time_arch(arch: str) -> dict:
  config = config_lib.base_config()
  config.model.arch = arch
  config_lib.set_size(config, FLAGS.size)
  config.model.dtype = FLAGS.dtype
  config.data.seq_len = FLAGS.seq_len
  config.train.batch_size = FLAGS.batch
  config.train.order = "l2r" if arch == "ar" else "random"
  exp = train.build(config, train.mesh_from_config(config))
  state = exp.init(jax.random.key(0))
  tokens = jax.device_put(
      np.random.default_rng(0).integers(0, 27, (FLAGS.batch, FLAGS.seq_len), np.int32),
      exp.batch_sharding)
  rng = jax.random.key(1)
  state, m = exp.step(state, tokens, rng)
  jax.block_until_ready(m)
  start = time.perf_counter()
  for _ in range(FLAGS.steps):
    state, m = exp.step(state, tokens, rng)
  jax.block_until_ready(m)
  seconds = (time.perf_counter() - start) / FLAGS.steps
  params = sum(x.size for x in jax.tree.leaves(state.params))
  return dict(arch=arch, tokens_per_sec=FLAGS.batch * FLAGS.seq_len / seconds,
              step_seconds=seconds, params=int(params))


def main(argv):
  del argv
  rows = []
  for arch in FLAGS.archs:
    rows.append(time_arch(arch))
    print(f"{rows[-1]['arch']:>15}: {rows[-1]['tokens_per_sec']:8.0f} tokens/s  "
          f"({rows[-1]['params'] / 1e6:.2f}M params)", flush=True)
  result = dict(size=FLAGS.size, seq_len=FLAGS.seq_len, batch=FLAGS.batch,
                dtype=FLAGS.dtype, devices=jax.device_count(),
                platform=jax.devices()[0].platform, results=rows)
  with open(FLAGS.out, "w") as f:
    json.dump(result, f, indent=2)
  print(f"wrote {FLAGS.out}")


if __name__ == "__main__":
  app.run(main)
