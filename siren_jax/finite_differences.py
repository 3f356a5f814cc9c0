"""Finite-difference gradients and Laplacians of images, in the units of the coordinate grid.

An image of H x W pixels spans [-1, 1]^2 (``grids``), so pixel spacings are h_y = 2/H, h_x = 2/W
on the half_pixel grid and 2/(H - 1), 2/(W - 1) on the linspace grid (``grid``, the convention
the field is fitted on); dividing by them makes these estimates comparable with autodiff
derivatives of a fitted field.
Written with scipy.ndimage (Sobel, second differences) rather than by hand.
"""

from __future__ import annotations

import numpy as np
import scipy.ndimage

from siren_jax import grids


def _check(image: np.ndarray) -> np.ndarray:
  image = np.asarray(image, dtype=np.float64)
  if image.ndim != 3:
    raise ValueError(f'image must have shape (H, W, C), got {image.shape}')
  return image


def pixel_spacing(height: int, width: int, grid: str = grids.HALF_PIXEL) -> tuple[float, float]:
  """(h_y, h_x): coordinate distance between neighbouring pixel centres on ``grid``."""
  return grids.pixel_spacing(height, grid), grids.pixel_spacing(width, grid)


def sobel_gradient(image: np.ndarray, mode: str = 'reflect',
                   grid: str = grids.HALF_PIXEL) -> np.ndarray:
  """Sobel estimate of (d/dy, d/dx) per channel: (H, W, C) -> (H, W, C, 2).

  Sobel is a central difference (2 h) smoothed by [1, 2, 1] (sum 4) along the other spatial
  axis, hence / (8 h). Written with ``correlate1d`` because ``scipy.ndimage.sobel`` on an
  (H, W, C) array also smooths across the channel axis (mixing channels, scaling by 4).
  """
  image = _check(image)
  h_y, h_x = pixel_spacing(image.shape[0], image.shape[1], grid)
  difference, smooth = np.array([-1.0, 0.0, 1.0]), np.array([1.0, 2.0, 1.0])

  def sobel(axis: int) -> np.ndarray:
    out = scipy.ndimage.correlate1d(image, difference, axis=axis, mode=mode)
    return scipy.ndimage.correlate1d(out, smooth, axis=1 - axis, mode=mode)

  return np.stack([sobel(0) / (8.0 * h_y), sobel(1) / (8.0 * h_x)], axis=-1)


def central_gradient(image: np.ndarray, grid: str = grids.HALF_PIXEL) -> np.ndarray:
  """Central-difference (d/dy, d/dx) per channel (one-sided at borders): (H, W, C, 2)."""
  image = _check(image)
  h_y, h_x = pixel_spacing(image.shape[0], image.shape[1], grid)
  return np.stack(np.gradient(image, h_y, h_x, axis=(0, 1)), axis=-1)


def laplacian(image: np.ndarray, mode: str = 'reflect',
              grid: str = grids.HALF_PIXEL) -> np.ndarray:
  """Five-point Laplacian d2/dy2 + d2/dx2 per channel: (H, W, C) -> (H, W, C)."""
  image = _check(image)
  h_y, h_x = pixel_spacing(image.shape[0], image.shape[1], grid)
  second = np.array([1.0, -2.0, 1.0])
  return (scipy.ndimage.correlate1d(image, second, axis=0, mode=mode) / h_y**2 +
          scipy.ndimage.correlate1d(image, second, axis=1, mode=mode) / h_x**2)
