"""siren_jax.finite_differences against closed forms and scipy, on square and non-square
images (each axis must use its own pixel spacing)."""

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


def _field(height, width):
  """Pixel centres in float64, written out: y_i = -1 + (2 i + 1) / H, x_j likewise."""
  y = -1 + (2 * np.arange(height) + 1) / height
  x = -1 + (2 * np.arange(width) + 1) / width
  return np.meshgrid(y, x, indexing='ij')


def test_pixel_spacing_is_two_over_rows_and_two_over_columns():
  assert finite_differences.pixel_spacing(8, 32) == (0.25, 0.0625)


def test_laplacian_of_a_quadratic_on_a_non_square_image():
  # f = y^2 + 3 x^2: the five-point stencil is exact on quadratics, so the interior is
  # d2f/dy2 + d2f/dx2 = 2 + 6 = 8 whatever the spacings -- if each axis uses its own.
  y, x = _field(8, 20)
  lap = finite_differences.laplacian((y**2 + 3 * x**2)[..., None])
  np.testing.assert_allclose(lap[1:-1, 1:-1, 0], 8.0, rtol=1e-9)


def test_gradients_of_a_plane_on_a_non_square_image():
  # f = 2 y - 5 x: Sobel and central differences are exact on planes in the interior.
  y, x = _field(6, 14)
  image = (2 * y - 5 * x)[..., None]
  for grad in (finite_differences.sobel_gradient(image),
               finite_differences.central_gradient(image)):
    np.testing.assert_allclose(grad[1:-1, 1:-1, 0, 0], 2.0, rtol=1e-9)
    np.testing.assert_allclose(grad[1:-1, 1:-1, 0, 1], -5.0, rtol=1e-9)
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
