"""sRGB <-> CIE Lab (D65, 2-degree observer), as scikit-image's ``rgb2lab``/``lab2rgb``.

Every function works on NumPy arrays (returning NumPy, for the input pipeline) and on JAX arrays
(returning JAX arrays, jit-able). Channels are the last axis.

Scaled channels used by the colourisers (the Wallner/Zhang convention):
  * L  in [0, 100]         <-> L / 50 - 1 in [-1, 1]
  * ab in about [-128, 127] <-> ab / 128    in about [-1, 1]
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

Array = Any  # np.ndarray or jax.Array

# sRGB (linear) -> XYZ, and the D65 white point; the constants of skimage.color.colorconv.
XYZ_FROM_RGB = np.array([[0.412453, 0.357580, 0.180423],
                         [0.212671, 0.715160, 0.072169],
                         [0.019334, 0.119193, 0.950227]])
RGB_FROM_XYZ = np.linalg.inv(XYZ_FROM_RGB)
D65_WHITE = np.array([0.95047, 1.0, 1.08883])
AB_SCALE = 128.0


def _xp(x: Array):
  """jax.numpy for JAX arrays and tracers, NumPy otherwise."""
  return jnp if isinstance(x, jax.Array) else np


def _check_channels(x: Array, name: str) -> None:
  if x.shape[-1:] != (3,):
    raise ValueError(f'{name} must have 3 channels in its last axis, got shape {tuple(x.shape)}')


def _apply_matrix(x: Array, matrix: np.ndarray) -> Array:
  """(..., 3) -> (..., 3): ``x @ matrix.T``. On JAX arrays at full float32 precision: XLA on GPU
  and TPU multiplies float32 at TF32/bfloat16 precision by default, which put Lab 0.05 off
  scikit-image on an H200 (bench/RESULTS.md, GPU check); a 3x3 product costs nothing either way."""
  m = matrix.T.astype(x.dtype)
  if _xp(x) is jnp:
    return jnp.matmul(x, m, precision=jax.lax.Precision.HIGHEST)
  return x @ m


def rgb_to_lab(rgb: Array) -> Array:
  """sRGB (..., 3) in [0, 1] -> Lab (..., 3): L in [0, 100], a and b in about [-128, 127]."""
  _check_channels(rgb, 'rgb')
  xp = _xp(rgb)
  rgb = xp.clip(rgb, 0.0, 1.0)
  # The maximum keeps the unused branch of `where` finite (and its gradient NaN-free).
  linear = xp.where(rgb > 0.04045, ((xp.maximum(rgb, 0.04045) + 0.055) / 1.055) ** 2.4,
                    rgb / 12.92)
  xyz = _apply_matrix(linear, XYZ_FROM_RGB) / D65_WHITE.astype(linear.dtype)
  f = xp.where(xyz > 0.008856, xp.cbrt(xp.maximum(xyz, 0.008856)), 7.787 * xyz + 16.0 / 116.0)
  fx, fy, fz = f[..., 0], f[..., 1], f[..., 2]
  return xp.stack([116.0 * fy - 16.0, 500.0 * (fx - fy), 200.0 * (fy - fz)], axis=-1)


def lab_to_rgb(lab: Array) -> Array:
  """Lab (..., 3) -> sRGB (..., 3) clipped to [0, 1] (out-of-gamut colours are clipped, and
  negative Z is set to 0, as in scikit-image)."""
  _check_channels(lab, 'lab')
  xp = _xp(lab)
  fy = (lab[..., 0] + 16.0) / 116.0
  fx = lab[..., 1] / 500.0 + fy
  fz = xp.maximum(fy - lab[..., 2] / 200.0, 0.0)
  f = xp.stack([fx, fy, fz], axis=-1)
  xyz = xp.where(f > 0.2068966, f ** 3, (f - 16.0 / 116.0) / 7.787) * D65_WHITE.astype(f.dtype)
  linear = _apply_matrix(xyz, RGB_FROM_XYZ)
  rgb = xp.where(linear > 0.0031308,
                 1.055 * xp.maximum(linear, 0.0031308) ** (1.0 / 2.4) - 0.055, linear * 12.92)
  return xp.clip(rgb, 0.0, 1.0)


def rgb_to_scaled_lab(rgb: Array, *, rgb_range: str = 'signed') -> tuple[Array, Array]:
  """RGB -> (L / 50 - 1, ab / 128): shapes (..., 1) and (..., 2), both in about [-1, 1].

  Args:
    rgb: (..., 3) in [-1, 1] (``rgb_range='signed'``, the siren_jax convention) or [0, 1]
      (``'unit'``).
  """
  lab = rgb_to_lab(_to_unit(rgb, rgb_range))
  return lab[..., :1] / 50.0 - 1.0, lab[..., 1:] / AB_SCALE


def scaled_lab_to_rgb(lightness: Array, ab: Array, *, rgb_range: str = 'signed') -> Array:
  """(L / 50 - 1 of shape (..., 1), ab / 128 of shape (..., 2)) -> RGB (..., 3) in [-1, 1]
  (``'signed'``) or [0, 1] (``'unit'``)."""
  xp = jnp if isinstance(ab, jax.Array) or isinstance(lightness, jax.Array) else np
  lab = xp.concatenate([(lightness + 1.0) * 50.0, ab * AB_SCALE], axis=-1)
  rgb = lab_to_rgb(lab)
  return _from_unit(rgb, rgb_range)


def grey_baseline_rgb(lightness: Array, *, rgb_range: str = 'signed') -> Array:
  """The grey colourisation (ab = 0) of a scaled lightness (..., 1) -> RGB (..., 3)."""
  xp = _xp(lightness)
  return scaled_lab_to_rgb(lightness, xp.zeros(lightness.shape[:-1] + (2,), lightness.dtype),
                           rgb_range=rgb_range)


def _to_unit(rgb: Array, rgb_range: str) -> Array:
  _check_range(rgb_range)
  return rgb / 2.0 + 0.5 if rgb_range == 'signed' else rgb


def _from_unit(rgb: Array, rgb_range: str) -> Array:
  _check_range(rgb_range)
  return rgb * 2.0 - 1.0 if rgb_range == 'signed' else rgb


def _check_range(rgb_range: str) -> None:
  if rgb_range not in ('signed', 'unit'):
    raise ValueError(f"rgb_range must be 'signed' ([-1, 1]) or 'unit' ([0, 1]), got {rgb_range!r}")
