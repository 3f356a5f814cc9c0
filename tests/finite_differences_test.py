"""Finite-difference derivatives of images are in coordinate units."""

import numpy as np

from siren_jax import finite_differences, grids


def _sample(fn, height, width):
  grid = np.asarray(grids.make_grid(height, width), np.float64)
  return fn(grid[..., 0], grid[..., 1])[..., None]


def test_sobel_gradient_of_a_ramp_is_its_slope():
  image = _sample(lambda y, x: 0.3 * y - 0.7 * x, 16, 24)
  grad = finite_differences.sobel_gradient(image)
  assert grad.shape == (16, 24, 1, 2)
  np.testing.assert_allclose(grad[2:-2, 2:-2, 0, 0], 0.3, rtol=1e-5)  # The grid is float32.
  np.testing.assert_allclose(grad[2:-2, 2:-2, 0, 1], -0.7, rtol=1e-5)  # The grid is float32.


def test_gradients_converge_to_the_analytic_gradient():
  f = lambda y, x: np.sin(2 * x) * np.cos(y)
  errors = []
  for n in (32, 64):
    image = _sample(f, n, n)
    grid = np.asarray(grids.make_grid(n, n), np.float64)
    exact_dx = 2 * np.cos(2 * grid[..., 1]) * np.cos(grid[..., 0])
    for grad in (finite_differences.sobel_gradient(image),
                 finite_differences.central_gradient(image)):
      errors.append(np.abs(grad[4:-4, 4:-4, 0, 1] - exact_dx[4:-4, 4:-4]).max())
  assert errors[2] < errors[0] / 3 and errors[3] < errors[1] / 3  # Second-order convergence.


def test_laplacian_of_a_quadratic_is_constant():
  image = _sample(lambda y, x: 2 * y**2 + 3 * x**2 + x * y, 20, 12)
  lap = finite_differences.laplacian(image)
  np.testing.assert_allclose(lap[1:-1, 1:-1], 10.0, rtol=1e-5)
