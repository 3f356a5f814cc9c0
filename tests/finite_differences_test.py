"""Tests of siren_jax.finite_differences against closed forms."""

import numpy as np
import scipy.ndimage

from siren_jax import finite_differences, grids


def _plane(height: int, width: int, a: float, b: float) -> np.ndarray:
  """a y + b x on the pixel-centre grid: (H, W, 1)."""
  coords = np.asarray(grids.make_grid(height, width), np.float64)
  return (a * coords[..., 0] + b * coords[..., 1])[..., None]


def test_sobel_gradient_of_a_plane_is_its_slope_in_coordinate_units():
  grad = finite_differences.sobel_gradient(_plane(16, 12, 0.7, -1.3))
  np.testing.assert_allclose(grad[2:-2, 2:-2, 0, 0], 0.7, rtol=1e-6)
  np.testing.assert_allclose(grad[2:-2, 2:-2, 0, 1], -1.3, rtol=1e-6)


def test_sobel_gradient_treats_channels_independently():
  image = np.random.default_rng(0).normal(size=(9, 8, 3))
  grad = finite_differences.sobel_gradient(image)
  for c in range(3):
    single = finite_differences.sobel_gradient(image[..., c:c + 1])
    np.testing.assert_allclose(grad[:, :, c], single[:, :, 0])


def test_sobel_gradient_matches_scipy_sobel_on_one_channel():
  image = np.random.default_rng(1).normal(size=(10, 7))
  grad = finite_differences.sobel_gradient(image[..., None])
  h_y, h_x = finite_differences.pixel_spacing(10, 7)
  np.testing.assert_allclose(grad[:, :, 0, 0], scipy.ndimage.sobel(image, axis=0) / (8 * h_y))
  np.testing.assert_allclose(grad[:, :, 0, 1], scipy.ndimage.sobel(image, axis=1) / (8 * h_x))


def test_laplacian_of_a_quadratic_is_constant():
  coords = np.asarray(grids.make_grid(16, 16), np.float64)
  image = (coords[..., 0] ** 2 + 2 * coords[..., 1] ** 2)[..., None]
  np.testing.assert_allclose(finite_differences.laplacian(image)[1:-1, 1:-1], 6.0, rtol=1e-5)


def test_gradients_converge_to_the_analytic_gradient():
  errors = []
  for n in (32, 64):
    grid = np.asarray(grids.make_grid(n, n), np.float64)
    image = (np.sin(2 * grid[..., 1]) * np.cos(grid[..., 0]))[..., None]
    exact_dx = 2 * np.cos(2 * grid[..., 1]) * np.cos(grid[..., 0])
    for grad in (finite_differences.sobel_gradient(image),
                 finite_differences.central_gradient(image)):
      errors.append(np.abs(grad[4:-4, 4:-4, 0, 1] - exact_dx[4:-4, 4:-4]).max())
  assert errors[2] < errors[0] / 3 and errors[3] < errors[1] / 3  # Second-order convergence.


def test_derivatives_on_the_linspace_grid_are_in_its_coordinate_units():
  # a y + b x and y^2 + 2 x^2 sampled at linspace(-1, 1, n): slopes and Laplacian 6 exactly
  # when the spacing is 2 / (n - 1); the half_pixel spacing 2 / n would scale them by
  # (n - 1) / n (and its square).
  ys, xs = np.meshgrid(np.linspace(-1, 1, 16), np.linspace(-1, 1, 12), indexing='ij')
  plane = (0.7 * ys - 1.3 * xs)[..., None]
  for gradient in (finite_differences.sobel_gradient(plane, grid='linspace'),
                   finite_differences.central_gradient(plane, grid='linspace')):
    np.testing.assert_allclose(gradient[2:-2, 2:-2, 0], np.broadcast_to([0.7, -1.3], (12, 8, 2)),
                               rtol=1e-9)
  quadratic = (ys**2 + 2 * xs**2)[..., None]
  np.testing.assert_allclose(finite_differences.laplacian(quadratic, grid='linspace')[1:-1, 1:-1],
                             6.0, rtol=1e-9)
  assert finite_differences.pixel_spacing(16, 12, 'linspace') == (2 / 15, 2 / 11)
