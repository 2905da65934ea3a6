"""Every experiment file loads, validates and builds its model; bad values
are named with their fix."""

import glob
import os

import jax
import jax.numpy as jnp
import pytest

from aoarm import config as config_lib
from aoarm import models

EXPERIMENTS = sorted(glob.glob("experiments/*.py"))


def test_there_are_experiments():
  assert {os.path.basename(p) for p in EXPERIMENTS} >= {
      "text8.py", "corpus.py", "markov.py", "subword.py"}


@pytest.mark.parametrize("path", EXPERIMENTS)
@pytest.mark.parametrize("arch", models.ARCHS)
def test_experiment_builds_every_arch(path, arch):
  config = config_lib.load_experiment(f"{path}:arch={arch}")
  config_lib.validate(config)
  assert config.model.arch == arch
  model = models.build(config_lib.model_config(config))
  length = config.data.seq_len
  tokens = jnp.zeros((1, length), jnp.int32)
  order = jnp.arange(length, dtype=jnp.int32)[None]
  shapes = jax.eval_shape(model.init, jax.random.key(0), tokens, order)
  assert jax.tree.leaves(shapes)


@pytest.mark.parametrize("path", EXPERIMENTS)
def test_tiny_size_runs(path):
  config = config_lib.load_experiment(f"{path}:size=tiny,seq_len=16")
  model = models.build(config_lib.model_config(config))
  tokens = jnp.zeros((2, 16), jnp.int32)
  order = jnp.tile(jnp.arange(16, dtype=jnp.int32)[::-1], (2, 1))
  variables = model.init(jax.random.key(0), tokens, order)
  assert model.apply(variables, tokens, order).shape == (2, 16, config.data.vocab_size)


def test_text8_long_setting_is_gpt2_small_with_fsdp():
  config = config_lib.load_experiment("experiments/text8.py:seq_len=1024")
  assert (config.model.num_layers, config.model.d_model, config.model.num_heads) == (12, 768, 12)
  assert config.mesh.rules == "fsdp"


@pytest.mark.parametrize("field, value, message", [
    ("data.source", "wiki", "use one of"),
    ("data.vocab_size", 30, "char tokenizer has 27 symbols"),
    ("train.batch_size", 0, "positive multiple"),
    ("train.order", "spiral", "use one of"),
    ("optim.schedule", "step", "use one of"),
    ("optim.lr", -1.0, "positive learning rate"),
    ("mesh.rules", "zero3", "use one of"),
    ("model.arch", "xlnet", "unknown architecture"),
    ("model.num_heads", 3, "not divisible by num_heads"),
])
def test_bad_values_are_named(field, value, message):
  config = config_lib.load_experiment("experiments/corpus.py:size=tiny")
  config.update_from_flattened_dict({field: value})
  with pytest.raises(ValueError, match=message):
    config_lib.validate(config)


def test_ar_must_train_left_to_right_and_text8_needs_a_path():
  config = config_lib.load_experiment("experiments/corpus.py:arch=ar")
  config.train.order = "random"
  with pytest.raises(ValueError, match="train.order='l2r'"):
    config_lib.validate(config)
  config = config_lib.load_experiment("experiments/text8.py")
  config.data.path = ""
  with pytest.raises(ValueError, match="config.data.path"):
    config_lib.validate(config)


def test_batch_must_split_across_processes():
  config = config_lib.load_experiment("experiments/corpus.py")
  config.train.batch_size = 33
  with pytest.raises(ValueError, match="multiple of the 2 processes"):
    config_lib.validate(config, num_processes=2)


def test_config_arguments_are_checked():
  with pytest.raises(ValueError, match="expected key=value"):
    config_lib.load_experiment("experiments/corpus.py:colour=blue")
  with pytest.raises(ValueError, match="size='huge'"):
    config_lib.load_experiment("experiments/corpus.py:size=huge")


def test_mesh_errors():
  from aoarm import sharding
  assert sharding.make_mesh(2, -1, 1).shape == {"data": 2, "fsdp": 4, "tensor": 1}
  with pytest.raises(ValueError, match="at most one axis"):
    sharding.make_mesh(-1, -1, 1)
  with pytest.raises(ValueError, match="cannot fill 8 devices"):
    sharding.make_mesh(3, -1, 1)
  with pytest.raises(ValueError, match="needs 4 devices"):
    sharding.make_mesh(2, 2, 1)
