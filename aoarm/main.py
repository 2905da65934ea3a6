"""The command line: one entry point, one library call per mode.

  python -m aoarm.main --config=experiments/corpus.py:arch=two_stream,size=tiny \
      --workdir=runs/two_stream --config.train.num_steps=500

Modes: train (resumes from --workdir when it holds a checkpoint), eval (the
latest checkpoint on config.eval.split, written to WORKDIR/eval_<split>.json),
sample (the latest checkpoint at config.sample.temperatures: WORKDIR/samples.txt
and sample_quality.json).
Multi-host: pass --coordinator, --num_processes and --process_id (or nothing
on a TPU pod, where JAX finds them).
"""

from absl import app, flags, logging
from ml_collections import config_flags

FLAGS = flags.FLAGS
config_flags.DEFINE_config_file("config", None, "experiment config file[:arg]",
                                lock_config=True)
flags.DEFINE_string("workdir", None, "run directory: checkpoints, metrics, reports")
flags.DEFINE_enum("mode", "train", ["train", "eval", "sample"], "what to do")
flags.DEFINE_string("coordinator", None, "host:port of process 0 (multi-process runs)")
flags.DEFINE_integer("num_processes", None, "processes in a multi-process run")
flags.DEFINE_integer("process_id", None, "this process's index")
flags.DEFINE_bool("distributed", False, "call jax.distributed.initialize() with no "
                  "arguments (TPU pods, SLURM): JAX finds the cluster itself")
flags.mark_flags_as_required(["config", "workdir"])


def main(argv):
  if not FLAGS["verbosity"].present:  # library INFO logs drown the progress lines
    logging.set_verbosity(logging.WARNING)
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {argv[1:]}")
  import jax
  if FLAGS.coordinator:
    jax.distributed.initialize(FLAGS.coordinator, FLAGS.num_processes, FLAGS.process_id)
  elif FLAGS.distributed:
    jax.distributed.initialize()
  from aoarm import report, train
  if FLAGS.mode == "train":
    train.train(FLAGS.config, FLAGS.workdir)
  elif FLAGS.mode == "eval":
    report.evaluate_checkpoint(FLAGS.config, FLAGS.workdir)
  else:
    for row in report.sample_checkpoint(FLAGS.config, FLAGS.workdir):
      print(row)


if __name__ == "__main__":
  app.run(main)
