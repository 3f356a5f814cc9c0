"""fast_sine: float32 sin/cos against float64 NumPy, and exact derivative rules."""

import jax
import jax.numpy as jnp
import numpy as np

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
