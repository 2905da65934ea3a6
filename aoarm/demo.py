"""The main job of the README: no download, a few minutes on a laptop CPU.

Trains `decoupled_rope` and `two_stream` on the shipped Shakespeare corpus
(experiments/corpus.py) for the same number of steps, evaluates both on
held-out text, samples both at a sweep of temperatures with the KV cache, and
writes WORKDIR/report.md: held-out bits per character, learning curves,
sample quality and the coherence-diversity frontier.

  python -m aoarm.demo --workdir=runs/demo
"""

import os

from absl import app, flags, logging
import jax

from aoarm import config as config_lib
from aoarm import report, train

FLAGS = flags.FLAGS
flags.DEFINE_string("workdir", "runs/demo", "where runs and the report go")
flags.DEFINE_list("archs", ["decoupled_rope", "two_stream"], "architectures to compare")
flags.DEFINE_string("size", "tiny", "model size (models.SIZES)")
flags.DEFINE_integer("steps", 800, "training steps per model")
flags.DEFINE_integer("seq_len", 128, "characters per sequence")

EXPERIMENT = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                          "experiments", "corpus.py")


def demo_config(arch: str):
  config = config_lib.load_experiment(
      f"{EXPERIMENT}:arch={arch},size={FLAGS.size},seq_len={FLAGS.seq_len}")
  config.train.num_steps = FLAGS.steps
  config.train.log_every = 50
  config.train.eval_every = FLAGS.steps // 4
  config.ckpt.every_steps = FLAGS.steps // 2
  config.eval.max_batches = 4
  config.data.data_dir = os.path.join(FLAGS.workdir, "tfds")
  return config


def main(argv):
  if not FLAGS["verbosity"].present:  # library INFO logs drown the progress lines
    logging.set_verbosity(logging.WARNING)
  del argv
  runs, results, samples = {}, {}, {}
  for arch in FLAGS.archs:
    config = demo_config(arch)
    workdir = os.path.join(FLAGS.workdir, arch)
    print(f"== training {arch} ({FLAGS.size}, {FLAGS.steps} steps) in {workdir}", flush=True)
    logged = train.train(config, workdir)
    with config.unlocked():
      config.eval.split = "test"
      config.eval.max_batches = 16
    result = report.evaluate_checkpoint(config, workdir)
    result["tokens_per_sec"] = logged.get("tokens_per_sec", float("nan"))
    runs[arch], results[arch] = workdir, result
    samples[arch] = report.sample_checkpoint(config, workdir)
  path = os.path.join(FLAGS.workdir, "report.md")
  intro = (f"Character-level Shakespeare (shipped corpus, text8 alphabet), length "
           f"{FLAGS.seq_len}, size `{FLAGS.size}`, {FLAGS.steps} steps each on "
           f"{jax.device_count()} {jax.devices()[0].platform} device(s). Held-out figures "
           "on the test split; the bound is the mean NLL over random orders "
           "(an upper bound on -log p(x)), with its standard error over sequences.")
  if jax.process_index() == 0:
    report.write_report(runs, results, path, intro, samples)
    print(f"report: {os.path.abspath(path)}", flush=True)


if __name__ == "__main__":
  app.run(main)
