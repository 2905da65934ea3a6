"""The embedded default: character-level Shakespeare, shipped with the project.

Launch (any arch; size=tiny|mini|small):

  python -m aoarm.main --config=experiments/corpus.py:arch=two_stream,size=mini \
      --workdir=runs/corpus_two_stream

No download: the corpus is in aoarm/data/corpus (see its README).
"""

from aoarm import config as config_lib


def get_config(arg: str | None = None):
  args = config_lib.parse_arg(arg, arch="two_stream", size="mini", seq_len=128)
  config = config_lib.base_config()
  config.model.arch = args["arch"]
  config_lib.set_size(config, args["size"])
  config.data.source = "shakespeare"
  config.data.seq_len = args["seq_len"]
  config.train.order = config.sample.order = "l2r" if args["arch"] == "ar" else "random"
  config.train.num_steps = 2000
  config.train.batch_size = 32
  config.optim.lr = 2e-3
  config.optim.warmup_steps = 100
  return config
