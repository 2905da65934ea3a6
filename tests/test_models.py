"""The model contract, for every architecture: no leakage, normalisation,
equivalences, and clear errors on bad input."""

import itertools

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from aoarm import models
from aoarm.models import rope

V, L = 7, 6
# (name, arch, extra config): every architecture plus the config variants
# that change the computation.
VARIANTS = {
    "ar": ("ar", {}),
    "sigma": ("sigma", {}),
    "sigma_sinusoidal": ("sigma", dict(position_embedding="sinusoidal")),
    "ao_gpt": ("ao_gpt", {}),
    "decoupled_rope": ("decoupled_rope", {}),
    "decoupled_rope_swiglu_untied_head": (
        "decoupled_rope", dict(mlp_activation="swiglu", tie_embeddings=False)),
    "two_stream": ("two_stream", {}),
    "two_stream_untied": ("two_stream", dict(two_stream_shared=False)),
    "mdm": ("mdm", {}),
}


def make_config(arch, vocab_size=V, **kwargs):
  # A large init makes every dependence visible well above float error.
  base = dict(arch=arch, vocab_size=vocab_size, max_len=8, num_layers=2,
              d_model=32, num_heads=4, mlp_dim=64, cond_dim=16, init_std=0.3)
  return models.ModelConfig(**{**base, **kwargs})


def orders_for(arch, rng, batch, length):
  if arch == "ar":
    return jnp.tile(jnp.arange(length), (batch, 1))
  keys = jax.random.split(rng, batch)
  return jnp.stack([jax.random.permutation(k, length) for k in keys]).astype(jnp.int32)


def setup(variant, batch=3, length=L, seed=0, **overrides):
  arch, extra = VARIANTS[variant]
  cfg = make_config(arch, **{**extra, **overrides})
  rng_t, rng_o, rng_p = jax.random.split(jax.random.key(seed), 3)
  tokens = jax.random.randint(rng_t, (batch, length), 0, cfg.vocab_size)
  order = orders_for(arch, rng_o, batch, length)
  model = models.build(cfg)
  variables = model.init(rng_p, tokens, order)
  return cfg, model, variables, tokens, order


def perturb(tokens, positions_BxN, vocab_size, rng):
  """Changes the tokens at the given positions to different values."""
  shift = jax.random.randint(rng, positions_BxN.shape, 1, vocab_size)
  old = jnp.take_along_axis(tokens, positions_BxN, axis=1)
  rows = jnp.arange(tokens.shape[0])[:, None]
  return tokens.at[rows, positions_BxN].set((old + shift) % vocab_size)


@pytest.mark.parametrize("variant", VARIANTS)
def test_no_token_leakage(variant):
  cfg, model, variables, tokens, order = setup(variant)
  apply = jax.jit(model.apply)
  logits = apply(variables, tokens, order)
  for t in range(L):
    future = perturb(tokens, order[:, t:], V, jax.random.key(t))
    moved = apply(variables, future, order)
    np.testing.assert_allclose(moved[:, :t + 1], logits[:, :t + 1], atol=1e-5,
                               err_msg=f"tokens at order[t:] reached step {t}")
    if t > 0:  # ...while the last revealed token does reach step t.
      past = perturb(tokens, order[:, t - 1:t], V, jax.random.key(100 + t))
      delta = jnp.abs(apply(variables, past, order)[:, t] - logits[:, t]).max(-1)
      assert (delta > 1e-3).all(), f"step {t} ignores the token revealed before it"


@pytest.mark.parametrize("variant", [v for v in VARIANTS if v != "ar"])
def test_no_position_leakage_and_target_position_used(variant):
  cfg, model, variables, tokens, order = setup(variant)
  apply = jax.jit(model.apply)
  logits = apply(variables, tokens, order)
  rng = np.random.default_rng(0)
  for t in range(L - 1):
    shuffled = np.array(order)
    for row in shuffled:
      row[t + 1:] = rng.permutation(row[t + 1:])
    assert not (shuffled == np.array(order)).all() or t == L - 2
    moved = apply(variables, tokens, jnp.asarray(shuffled))
    np.testing.assert_allclose(moved[:, :t + 1], logits[:, :t + 1], atol=1e-5,
                               err_msg=f"positions order[{t + 1}:] reached step {t}")
    swapped = np.array(order)
    later = rng.integers(t + 1, L)
    swapped[:, [t, later]] = swapped[:, [later, t]]
    delta = jnp.abs(apply(variables, tokens, jnp.asarray(swapped))[:, t] - logits[:, t])
    if t == 0 and cfg.uses_rope:
      # Nothing is revealed at step 0: the keys all carry the same content (BOS
      # alone, or all MASK for mdm), so attention returns the same value
      # whatever its rotated query. RoPE-only position information starts at
      # step 1.
      np.testing.assert_allclose(delta, 0.0, atol=1e-6)
    else:
      assert (delta.max(-1) > 1e-3).all(), f"step {t} ignores its target position"


@pytest.mark.parametrize("variant", VARIANTS)
def test_exact_normalisation(variant):
  vocab, length = 3, 4
  arch, extra = VARIANTS[variant]
  cfg = make_config(arch, vocab_size=vocab, **extra)
  model = models.build(cfg)
  seqs = jnp.asarray(list(itertools.product(range(vocab), repeat=length)), jnp.int32)
  orders = ([list(range(length))] if arch == "ar"
            else [[2, 0, 3, 1], [3, 2, 1, 0]])
  variables = None
  for order_row in orders:
    order = jnp.tile(jnp.asarray(order_row, jnp.int32), (len(seqs), 1))
    if variables is None:
      variables = model.init(jax.random.key(1), seqs, order)
    logp = jax.nn.log_softmax(model.apply(variables, seqs, order))
    targets = jnp.take_along_axis(seqs, order, axis=1)
    seq_logp = jnp.take_along_axis(logp, targets[..., None], axis=-1).sum((1, 2))
    np.testing.assert_allclose(jnp.exp(seq_logp).sum(), 1.0, atol=1e-5)


def test_ar_and_decoupled_rope_share_code_and_parameters():
  """decoupled_rope at the identity order is `ar` up to a fixed rotation.

  Its scores see q_pos - k_pos = t - (s - 1): one more than ar's t - s. Rotating
  each query kernel column by -1 absorbs the offset exactly, so the same
  parameters, so transformed, give the same logits.
  """
  cfg_ar, ar, variables, tokens, order = setup("ar")
  dr = models.build(make_config("decoupled_rope", bos_key_position=-1))
  params = nn.meta.unbox(variables)
  assert (jax.tree.structure(params)
          == jax.tree.structure(nn.meta.unbox(dr.init(jax.random.key(0), tokens, order))))

  def rotate_back(path, kernel):
    if "query" not in jax.tree_util.keystr(path):
      return kernel
    d = kernel.shape[0]
    return rope.rotate_one(kernel[None], jnp.full((1, d), -1),
                           cfg_ar.rope_max_wavelength)[0]

  shifted = jax.tree_util.tree_map_with_path(rotate_back, params)
  want = ar.apply(params, tokens, order)
  np.testing.assert_allclose(dr.apply(shifted, tokens, order), want, atol=1e-5)
  assert jnp.abs(dr.apply(params, tokens, order) - want).max() > 1e-3


def test_two_stream_content_sees_own_token_query_does_not():
  cfg, model, variables, tokens, order = setup("two_stream")
  run = lambda toks: model.apply(variables, toks, order, mutable=["intermediates"])
  logits, state = run(tokens)
  s = 2
  changed = perturb(tokens, order[:, s:s + 1], V, jax.random.key(5))
  logits2, state2 = run(changed)
  # Content slot s + 1 holds the token revealed at step s (slot 0 is BOS).
  content, content2 = state["intermediates"]["content"][-1], state2["intermediates"]["content"][-1]
  assert (jnp.abs(content2[:, s + 1] - content[:, s + 1]).max(-1) > 1e-3).all()
  np.testing.assert_allclose(content2[:, :s + 1], content[:, :s + 1], atol=1e-5)
  # The query stream predicting order[s] never sees that token.
  np.testing.assert_allclose(logits2[:, s], logits[:, s], atol=1e-5)
  assert (jnp.abs(logits2[:, s + 1] - logits[:, s + 1]).max(-1) > 1e-3).all()


@pytest.mark.parametrize("variant", ["ar", "sigma", "ao_gpt", "decoupled_rope",
                                     "two_stream", "mdm"])
def test_jit_matches_eager_and_bfloat16_is_close(variant):
  cfg, model, variables, tokens, order = setup(variant)
  eager = model.apply(variables, tokens, order)
  np.testing.assert_allclose(jax.jit(model.apply)(variables, tokens, order), eager,
                             atol=1e-5, rtol=1e-5)
  arch, extra = VARIANTS[variant]
  bf16 = models.build(make_config(arch, dtype="bfloat16", **extra))
  low = bf16.apply(variables, tokens, order)
  assert low.dtype == jnp.float32 and jnp.isfinite(low).all()
  p32, p16 = jax.nn.softmax(eager), jax.nn.softmax(low)
  assert jnp.abs(p32 - p16).max() < 0.05


@pytest.mark.parametrize("variant", VARIANTS)
def test_every_parameter_has_logical_axes(variant):
  cfg, model, variables, tokens, order = setup(variant)
  leaves = jax.tree.leaves(variables["params"],
                           is_leaf=lambda x: isinstance(x, nn.Partitioned))
  for leaf in leaves:
    assert isinstance(leaf, nn.Partitioned), "a parameter lacks logical axis names"
    assert len(leaf.names) == leaf.value.ndim


def test_mdm_denoise_is_subs():
  cfg, model, variables, tokens, order = setup("mdm")
  noisy = tokens.at[:, ::2].set(cfg.vocab_size)
  logits = model.apply(variables, noisy, method=models.MaskedDiffusion.denoise)
  assert logits.shape == (*tokens.shape, cfg.vocab_size)  # MASK is never predicted
  visible = jnp.argmax(logits[:, 1::2], -1)
  np.testing.assert_array_equal(visible, tokens[:, 1::2])
  np.testing.assert_allclose(jax.nn.softmax(logits[:, 1::2]).max(-1), 1.0)
  assert (jax.nn.softmax(logits[:, ::2]).max(-1) < 0.999).all()


@pytest.mark.parametrize("arch", models.ARCHS)
def test_bad_inputs_get_clear_errors(arch):
  cfg, model, variables, tokens, order = setup(arch)
  apply = lambda t, o: model.apply(variables, t, o)
  with pytest.raises(ValueError, match="not a permutation"):
    apply(tokens, order.at[0, 0].set(order[0, 1]))
  with pytest.raises(ValueError, match=r"tokens must lie in \[0, 7\)"):
    apply(tokens.at[1, 2].set(V), order)
  long = jnp.zeros((1, 9), jnp.int32)
  with pytest.raises(ValueError, match="exceeds ModelConfig.max_len=8"):
    apply(long, jnp.arange(9)[None])
  with pytest.raises(ValueError, match="order shape"):
    apply(tokens, order[:, :-1])


def test_ar_rejects_other_orders():
  cfg, model, variables, tokens, order = setup("ar")
  with pytest.raises(ValueError, match="left-to-right only"):
    model.apply(variables, tokens, order[:, ::-1])


@pytest.mark.parametrize("kwargs, match", [
    (dict(arch="xlnet"), "unknown architecture"),
    (dict(d_model=30, num_heads=4), "not divisible by num_heads"),
    (dict(d_model=36, num_heads=4), "odd head dimension 9"),
    (dict(dtype="float16"), "unsupported dtype"),
    (dict(num_layers=0), "positive integer"),
    (dict(mlp_activation="relu"), "unknown activation"),
])
def test_bad_config_values_are_named(kwargs, match):
  with pytest.raises(ValueError, match=match):
    make_config(**{"arch": "two_stream", **kwargs})


def test_sizes_table():
  cfg = models.ModelConfig.from_size("small", arch="two_stream", vocab_size=27,
                                     max_len=128)
  assert (cfg.num_layers, cfg.d_model, cfg.num_heads) == (8, 256, 8)
  with pytest.raises(ValueError, match="unknown model size"):
    models.ModelConfig.from_size("huge", arch="ar", vocab_size=2, max_len=2)


def test_mdm_init_runs_one_denoising_pass_not_one_per_step():
  """init skips the B * L passes of the exact contract (eagerly, at L = 1024,
  they would not fit in memory); apply still runs them."""
  cfg, model, variables, tokens, order = setup("mdm")
  batches = []

  def spy(next_fun, args, kwargs, context):
    if context.method_name == "denoise":
      batches.append(args[0].shape[0])
    return next_fun(*args, **kwargs)

  with nn.intercept_methods(spy):
    model.init(jax.random.key(0), tokens, order)
    assert batches == [tokens.shape[0]]
    model.apply(variables, tokens, order)
  assert batches[1] == tokens.shape[0] * tokens.shape[1]
