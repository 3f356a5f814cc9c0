"""fast_sine: float32 sin/cos against float64 NumPy, and exact derivative rules."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from siren_jax import fast_sine, layers


def _inputs() -> np.ndarray:
  rng = np.random.default_rng(0)
  edges = np.array([0.0, -0.0, np.pi / 2, np.pi, -np.pi, 3 * np.pi / 2, 1e-30, 1e3, -1e3])
  return np.concatenate([np.linspace(-400, 400, 200_001), rng.normal(0, 100, 10_000),
                         edges]).astype(np.float32)


def test_sin_and_cos_match_float64_numpy():
  x = _inputs()
  exact = x.astype(np.float64)
  np.testing.assert_allclose(np.asarray(fast_sine.sin(jnp.asarray(x))), np.sin(exact), rtol=0,
                             atol=5e-7)
  np.testing.assert_allclose(np.asarray(fast_sine.cos(jnp.asarray(x))), np.cos(exact), rtol=0,
                             atol=5e-7)


def test_derivatives_are_those_of_sine_to_any_order():
  x = jnp.asarray(np.linspace(-50, 50, 1001, dtype=np.float32))
  d1 = jax.vmap(jax.grad(fast_sine.sin))(x)
  d2 = jax.vmap(jax.grad(jax.grad(fast_sine.sin)))(x)
  d3 = jax.vmap(lambda v: jax.jvp(jax.grad(jax.grad(fast_sine.sin)), (v,), (1.0,))[1])(x)
  exact = np.asarray(x, np.float64)
  np.testing.assert_allclose(d1, np.cos(exact), atol=5e-7)
  np.testing.assert_allclose(d2, -np.sin(exact), atol=5e-7)
  np.testing.assert_allclose(d3, -np.cos(exact), atol=5e-7)


def test_other_dtypes_fall_back_to_jnp():
  x = jnp.linspace(-10, 10, 101, dtype=jnp.bfloat16)
  np.testing.assert_array_equal(np.asarray(fast_sine.sin(x), np.float32),
                                np.asarray(jnp.sin(x), np.float32))
  np.testing.assert_array_equal(np.asarray(fast_sine.cos(x), np.float32),
                                np.asarray(jnp.cos(x), np.float32))


def test_sine_layer_matches_jnp_sin_layer():
  params = layers.sine_layer_init(jax.random.PRNGKey(0), 64, 64)
  x = jax.random.uniform(jax.random.PRNGKey(1), (256, 64), minval=-1, maxval=1)
  expected = jnp.sin(30.0 * (x @ params['kernel'] + params['bias']))
  np.testing.assert_allclose(layers.sine_layer_apply(params, x), expected, atol=1e-6)


# The sine per platform (fast_sine.sine).

def _lowered(impl: str, platform: str) -> str:
  """StableHLO of sine(x, impl) exported for ``platform`` (no such device needed)."""
  x = jnp.zeros((8,), jnp.float32)
  return jax.export.export(jax.jit(lambda v: fast_sine.sine(v, impl)),
                           platforms=[platform])(x).mlir_module()


def test_auto_compiles_the_polynomial_for_the_cpu_and_the_hardware_sine_elsewhere():
  # The polynomial rounds x / pi (no sine op); jnp.sin is one stablehlo.sine.
  assert 'stablehlo.sine' not in _lowered('auto', 'cpu') and 'round' in _lowered('auto', 'cpu')
  for platform in ('cuda', 'rocm', 'tpu'):
    assert 'stablehlo.sine' in _lowered('auto', platform), platform
    assert 'round' not in _lowered('auto', platform), platform
  assert 'stablehlo.sine' not in _lowered('fast_sine', 'cuda')
  assert 'stablehlo.sine' in _lowered('jnp', 'cpu')


def test_every_sine_matches_float64_numpy_with_exact_derivatives():
  x = jnp.asarray(np.linspace(-50, 50, 1001, dtype=np.float32))
  exact = np.asarray(x, np.float64)
  for impl in fast_sine.SINES:
    f = jax.jit(lambda v, impl=impl: fast_sine.sine(v, impl))
    np.testing.assert_allclose(f(x), np.sin(exact), atol=5e-7, err_msg=impl)
    d1 = jax.vmap(jax.grad(lambda v, impl=impl: fast_sine.sine(v, impl)))(x)
    d2 = jax.vmap(jax.grad(jax.grad(lambda v, impl=impl: fast_sine.sine(v, impl))))(x)
    np.testing.assert_allclose(d1, np.cos(exact), atol=5e-7, err_msg=impl)
    np.testing.assert_allclose(d2, -np.sin(exact), atol=5e-7, err_msg=impl)


def test_an_unknown_sine_is_a_value_error():
  with pytest.raises(ValueError, match="unknown sine 'fast'; choose from auto, fast_sine, jnp"):
    fast_sine.sine(jnp.zeros(2), 'fast')


def test_siren_layers_take_the_sine_switch():
  # sine_layer_apply on a hand-made layer: sin(2 * (x @ k + b)) worked in float64 NumPy.
  x = np.array([[0.3, -0.7], [1.1, 0.4]], np.float32)
  kernel = np.array([[1.5, -2.0, 0.5], [0.25, 1.0, -3.0]], np.float32)
  bias = np.array([0.1, -0.2, 0.3], np.float32)
  expected = np.sin(2.0 * (x.astype(np.float64) @ kernel + bias))
  for impl in fast_sine.SINES:
    out = layers.sine_layer_apply({'kernel': kernel, 'bias': bias}, x, 2.0, sine=impl)
    np.testing.assert_allclose(out, expected, atol=2e-6, err_msg=impl)
  model = layers.Siren(out_features=1, hidden_features=8, hidden_layers=1, sine='jnp')
  params = model.init(jax.random.PRNGKey(0), x)['params']
  fast = layers.Siren(out_features=1, hidden_features=8, hidden_layers=1, sine='fast_sine')
  np.testing.assert_allclose(model.apply({'params': params}, x),
                             fast.apply({'params': params}, x), atol=1e-5)
