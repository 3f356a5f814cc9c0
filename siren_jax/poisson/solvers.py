"""Direct solutions of the Poisson problems of ``siren_jax.poisson.targets``, and fair comparison
with them.

Fairness. A field supervised by a gradient is defined up to a constant, one supervised by a
Laplacian up to a harmonic function. ``match_mean`` removes the constant (shift the field so its
mean equals the reference's, optionally over a mask) before any PSNR; ``match_affine`` also removes
the harmonic planes a + b y + c x, an extra for Laplacian fits.

Direct solver. ``solve_from_gradient``/``solve_from_laplacian`` solve the problem in the Fourier
basis of the image mirrored across its borders (2H x 2W, periodic; the mirror makes every border
Neumann, like scipy's 'reflect'). Two operators:
  'spectral' (default): the field is the band-limited (trigonometric) interpolant of its pixels,
     and its *exact* derivatives at the pixel centres must match the target in least squares --
     the problem a SIREN is trained on (autodiff derivatives at pixel centres). Well conditioned:
     only the constant is invisible. For a finite-difference target it returns the image seen
     through the stencil (Sobel/five-point vs exact derivative: a mild low-pass).
  'stencil': inverts the finite-difference operator that made the target (Sobel with reflect
     borders, or the five-point Laplacian) in least squares: exactly the image for a target made
     from one. Sobel barely sees modes near the Nyquist frequency, so for a composed (not
     integrable) gradient field this amplifies them into a checkerboard; use it only to check
     targets.
The constant is returned as 0 (mean-zero result). Targets and solutions are in the coordinate
units of a grid convention (``grid``, see ``grids``): give the solver the one the target was made
on; the solution, in image values, is then the same for either.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from siren_jax import finite_differences, grids, metrics
from siren_jax.poisson.targets import check_mask


def _mirror(field: np.ndarray, odd_y: bool = False, odd_x: bool = False) -> np.ndarray:
  """(H, W, ...) -> (2H, 2W, ...) half-sample symmetric extension (antisymmetric along odd axes)."""
  flipped_y = -field[::-1] if odd_y else field[::-1]
  tall = np.concatenate([field, flipped_y], axis=0)
  flipped_x = -tall[:, ::-1] if odd_x else tall[:, ::-1]
  return np.concatenate([tall, flipped_x], axis=1)


STENCILS = ('spectral', 'stencil')


def _stencil_transfer(operator: Callable[[np.ndarray], np.ndarray], height: int,
                      width: int) -> np.ndarray:
  """FFT of a periodic (mode='wrap') operator's response to a unit impulse on the 2H x 2W grid.

  ``finite_differences`` scales by the half_pixel spacing of the grid it is given (2/(2H));
  the caller corrects to the image's spacing (``_mirror_ratio``).
  """
  impulse = np.zeros((2 * height, 2 * width, 1))
  impulse[0, 0, 0] = 1.0
  response = operator(impulse)[:, :, 0]
  return np.fft.fft2(response, axes=(0, 1))


def _mirror_ratio(height: int, width: int, grid: str) -> np.ndarray:
  """(2,): the spacing ``_stencil_transfer`` divides by over the image's spacing on ``grid``,
  per axis (y, x): 1/2 on the half_pixel grid."""
  mirrored = finite_differences.pixel_spacing(2 * height, 2 * width)
  image = finite_differences.pixel_spacing(height, width, grid)
  return np.asarray(mirrored) / np.asarray(image)


def _gradient_transfer(height: int, width: int, stencil: str, grid: str) -> np.ndarray:
  """(2H, 2W, 2) complex transfer function of (d/dy, d/dx) on the mirrored grid."""
  if stencil == 'stencil':
    return _mirror_ratio(height, width, grid) * _stencil_transfer(
        lambda x: finite_differences.sobel_gradient(x, mode='wrap'), height, width)
  h_y, h_x = finite_differences.pixel_spacing(height, width, grid)
  omega_y = 2 * np.pi * np.fft.fftfreq(2 * height, d=h_y)
  omega_x = 2 * np.pi * np.fft.fftfreq(2 * width, d=h_x)
  # The Nyquist modes are not in the mirrored (even) subspace; keep their derivative real (0).
  omega_y[height], omega_x[width] = 0.0, 0.0
  grid_y, grid_x = np.meshgrid(omega_y, omega_x, indexing='ij')
  return np.stack([1j * grid_y, 1j * grid_x], axis=-1)


def _check_stencil(stencil: str) -> None:
  if stencil not in STENCILS:
    raise ValueError(f'unknown stencil {stencil!r}; choose from {", ".join(STENCILS)}')


def solve_from_gradient(grad: np.ndarray, stencil: str = 'spectral',
                        grid: str = grids.HALF_PIXEL) -> np.ndarray:
  """Least-squares field u whose gradient is closest to ``grad`` (Neumann borders), mean zero.

  Args:
    grad: (H, W, C, 2) target gradient (d/dy, d/dx) in coordinate units (``gradient_target``);
      need not be a gradient (composed fields are not).
    stencil: 'spectral' (exact derivatives of the band-limited field) or 'stencil' (Sobel; see
      the module docstring).
    grid: the grid convention whose coordinate units ``grad`` is in.
  Returns:
    (H, W, C) float64. Exact (minus the mean) for a band-limited field's exact gradient
    ('spectral') or for grad = gradient_target(image) ('stencil').
  """
  _check_stencil(stencil)
  grad = np.asarray(grad, np.float64)
  if grad.ndim != 4 or grad.shape[-1] != 2:
    raise ValueError(f'gradient must have shape (H, W, C, 2), got {grad.shape}')
  height, width = grad.shape[:2]
  transfer = _gradient_transfer(height, width, stencil, grid)  # (2H, 2W, 2)
  # d/dy of a field mirrored in y is antisymmetric in y; likewise d/dx in x.
  g_y = np.fft.fft2(_mirror(grad[..., 0], odd_y=True), axes=(0, 1))
  g_x = np.fft.fft2(_mirror(grad[..., 1], odd_x=True), axes=(0, 1))
  numerator = np.conj(transfer[..., 0, None]) * g_y + np.conj(transfer[..., 1, None]) * g_x
  denominator = (np.abs(transfer[..., 0]) ** 2 + np.abs(transfer[..., 1]) ** 2)[..., None]
  return _solve_spectrum(numerator, denominator, height, width)


def solve_from_laplacian(lap: np.ndarray, stencil: str = 'spectral',
                         grid: str = grids.HALF_PIXEL) -> np.ndarray:
  """Field u whose Laplacian is ``lap`` (Neumann borders), mean zero.

  Args:
    lap: (H, W, C) target Laplacian in coordinate units (``laplacian_target``).
    stencil: 'spectral' (exact Laplacian of the band-limited field) or 'stencil' (five-point).
    grid: the grid convention whose coordinate units ``lap`` is in.
  Returns:
    (H, W, C) float64. Exact (minus the mean) for a band-limited field's exact Laplacian
    ('spectral') or for lap = laplacian_target(image) ('stencil'). A Laplacian with non-zero
    mean has no Neumann solution; its mean is ignored (least squares).
  """
  _check_stencil(stencil)
  lap = np.asarray(lap, np.float64)
  if lap.ndim != 3:
    raise ValueError(f'laplacian must have shape (H, W, C), got {lap.shape}')
  height, width = lap.shape[:2]
  if stencil == 'stencil':
    response = _stencil_transfer(lambda x: finite_differences.laplacian(x, mode='wrap'),
                                 height, width)
    # The five-point transfer is a sum of a y part (its column 0: the x part vanishes at x
    # frequency 0) and an x part (row 0), each rescaled by its own axis's spacing ratio.
    ratio_y, ratio_x = _mirror_ratio(height, width, grid) ** 2
    eigen = ratio_y * response[:, :1] + ratio_x * response[:1, :]
  else:
    transfer = _gradient_transfer(height, width, stencil, grid)
    eigen = np.sum(transfer**2, axis=-1)  # (i w_y)^2 + (i w_x)^2
  spectrum = np.fft.fft2(_mirror(lap), axes=(0, 1))
  return _solve_spectrum(np.conj(eigen[..., None]) * spectrum,
                         (np.abs(eigen) ** 2)[..., None], height, width)


def _solve_spectrum(numerator: np.ndarray, denominator: np.ndarray, height: int,
                    width: int) -> np.ndarray:
  """Pseudo-inverse in the Fourier domain (modes the operator cannot see are set to 0), back to
  the image's H x W block."""
  tiny = 1e-12 * denominator.max()
  spectrum = np.where(denominator > tiny, numerator / np.maximum(denominator, tiny), 0.0)
  field = np.real(np.fft.ifft2(spectrum, axes=(0, 1)))[:height, :width]
  return field - field.mean(axis=(0, 1))


def match_mean(field: np.ndarray, reference: np.ndarray,
               mask: np.ndarray | None = None) -> np.ndarray:
  """Shifts each channel of ``field`` (H, W, C) so its mean equals ``reference``'s, over the
  pixels where ``mask`` (H, W) is nonzero (all pixels when None): removes the free constant."""
  field = np.asarray(field, np.float64)
  reference = np.asarray(reference, np.float64)
  where = np.ones(field.shape[:2], bool) if mask is None else check_mask(mask, field.shape)
  if not where.any():
    raise ValueError('match_mean: the mask selects no pixels')
  offset = reference[where].mean(axis=0) - field[where].mean(axis=0)  # (C,)
  return (field + offset).astype(np.float32)


def match_affine(field: np.ndarray, reference: np.ndarray) -> np.ndarray:
  """Adds to each channel of ``field`` (H, W, C) the plane a + b y + c x (harmonic, so invisible to
  a Laplacian) that best fits ``reference - field`` in least squares."""
  field = np.asarray(field, np.float64)
  height, width = field.shape[:2]
  ys, xs = np.meshgrid(np.linspace(-1, 1, height), np.linspace(-1, 1, width), indexing='ij')
  basis = np.stack([np.ones_like(ys), ys, xs], axis=-1).reshape(-1, 3)
  residual = (np.asarray(reference, np.float64) - field).reshape(height * width, -1)
  coeffs, *_ = np.linalg.lstsq(basis, residual, rcond=None)
  return (field + (basis @ coeffs).reshape(field.shape)).astype(np.float32)


def fair_psnr(field: np.ndarray, reference: np.ndarray, mask: np.ndarray | None = None) -> float:
  """PSNR (dB, images in [-1, 1]) of ``field`` against ``reference`` after ``match_mean``."""
  return float(metrics.psnr(match_mean(field, reference, mask), np.asarray(reference)))
