"""Image quality metrics on images in [-1, 1] (the SIREN convention).

PSNR follows the reference: images mapped to [0, 1] (x / 2 + 0.5), prediction clipped, data range
1 -- equivalently MSE on [-1, 1] with data range 2. SSIM comes from scikit-image.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import skimage.metrics

from siren_jax import errors

Array = jax.Array
ArrayLike = jax.typing.ArrayLike  # jax or numpy arrays, scalars
SSIM_MIN_SIDE = 7  # scikit-image's default 7x7 Gaussian-free window must fit in the image.


def check_ssim_size(height: int, width: int) -> None:
  """Raises an AdvisedError (a ValueError) unless an image of this size is large enough for
  ``ssim``; call it before training on an image that will be scored with SSIM."""
  if min(height, width) < SSIM_MIN_SIDE:
    raise errors.AdvisedError(f'a {height}x{width} image is too small to score: SSIM needs at '
                              f'least {SSIM_MIN_SIDE}x{SSIM_MIN_SIDE} pixels', 'use a larger image')


def mse(prediction: ArrayLike, target: ArrayLike) -> Array:
  """Mean squared error over all elements (the training loss of every experiment). Jit-able."""
  return jnp.mean((jnp.asarray(prediction) - jnp.asarray(target)) ** 2)


def psnr(prediction: ArrayLike, target: ArrayLike) -> Array:
  """PSNR in dB of images in [-1, 1] (any equal shapes); prediction clipped to [-1, 1]. Jit-able."""
  mse = jnp.mean((jnp.clip(prediction, -1.0, 1.0) / 2.0 - jnp.asarray(target) / 2.0) ** 2)
  return -10.0 * jnp.log10(jnp.maximum(mse, 1e-20))


def psnr_from_mse(mse: ArrayLike) -> Array:
  """PSNR in dB from an MSE measured on [-1, 1] images (data range 2)."""
  return 10.0 * jnp.log10(4.0 / jnp.maximum(mse, 1e-20))


def masked_psnr(prediction: np.ndarray, target: np.ndarray, mask: np.ndarray) -> float:
  """PSNR in dB of (H, W, C) images in [-1, 1] over the pixels where ``mask`` (H, W) is True;
  both images clipped to [-1, 1] (as they are saved), the error in float64."""
  error = (np.clip(prediction, -1.0, 1.0)[mask].astype(np.float64)
           - np.clip(target, -1.0, 1.0)[mask])
  return float(psnr_from_mse(np.mean(error ** 2)))


def ssim(prediction: np.ndarray, target: np.ndarray) -> float:
  """SSIM of (H, W, C) images in [-1, 1] (prediction clipped); scikit-image, data range 2."""
  prediction = np.clip(np.asarray(prediction, np.float64), -1.0, 1.0)
  target = np.asarray(target, np.float64)
  if prediction.shape != target.shape or prediction.ndim != 3:
    raise ValueError(f'ssim needs two (H, W, C) images of one shape, got {prediction.shape} '
                     f'and {target.shape}')
  check_ssim_size(*target.shape[:2])
  return float(skimage.metrics.structural_similarity(
      prediction, target, data_range=2.0, channel_axis=-1))
