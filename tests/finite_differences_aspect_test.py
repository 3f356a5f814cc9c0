"""Finite differences on non-square images: each axis must use its own pixel spacing."""

import numpy as np

from siren_jax import finite_differences


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
