"""diffops.gradient_and_laplacian against the separate operators and a closed form."""

import jax
import jax.numpy as jnp
import numpy as np

from siren_jax import diffops, fitting, layers


def test_matches_closed_form_of_a_two_channel_field():
  # f(y, x) = (sin(2y) cos(3x), y^2 x): grad and Laplacian by hand.
  fn = lambda p: jnp.stack([jnp.sin(2 * p[0]) * jnp.cos(3 * p[1]), p[0] ** 2 * p[1]])
  coords = jax.random.uniform(jax.random.PRNGKey(0), (50, 2), minval=-1, maxval=1)
  y, x = np.asarray(coords[:, 0], np.float64), np.asarray(coords[:, 1], np.float64)
  grad, lap = diffops.gradient_and_laplacian(fn, coords)
  expected_grad = np.stack([
      np.stack([2 * np.cos(2 * y) * np.cos(3 * x), -3 * np.sin(2 * y) * np.sin(3 * x)], -1),
      np.stack([2 * y * x, y ** 2], -1)], 1)
  expected_lap = np.stack([-13 * np.sin(2 * y) * np.cos(3 * x), 2 * x], -1)
  np.testing.assert_allclose(grad, expected_grad, atol=1e-5)
  np.testing.assert_allclose(lap, expected_lap, atol=1e-4)


def test_scalar_field_shapes_and_siren_agree_with_separate_operators():
  model = layers.Siren(out_features=1, hidden_features=16, hidden_layers=1)
  params = model.init(jax.random.PRNGKey(1), jnp.zeros((1, 2)))['params']
  apply_fn = lambda p, x: model.apply({'params': p}, x)
  coords = jax.random.uniform(jax.random.PRNGKey(2), (40, 2), minval=-1, maxval=1)
  fn = diffops.pointwise(apply_fn, params)
  grad, lap = fitting.derivatives(apply_fn, params, coords, chunk_size=16)
  np.testing.assert_allclose(grad, diffops.gradient(fn, coords), rtol=1e-5, atol=1e-4)
  np.testing.assert_allclose(lap, diffops.laplacian(fn, coords), rtol=1e-5, atol=1e-2)
  scalar = lambda p: jnp.sum(p ** 2)
  g, l = diffops.gradient_and_laplacian(scalar, coords)
  assert g.shape == (40, 2) and l.shape == (40,)
  np.testing.assert_allclose(g, 2 * coords, rtol=1e-6)
  np.testing.assert_allclose(l, 4.0, rtol=1e-6)
