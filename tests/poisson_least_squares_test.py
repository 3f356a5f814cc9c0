"""poisson.solve_from_gradient('spectral') against a least-squares solve written out in float64.

The spectral solver's field is the band-limited interpolant of its pixels under mirrored
(Neumann) borders: u(y, x) = sum_{k<H, l<W} c_kl cos(pi k (y + 1) / 2) cos(pi l (x + 1) / 2),
the DCT-II basis at the pixel centres y_n = -1 + (2 n + 1) / H. Its exact derivative along y is
-sum c_kl (pi k / 2) sin(pi k (y + 1) / 2) cos(pi l (x + 1) / 2). For ANY target (not only a
gradient) the solver must return the mean-zero u minimising ||d/dy u - g_y||^2 + ||d/dx u - g_x||^2
at the pixel centres, which numpy.linalg.lstsq computes here from those matrices directly.
"""

import numpy as np
import pytest

from siren_jax import poisson


def _basis(n):
  """(values, derivatives) of the n cosine modes at the n pixel centres: two (n, n) matrices."""
  t = (2 * np.arange(n) + 1) / n / 2  # (y + 1) / 2 at the centres.
  k = np.arange(n)
  return np.cos(np.pi * np.outer(t, k)), -(np.pi * k / 2) * np.sin(np.pi * np.outer(t, k))


@pytest.mark.parametrize('height, width', [(5, 4), (6, 7)])
def test_spectral_gradient_solve_is_the_least_squares_band_limited_field(height, width):
  g = np.random.default_rng(height).normal(size=(height, width, 1, 2))
  cy, dy = _basis(height)
  cx, dx = _basis(width)
  # Row-major pixels, row-major (k, l) coefficients: d/dy acts on rows, d/dx on columns.
  values, grad_y, grad_x = np.kron(cy, cx), np.kron(dy, cx), np.kron(cy, dx)
  system = np.concatenate([grad_y, grad_x])
  target = np.concatenate([g[..., 0, 0].ravel(), g[..., 0, 1].ravel()])
  coeffs, *_ = np.linalg.lstsq(system, target, rcond=None)
  expected = (values @ coeffs).reshape(height, width)
  expected -= expected.mean()  # The constant (k = l = 0) is free; the solver returns mean 0.
  np.testing.assert_allclose(poisson.solve_from_gradient(g)[..., 0], expected, atol=1e-9)
