"""Generation: the cache reproduces the full forward, infilling keeps what is
given, seeds reproduce, the MDM sampler's schedule, and clear errors."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from aoarm import sample
from test_models import VARIANTS, setup

CACHED = [v for v in VARIANTS if VARIANTS[v][0] != "mdm"]


def orders_kind(variant):
  return "l2r" if VARIANTS[variant][0] == "ar" else "random"


@pytest.mark.parametrize("variant", CACHED)
def test_cached_decoding_reproduces_the_full_forward(variant):
  cfg, model, variables, tokens, order = setup(variant)
  full = model.apply(variables, tokens, order)
  b, length = tokens.shape
  rows = jnp.arange(b)
  decode = jax.jit(lambda src_tok, src_pos, tgt, t, cache: model.apply(
      variables, src_tok, src_pos, tgt, t, cache, method=model.decode))
  cache = model.init_cache(b, length)
  steps = []
  for t in range(length):
    src_pos = order[:, max(t - 1, 0)]
    logits, cache = decode(tokens[rows, src_pos], src_pos, order[:, t], t, cache)
    steps.append(logits)
  np.testing.assert_allclose(jnp.stack(steps, axis=1), full, atol=2e-5, rtol=1e-5)


@pytest.mark.parametrize("variant", CACHED)
def test_cache_and_recompute_give_the_same_samples(variant):
  cfg, model, variables, tokens, order = setup(variant)
  kw = dict(batch_size=4, length=6, order=orders_kind(variant), temperature=1.0)
  cached = sample.generate(model, variables, jax.random.key(7), **kw)
  full = sample.generate(model, variables, jax.random.key(7), use_cache=False, **kw)
  np.testing.assert_array_equal(cached, full)
  assert cached.dtype == jnp.int32 and cached.shape == (4, 6)
  assert cached.min() >= 0 and cached.max() < cfg.vocab_size


@pytest.mark.parametrize("arch", ["two_stream", "decoupled_rope", "mdm"])
def test_same_seed_same_samples(arch):
  cfg, model, variables, tokens, order = setup(arch)
  run = lambda seed: sample.generate(model, variables, jax.random.key(seed),
                                     batch_size=8, length=6)
  np.testing.assert_array_equal(run(1), run(1))
  assert (run(1) != run(2)).any()


@pytest.mark.parametrize("arch", ["sigma", "ao_gpt", "two_stream", "decoupled_rope", "mdm"])
def test_infilling_keeps_given_tokens(arch):
  cfg, model, variables, tokens, order = setup(arch, batch=4)
  known = jax.random.bernoulli(jax.random.key(3), 0.5, tokens.shape)
  out = sample.generate(model, variables, jax.random.key(0), batch_size=4, length=6,
                        given=(tokens, known), temperature=2.0)
  np.testing.assert_array_equal(jnp.where(known, out, -1), jnp.where(known, tokens, -1))
  # A prompt may be shorter than the sequence: the rest is generated.
  short = sample.generate(model, variables, jax.random.key(0), batch_size=4, length=6,
                          given=(tokens[:, :2], jnp.ones((4, 2), bool)))
  np.testing.assert_array_equal(short[:, :2], tokens[:, :2])


def test_ar_continues_a_prefix_and_refuses_gaps():
  cfg, model, variables, tokens, order = setup("ar", batch=2)
  known = jnp.zeros((2, 6), bool).at[:, :3].set(True)
  out = sample.generate(model, variables, jax.random.key(0), batch_size=2, length=6,
                        order="l2r", given=(tokens, known))
  np.testing.assert_array_equal(out[:, :3], tokens[:, :3])
  with pytest.raises(ValueError, match="left to right"):
    sample.generate(model, variables, jax.random.key(0), batch_size=2, length=6,
                    order="l2r", given=(tokens, known.at[:, 4].set(True)))


def test_given_order_is_followed():
  cfg, model, variables, tokens, order = setup("two_stream", batch=2)
  known = jnp.zeros((2, 6), bool).at[:, 4].set(True)
  got = sample.decoding_order(jax.random.key(0), known, order)
  # Known position 4 first, then the given order without it.
  for row, row_order in zip(np.asarray(got), np.asarray(order)):
    assert row[0] == 4 and list(row[1:]) == [p for p in row_order if p != 4]


def test_mdm_with_length_steps_visits_every_position_once():
  known = jnp.zeros((3, 16), bool)
  order = sample.decoding_order(jax.random.key(0), known, "random")
  when = np.asarray(sample.unmask_schedule(known, order, 16))
  for row, row_order in zip(when, np.asarray(order)):
    assert sorted(row) == list(range(16))  # one position per step, each once
    np.testing.assert_array_equal(row[row_order], np.arange(16))  # in the order
  when = np.asarray(sample.unmask_schedule(known, order, 2))
  assert all(np.bincount(row).tolist() == [8, 8] for row in when)
  partly = known.at[:, :4].set(True)
  when = np.asarray(sample.unmask_schedule(partly, sample.decoding_order(
      jax.random.key(0), partly, "l2r"), 12))
  assert (when[:, :4] == -1).all() and (when[:, 4:] == np.arange(12)).all()


def test_mdm_sampler_fills_everything():
  cfg, model, variables, tokens, order = setup("mdm", batch=4)
  for steps in (6, 2, 1):
    out = sample.generate(model, variables, jax.random.key(0), batch_size=4, length=6,
                          num_steps=steps)
    assert out.min() >= 0 and out.max() < cfg.vocab_size  # no MASK left


def test_float64_draws_follow_the_distribution():
  probs = np.array([0.5, 0.3, 0.15, 0.05])
  logits = jnp.log(jnp.tile(jnp.asarray(probs, jnp.float32), (40_000, 1)))
  with jax.enable_x64(True):
    x = np.asarray(sample.draw(jax.random.key(0), logits, 1.0, 1.0))
    hot = np.asarray(sample.draw(jax.random.key(0), logits, 2.0, 1.0))
    nucleus = np.asarray(sample.draw(jax.random.key(0), logits, 1.0, 0.7))
  np.testing.assert_allclose(np.bincount(x, minlength=4) / len(x), probs, atol=0.01)
  flat = probs ** 0.5 / (probs ** 0.5).sum()
  np.testing.assert_allclose(np.bincount(hot, minlength=4) / len(hot), flat, atol=0.01)
  # top-p 0.7 keeps the two largest (0.5 + 0.3 >= 0.7), renormalised.
  np.testing.assert_allclose(np.bincount(nucleus, minlength=4) / len(nucleus),
                             [0.625, 0.375, 0, 0], atol=0.01)


@pytest.mark.parametrize("kwargs, message", [
    (dict(temperature=0.0), "temperature=0.0 must be > 0"),
    (dict(top_p=1.5), "top_p=1.5"),
    (dict(length=9), "length=9 must lie in"),
    (dict(order="spiral"), "use one of"),
    (dict(order=np.tile(np.arange(6) + 1, (2, 1))), "position 6, out of range"),
    (dict(given=(np.zeros((2, 7), np.int32), np.ones((2, 7), bool))),
     "the prompt has 7 positions, more than the sequence length 6"),
    (dict(given=(np.full((2, 6), 9), np.ones((2, 6), bool))), "given tokens must lie"),
    (dict(num_steps=3), "reveals one position per step"),
])
def test_bad_sampler_input(kwargs, message):
  cfg, model, variables, tokens, order = setup("two_stream", batch=2)
  args = {"batch_size": 2, "length": 6, **kwargs}
  with pytest.raises(ValueError, match=message):
    sample.generate(model, variables, jax.random.key(0), **args)


def test_mdm_num_steps_is_checked():
  cfg, model, variables, tokens, order = setup("mdm", batch=2)
  with pytest.raises(ValueError, match="num_steps=7"):
    sample.generate(model, variables, jax.random.key(0), batch_size=2, length=6, num_steps=7)
