"""Subword language modelling on local text files (an OpenWebText- or
LM1B-style folder of .txt files), with a SentencePiece model the project
trains on the training split.

  python -m aoarm.main --config=experiments/subword.py:arch=two_stream,path=data/owt_txt \
      --workdir=runs/subword_two_stream

The folder holds train/, validation/ and test/ subfolders of .txt files, or
.txt files that are split 90/5/5 by characters.
"""

from aoarm import config as config_lib


def get_config(arg: str | None = None):
  args = config_lib.parse_arg(arg, arch="two_stream", seq_len=128, size="small",
                              path="data/text", vocab=8192)
  config = config_lib.base_config()
  config.model.arch = args["arch"]
  config_lib.set_size(config, args["size"])
  config.model.tie_embeddings = True
  config.data.source = "text_dir"
  config.data.path = args["path"]
  config.data.tokenizer = "sentencepiece"
  config.data.vocab_size = args["vocab"]
  config.data.seq_len = args["seq_len"]
  config.train.order = config.sample.order = "l2r" if args["arch"] == "ar" else "random"
  config.train.batch_size = 128
  config.train.num_steps = 100_000
  config.train.eval_every = 5_000
  config.optim.lr = 6e-4
  config.optim.warmup_steps = 2_000
  config.ckpt.every_steps = 5_000
  return config
