"""The training step and loop: sharded = unsharded, resumed = uninterrupted,
NaN guard, metrics files."""

import json
import os

import jax
import numpy as np
import pytest

from aoarm import checkpoint, experiment, metrics, sharding, train
from helpers import tiny_config


def one_device_mesh():
  return sharding.make_mesh(1, 1, 1, devices=jax.devices()[:1])


@pytest.mark.parametrize("arch, rules", [("two_stream", "fsdp"), ("mdm", "fsdp_tensor")])
def test_step_on_2x4_mesh_equals_one_device(tmp_path, arch, rules):
  config = tiny_config(tmp_path, arch)
  config.mesh.rules = rules
  tensor = 2 if rules == "fsdp_tensor" else 1
  big = experiment.build(config, sharding.make_mesh(2, 4 // tensor, tensor))
  small = experiment.build(config, one_device_mesh())
  tokens = np.random.default_rng(0).integers(0, 8, (8, 16)).astype(np.int32)
  rng = jax.random.key(3)
  results = []
  for exp in (big, small):
    state = exp.init(jax.random.key(0))
    batch = jax.device_put(tokens, exp.batch_sharding)
    for _ in range(2):
      state, m = exp.step(state, batch, rng)
    results.append((jax.device_get(state.params), jax.device_get(m), state))
  (p_big, m_big, s_big), (p_small, m_small, _) = results
  # The 8-device state really is split (so the comparison means something).
  kernel = s_big.params["block_0"]["mlp"]["up"]
  assert kernel.sharding.spec[0] == sharding.FSDP
  assert len({str(s.index) for s in kernel.addressable_shards}) > 1
  jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=2e-5, atol=2e-6),
               p_big, p_small)
  np.testing.assert_allclose(m_big["loss"], m_small["loss"], rtol=1e-5)


def final_params(config, workdir):
  exp = experiment.build(config, one_device_mesh())
  ckpt = checkpoint.Checkpointer(os.path.join(workdir, "checkpoints"))
  state = ckpt.restore(ckpt.latest_step(), exp.abstract_state, None, config)
  ckpt.close()
  return int(state.step), jax.device_get(state.params)


def test_two_plus_two_steps_resume_equals_four(tmp_path):
  straight = tiny_config(tmp_path / "data", num_steps=4)
  train.train(straight, str(tmp_path / "a"))
  first = tiny_config(tmp_path / "data", num_steps=2)
  train.train(first, str(tmp_path / "b"))
  second = tiny_config(tmp_path / "data", num_steps=4)
  train.train(second, str(tmp_path / "b"))
  step_a, params_a = final_params(straight, tmp_path / "a")
  step_b, params_b = final_params(second, tmp_path / "b")
  assert step_a == step_b == 4
  jax.tree.map(np.testing.assert_array_equal, params_a, params_b)
  # Without the saved data position the resumed run would differ: its first
  # batches would repeat the first leg's.
  rows = metrics.read_jsonl(tmp_path / "b" / "metrics.jsonl")
  assert [r["step"] for r in rows] == [1, 2, 3, 4]
  losses_a = [r["loss"] for r in metrics.read_jsonl(tmp_path / "a" / "metrics.jsonl")]
  np.testing.assert_allclose([r["loss"] for r in rows], losses_a, rtol=1e-6)


def test_metrics_file_and_final_evaluation(tmp_path):
  config = tiny_config(tmp_path / "data", num_steps=3)
  out = train.train(config, str(tmp_path / "run"))
  rows = metrics.read_jsonl(tmp_path / "run" / "metrics.jsonl")
  assert all({"step", "loss", "bits_per_token", "grad_norm", "lr"} <= set(r) for r in rows)
  assert "eval/bits_per_token" in rows[-1] and "eval/bits_per_token" in out
  assert json.load(open(tmp_path / "run" / "config.json"))["model"]["arch"] == "two_stream"
  assert os.listdir(tmp_path / "run" / "tensorboard")


def test_nan_loss_stops_and_keeps_last_good_checkpoint(tmp_path):
  config = tiny_config(tmp_path / "data", num_steps=6)
  config.optim.lr = 1e30  # Adam's first update moves every weight by ~1e30
  config.optim.grad_clip = 0.0
  config.ckpt.every_steps = 1
  with pytest.raises(FloatingPointError, match=r"(loss|grad_norm) is (nan|inf) at step 2.*step 1\)"):
    train.train(config, str(tmp_path / "run"))
  ckpt = checkpoint.Checkpointer(os.path.join(tmp_path, "run", "checkpoints"))
  assert ckpt.latest_step() == 1


def test_checkpoint_of_another_model_is_refused(tmp_path):
  config = tiny_config(tmp_path / "data", num_steps=1)
  train.train(config, str(tmp_path / "run"))
  other = tiny_config(tmp_path / "data", num_steps=2)
  other.model.d_model = 64
  with pytest.raises(ValueError, match=r"model.d_model: checkpoint 32, config 64"):
    train.train(other, str(tmp_path / "run"))
