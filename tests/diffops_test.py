"""Autodiff operators against closed forms and float64 finite differences."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from siren_jax import diffops, fitting, layers


@pytest.fixture(autouse=True)
def float64():
  """float64 for these tests only (a global flag would leak into the rest of the suite)."""
  with jax.enable_x64(True):
    yield


def scalar_field(p):
  y, x = p[0], p[1]
  return jnp.sin(2 * x) * jnp.cos(3 * y) + x**2 * y


def scalar_gradient(p):
  y, x = p[..., 0], p[..., 1]
  d_dy = -3 * jnp.sin(2 * x) * jnp.sin(3 * y) + x**2
  d_dx = 2 * jnp.cos(2 * x) * jnp.cos(3 * y) + 2 * x * y
  return jnp.stack([d_dy, d_dx], axis=-1)


def scalar_laplacian(p):
  y, x = p[..., 0], p[..., 1]
  return -13 * jnp.sin(2 * x) * jnp.cos(3 * y) + 2 * y


def vector_field(p):  # F = (y^2 x, sin(x) y^3): div F = 2 x y + 3 sin(x) y^2 ... (d/dy, d/dx)
  y, x = p[0], p[1]
  return jnp.stack([y**2 * x, jnp.sin(x) * y**3])


def _points(n=64, d=2, seed=0):
  return jax.random.uniform(jax.random.PRNGKey(seed), (n, d), jnp.float64, -1.0, 1.0)


def test_gradient_and_laplacian_match_closed_form():
  p = _points()
  np.testing.assert_allclose(diffops.gradient(scalar_field, p), scalar_gradient(p), atol=1e-12)
  np.testing.assert_allclose(diffops.laplacian(scalar_field, p), scalar_laplacian(p), atol=1e-11)


def test_vector_field_channels_and_divergence_match_closed_form():
  p = _points()
  y, x = p[:, 0], p[:, 1]
  # Component 0 = y^2 x is differentiated along axis 0 (y); component 1 along axis 1 (x).
  np.testing.assert_allclose(diffops.divergence(vector_field, p),
                             2 * y * x + jnp.cos(x) * y**3, atol=1e-12)
  jac = diffops.jacobian(vector_field, p)
  assert jac.shape == (64, 2, 2)
  np.testing.assert_allclose(jac[:, 1, 0], 3 * jnp.sin(x) * y**2, atol=1e-12)
  lap = diffops.laplacian(vector_field, p)
  assert lap.shape == (64, 2)
  np.testing.assert_allclose(lap[:, 0], 2 * x, atol=1e-11)
  np.testing.assert_allclose(lap[:, 1], 6 * jnp.sin(x) * y - jnp.sin(x) * y**3, atol=1e-11)


def test_three_dimensional_coordinates():
  f = lambda p: jnp.sum(p**3)
  p = _points(d=3)
  np.testing.assert_allclose(diffops.laplacian(f, p), 6 * p.sum(-1), atol=1e-11)


def test_divergence_rejects_non_square_field():
  with pytest.raises(ValueError, match='divergence needs'):
    diffops.divergence(lambda p: jnp.ones(3) * p[0], _points(4))


def test_coords_must_be_a_batch():
  with pytest.raises(ValueError, match=r'\(N, d\)'):
    diffops.laplacian(scalar_field, jnp.zeros(2))


def _siren_field(channels=3, seed=0):
  params = layers.siren_init(jax.random.PRNGKey(seed), [2, 64, 64, channels])
  params = jax.tree.map(lambda a: a.astype(jnp.float64), params)
  return params, lambda p: layers.siren_apply(params, p)


def test_siren_derivatives_match_finite_differences():
  _, f = _siren_field()
  p = _points(32)
  h = 1e-5
  eye = jnp.eye(2, dtype=jnp.float64) * h
  fd_grad = jnp.stack([(jax.vmap(f)(p + e) - jax.vmap(f)(p - e)) / (2 * h) for e in eye], -1)
  np.testing.assert_allclose(diffops.gradient(f, p), fd_grad, rtol=1e-6, atol=1e-6)
  h = 1e-4
  eye = jnp.eye(2, dtype=jnp.float64) * h
  fd_lap = sum((jax.vmap(f)(p + e) - 2 * jax.vmap(f)(p) + jax.vmap(f)(p - e)) / h**2
               for e in eye)
  lap = diffops.laplacian(f, p)
  np.testing.assert_allclose(lap, fd_lap, rtol=1e-4, atol=1e-3 * float(jnp.abs(lap).max()))


def test_laplacian_is_jittable_and_differentiable_in_parameters():
  params, _ = _siren_field(channels=1)
  p = _points(16)

  def loss(params):
    f = lambda q: layers.siren_apply(params, q)
    return jnp.mean(diffops.laplacian(f, p) ** 2)

  grads = jax.jit(jax.grad(loss))(params)
  direction = jax.tree.map(lambda a: jax.random.normal(jax.random.PRNGKey(5), a.shape, a.dtype),
                           params)
  eps = 1e-6
  shifted = lambda s: jax.tree.map(lambda a, d: a + s * eps * d, params, direction)
  fd = (loss(shifted(1.0)) - loss(shifted(-1.0))) / (2 * eps)
  analytic = sum(jnp.vdot(g, d) for g, d in zip(jax.tree.leaves(grads),
                                                 jax.tree.leaves(direction)))
  np.testing.assert_allclose(analytic, fd, rtol=1e-5)


# diffops.gradient_and_laplacian (one pass for both) and fitting.derivatives (chunked over an
# image).

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
