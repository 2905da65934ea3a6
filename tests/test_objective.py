"""Order sampling and the two losses, against hand-computed cases."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from aoarm import objective


def test_random_orders_are_permutations_and_vary():
  orders = objective.sample_orders(jax.random.key(0), 64, 10)
  assert orders.dtype == jnp.int32 and orders.shape == (64, 10)
  np.testing.assert_array_equal(jnp.sort(orders, axis=1), jnp.tile(jnp.arange(10), (64, 1)))
  assert len({tuple(r) for r in np.asarray(orders)}) > 60


def test_left_to_right_and_mixture():
  l2r = objective.sample_orders(jax.random.key(0), 4, 5, kind="l2r")
  np.testing.assert_array_equal(l2r, jnp.tile(jnp.arange(5), (4, 1)))
  all_l2r = objective.sample_orders(jax.random.key(0), 4, 5, l2r_fraction=1.0)
  np.testing.assert_array_equal(all_l2r, l2r)
  mixed = objective.sample_orders(jax.random.key(1), 2000, 8, l2r_fraction=0.25)
  frac = (mixed == jnp.arange(8)).all(axis=1).mean()
  assert abs(frac - (0.25 + 0.75 / math.factorial(8))) < 0.03
  with pytest.raises(ValueError, match="unknown order kind"):
    objective.sample_orders(jax.random.key(0), 2, 3, kind="spiral")
  with pytest.raises(ValueError, match="l2r_fraction"):
    objective.sample_orders(jax.random.key(0), 2, 3, l2r_fraction=1.5)


def test_aoarm_loss_by_hand():
  # B=1, L=2, V=2. order = [1, 0]: step 0 scores tokens[1], step 1 tokens[0].
  logits = jnp.log(jnp.array([[[0.25, 0.75], [0.6, 0.4]]]))
  tokens = jnp.array([[0, 1]])
  order = jnp.array([[1, 0]])
  loss, metrics = objective.aoarm_loss(logits, tokens, order)
  want = -(math.log(0.75) + math.log(0.6)) / 2
  np.testing.assert_allclose(loss, want, rtol=1e-6)
  np.testing.assert_allclose(metrics["bits_per_token"], want / math.log(2), rtol=1e-6)
  # Weight 0 on position 0 (padding) leaves only the step that reveals position 1.
  loss, metrics = objective.aoarm_loss(logits, tokens, order, jnp.array([[0.0, 1.0]]))
  np.testing.assert_allclose(loss, -math.log(0.75), rtol=1e-6)
  assert metrics["num_tokens"] == 1


def test_mdm_loss_by_hand():
  logits = jnp.log(jnp.array([[[0.2, 0.8], [0.5, 0.5], [0.9, 0.1]]]))
  tokens = jnp.array([[1, 0, 0]])
  masked = jnp.array([[True, False, True]])
  loss, _ = objective.mdm_loss(logits, tokens, masked, jnp.array([0.5]))
  want = (1 / 0.5) * (-math.log(0.8) - math.log(0.9)) / 3
  np.testing.assert_allclose(loss, want, rtol=1e-6)


def test_mdm_corrupt_rates_are_low_discrepancy():
  tokens = jnp.zeros((8, 4000), jnp.int32)
  noisy, masked, rates = objective.mdm_corrupt(jax.random.key(3), tokens, mask_id=5)
  gaps = np.diff(np.sort(np.asarray(rates)))
  np.testing.assert_allclose(gaps, (1 - 1e-3) / 8, rtol=1e-4)
  np.testing.assert_array_equal(noisy == 5, masked)
  np.testing.assert_allclose(masked.mean(axis=1), rates, atol=0.03)


def test_mdm_elbo_matches_exact_nll_for_a_factorised_model():
  """For a model that ignores context, the ELBO's expectation is its exact NLL."""
  probs = jnp.array([0.1, 0.3, 0.6])
  logits = jnp.broadcast_to(jnp.log(probs), (4096, 16, 3))
  ratios = []
  for seed in range(4):
    tokens = jax.random.categorical(jax.random.key(seed), jnp.log(probs), shape=(4096, 16))
    _, masked, rates = objective.mdm_corrupt(jax.random.key(10 + seed), tokens, mask_id=3)
    loss, _ = objective.mdm_loss(logits, tokens, masked, rates)
    ratios.append(loss / -jnp.log(probs)[tokens].mean())
  np.testing.assert_allclose(np.mean(ratios), 1.0, atol=0.03)
