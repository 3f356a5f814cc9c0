"""siren_jax.poisson.solvers: the direct solutions from a gradient or a Laplacian (exact on
stencil derivatives and on band-limited fields, against a float64 least-squares solve), and
the fair comparisons (match_mean / match_affine / fair_psnr, with and without a mask).

The spectral solver's field is the band-limited interpolant of its pixels under mirrored
(Neumann) borders: u(y, x) = sum_{k<H, l<W} c_kl cos(pi k (y + 1) / 2) cos(pi l (x + 1) / 2),
the DCT-II basis at the pixel centres y_n = -1 + (2 n + 1) / H. Its exact derivative along y is
-sum c_kl (pi k / 2) sin(pi k (y + 1) / 2) cos(pi l (x + 1) / 2). For ANY target (not only a
gradient) the solver must return the mean-zero u minimising ||d/dy u - g_y||^2 + ||d/dx u - g_x||^2
at the pixel centres, which numpy.linalg.lstsq computes here from those matrices directly.
"""

import numpy as np
import pytest

from siren_jax import finite_differences
from siren_jax.poisson import solvers, targets
from tests.helpers import cosine_field


def test_stencil_solvers_recover_a_random_field_exactly_up_to_the_constant():
  field = np.random.default_rng(0).normal(size=(12, 10, 3))
  expected = field - field.mean(axis=(0, 1))
  from_grad = solvers.solve_from_gradient(finite_differences.sobel_gradient(field), 'stencil')
  from_lap = solvers.solve_from_laplacian(finite_differences.laplacian(field), 'stencil')
  np.testing.assert_allclose(from_grad, expected, atol=1e-10)
  np.testing.assert_allclose(from_lap, expected, atol=1e-10)


def test_spectral_solvers_recover_a_band_limited_field_from_exact_derivatives():
  field, grad, lap = cosine_field(12, 10, channels=3)
  expected = field - field.mean(axis=(0, 1))
  np.testing.assert_allclose(solvers.solve_from_gradient(grad), expected, atol=1e-5)
  np.testing.assert_allclose(solvers.solve_from_laplacian(lap), expected, atol=1e-5)


def test_solve_from_gradient_handles_every_rgb_channel_independently():
  image = np.random.default_rng(1).uniform(-1, 1, size=(8, 8, 3))
  together = solvers.solve_from_gradient(targets.gradient_target(image))
  for c in range(3):
    alone = solvers.solve_from_gradient(targets.gradient_target(image[..., c:c + 1]))
    np.testing.assert_allclose(together[..., c:c + 1], alone, atol=1e-6)


def test_match_mean_and_affine_remove_the_free_terms():
  image = np.random.default_rng(3).uniform(-1, 1, size=(6, 7, 2))
  ys, xs = np.meshgrid(np.linspace(-1, 1, 6), np.linspace(-1, 1, 7), indexing='ij')
  np.testing.assert_allclose(solvers.match_mean(image + 0.4, image), image, atol=1e-6)
  tilted = image + (0.2 + 0.3 * ys - 0.1 * xs)[..., None]
  np.testing.assert_allclose(solvers.match_affine(tilted, image), image, atol=1e-6)


@pytest.mark.parametrize('shape', [(4, 4, 2), (4, 4, 1, 3)])
def test_solve_from_gradient_needs_an_h_w_c_2_field(shape):
  with pytest.raises(ValueError, match=r'gradient must have shape \(H, W, C, 2\)'):
    solvers.solve_from_gradient(np.zeros(shape))


@pytest.mark.parametrize('stencil', solvers.STENCILS)
# 0/0 is computed in the discarded branch of the pseudo-inverse's np.where (every mode is 0).
@pytest.mark.filterwarnings('ignore:invalid value encountered in divide:RuntimeWarning')
def test_a_one_pixel_image_solves_to_zero(stencil):
  # Every mode of a 1 x 1 image is the constant (or Nyquist, which is not in the mirrored
  # subspace): nothing to recover but the mean, which is removed.
  for field in (solvers.solve_from_gradient(np.ones((1, 1, 2, 2)), stencil),
                solvers.solve_from_laplacian(np.ones((1, 1, 2)), stencil)):
    np.testing.assert_array_equal(field, np.zeros((1, 1, 2)))


def test_match_mean_uses_only_the_masked_pixels():
  # Reference 1 inside the mask (the left 2 of 4 columns) and 5 outside; a zero field shifted to
  # the reference's mean *inside the mask* is 1 everywhere (over all pixels it would be 3).
  reference = np.full((3, 4, 1), 5.0)
  reference[:, :2] = 1.0
  mask = np.zeros((3, 4), bool)
  mask[:, :2] = True
  np.testing.assert_allclose(solvers.match_mean(np.zeros((3, 4, 1)), reference, mask), 1.0)
  np.testing.assert_allclose(solvers.match_mean(np.zeros((3, 4, 1)), reference), 3.0)
  # A (H, W, 1) mask means the same.
  np.testing.assert_allclose(solvers.match_mean(np.zeros((3, 4, 1)), reference, mask[..., None]),
                             1.0)


def test_match_mean_shifts_each_channel_by_its_own_offset():
  field = np.stack([np.full((2, 2), 0.0), np.full((2, 2), 10.0)], axis=-1)
  reference = np.stack([np.full((2, 2), 0.5), np.full((2, 2), -0.5)], axis=-1)
  np.testing.assert_allclose(solvers.match_mean(field, reference), reference)


def test_fair_psnr_with_a_mask_ignores_errors_outside_it():
  # Inside the mask the field equals the reference + 0.2 (removed by the mean match); outside
  # it is off by 0.6 after the shift. PSNR on [-1, 1] = 10 log10(4 / MSE): MSE = 0.6^2 / 2
  # (half the pixels are outside) -> 10 log10(4 / 0.18) = 13.468 dB.
  reference = np.zeros((2, 4, 1))
  field = np.full((2, 4, 1), 0.2)
  field[:, 2:] = 0.8
  mask = np.zeros((2, 4), bool)
  mask[:, :2] = True
  assert solvers.fair_psnr(field, reference, mask) == pytest.approx(10 * np.log10(4 / 0.18),
                                                                    abs=1e-4)


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
  np.testing.assert_allclose(solvers.solve_from_gradient(g)[..., 0], expected, atol=1e-9)


def test_solvers_take_targets_in_the_units_of_either_grid():
  # The same pixels on the linspace grid: pixel spacing 2/(n - 1) instead of 2/n, so the
  # derivatives in its coordinate units are the half_pixel ones times (n - 1)/n per axis
  # (squared for the second derivatives of the Laplacian); the solution is the same image.
  height, width = 12, 10
  field, grad, _ = cosine_field(height, width, channels=2)
  ratio = np.array([(height - 1) / height, (width - 1) / width])
  expected = field - field.mean(axis=(0, 1))
  np.testing.assert_allclose(solvers.solve_from_gradient(grad * ratio, grid='linspace'),
                             expected, atol=1e-5)
  for stencil in solvers.STENCILS[1:]:
    for target, solve in ((targets.gradient_target, solvers.solve_from_gradient),
                          (targets.laplacian_target, solvers.solve_from_laplacian)):
      solved = solve(target(field, 'linspace'), stencil, 'linspace')
      np.testing.assert_allclose(solved, expected, atol=1e-5)
      # Given the half_pixel grid instead, the linspace target's units are off.
      assert np.abs(solve(target(field, 'linspace'), stencil) - expected).max() > 1e-2
