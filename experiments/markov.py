"""The synthetic probe: a seeded Markov chain (or HMM) whose true conditionals
are known (DESIGN.md §4), any architecture, any length.

  python -m aoarm.main --config=experiments/markov.py:arch=decoupled_rope,seq_len=256 \
      --workdir=runs/markov_256_decoupled_rope

`hidden=K` (K > 0) makes it a K-state hidden Markov model.
"""

from aoarm import config as config_lib


def get_config(arg: str | None = None):
  args = config_lib.parse_arg(arg, arch="two_stream", seq_len=128, size="tiny",
                              vocab=8, hidden=0, seed=0)
  config = config_lib.base_config()
  config.model.arch = args["arch"]
  config_lib.set_size(config, args["size"])
  config.data.source = "markov"
  config.data.vocab_size = args["vocab"]
  config.data.seq_len = args["seq_len"]
  config.data.markov.num_hidden = args["hidden"]
  config.data.markov.seed = args["seed"]
  config.train.order = config.sample.order = "l2r" if args["arch"] == "ar" else "random"
  config.train.num_steps = 3_000
  config.train.batch_size = 32
  config.train.eval_every = 1_000
  config.optim.lr = 2e-3
  config.ckpt.every_steps = 1_000
  return config
