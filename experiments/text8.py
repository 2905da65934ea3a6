"""text8, the paper's setting: length 128 (256 wide, 8 blocks, 8 heads) or
length 1024 (GPT-2 small), any architecture.

  python -m aoarm.main --config=experiments/text8.py:arch=decoupled_rope,seq_len=128,path=data/text8.zip \
      --workdir=runs/text8_128_decoupled_rope
  python -m aoarm.main --config=experiments/text8.py:arch=two_stream,seq_len=1024,path=data/text8.zip \
      --workdir=runs/text8_1024_two_stream

text8 cannot be downloaded by the suite: put `text8` or `text8.zip` at `path`.
Optimiser settings are this project's choices (the paper's are not public).
"""

from aoarm import config as config_lib


def get_config(arg: str | None = None):
  args = config_lib.parse_arg(arg, arch="two_stream", seq_len=128, size="",
                              path="data/text8.zip")
  config = config_lib.base_config()
  config.model.arch = args["arch"]
  long = args["seq_len"] > 128
  config_lib.set_size(config, args["size"] or ("gpt2" if long else "small"))
  config.data.source = "text8"
  config.data.path = args["path"]
  config.data.seq_len = args["seq_len"]
  config.train.order = config.sample.order = "l2r" if args["arch"] == "ar" else "random"
  config.train.batch_size = 64 if long else 256
  config.train.num_steps = 200_000
  config.train.log_every = 100
  config.train.eval_every = 5_000
  config.optim.lr = 3e-4 if long else 1e-3
  config.optim.warmup_steps = 2_000
  config.optim.ema_decay = 0.9999
  config.ckpt.every_steps = 5_000
  config.eval.batch_size = 64
  config.eval.max_batches = 64
  config.mesh.rules = "fsdp" if long else "data_parallel"
  config.mesh.fsdp = -1 if long else 1
  config.mesh.data = 1 if long else -1
  return config
