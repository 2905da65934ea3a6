"""Shared tiny configs for the training-side tests."""

from aoarm import config as config_lib


def tiny_config(data_dir: str, arch: str = "two_stream", **train):
  """A two-layer model on a small Markov chain: builds and trains in seconds."""
  config = config_lib.load_experiment(f"experiments/markov.py:arch={arch},seq_len=16")
  config.data.data_dir = str(data_dir)
  config.data.markov.num_tokens = 20_000
  config.model.d_model = 32
  config.model.mlp_dim = 64
  config.model.cond_dim = 16
  config.train.batch_size = 8
  config.train.num_steps = 4
  config.train.log_every = 1
  config.train.eval_every = 0
  config.eval.batch_size = 8
  config.eval.max_batches = 2
  config.eval.num_orders = 2
  config.ckpt.every_steps = 0
  config.ckpt.async_save = False
  config.optim.warmup_steps = 0
  config.optim.schedule = "constant"
  config.update_from_flattened_dict({f"train.{k}": v for k, v in train.items()})
  return config
