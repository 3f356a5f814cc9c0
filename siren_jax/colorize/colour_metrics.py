"""Colourisation metrics and the two baselines every colouriser must beat.

Conventions (``siren_jax.colorize.colour``): lightness L / 50 - 1 in [-1, 1] with shape (..., 1), chroma
ab / 128 in about [-1, 1] with shape (..., 2), RGB in [-1, 1] with shape (..., 3). NumPy in and
out (these run on the host, once per evaluated photo).

* ``ab_psnr``: PSNR of the ab / 128 channels with data range 2 (the range of ab / 128), i.e.
  10 log10(4 / MSE); a constant ab error of d (in ab / 128 units) gives 10 log10(4 / d^2).
* ``rgb_psnr``: ``metrics.psnr`` of the colourised RGB (data range 1 on [0, 1] images).
* ``colourfulness``: Hasler & Suesstrunk (2003), "Measuring colourfulness in natural images",
  on 8-bit-scaled sRGB: rg = R - G, yb = (R + G) / 2 - B,
  M = sqrt(var(rg) + var(yb)) + 0.3 sqrt(mean(rg)^2 + mean(yb)^2). 0 for a grey image; their
  scale calls ~33 "moderately" and ~59 "quite" colourful.
* Baselines: ``grey_ab`` (a = b = 0: the colourisation that never guesses) and
  ``LightnessHistogram`` (the training pixels' mean ab in each lightness bin: the best
  colouriser that sees one pixel's L only, in mean squared error per bin).
"""

from __future__ import annotations

import dataclasses

import numpy as np

from siren_jax import metrics
from siren_jax.colorize import colour


def ab_psnr(prediction_ab: np.ndarray, target_ab: np.ndarray) -> float:
  """PSNR (dB) of ab / 128 arrays (..., 2) of one shape, data range 2."""
  prediction_ab = np.asarray(prediction_ab, np.float64)
  target_ab = np.asarray(target_ab, np.float64)
  if prediction_ab.shape != target_ab.shape or prediction_ab.shape[-1:] != (2,):
    raise ValueError(f'ab_psnr needs two (..., 2) arrays of one shape, got {prediction_ab.shape} '
                     f'and {target_ab.shape}')
  mse = np.mean((prediction_ab - target_ab) ** 2)
  return float(10.0 * np.log10(4.0 / max(mse, 1e-20)))


def rgb_psnr(prediction_rgb: np.ndarray, target_rgb: np.ndarray) -> float:
  """PSNR (dB) of RGB images in [-1, 1] (prediction clipped), as ``metrics.psnr``."""
  if np.shape(prediction_rgb) != np.shape(target_rgb):
    raise ValueError(f'rgb_psnr needs two images of one shape, got {np.shape(prediction_rgb)} '
                     f'and {np.shape(target_rgb)}')
  return float(metrics.psnr(np.asarray(prediction_rgb, np.float32),
                            np.asarray(target_rgb, np.float32)))


def colourfulness(rgb: np.ndarray) -> float:
  """Hasler-Suesstrunk colourfulness of an RGB image (..., 3) in [-1, 1] (see the module
  docstring); 0 for grey, about 20-110 for photos."""
  rgb = np.asarray(rgb, np.float64)
  if rgb.shape[-1:] != (3,):
    raise ValueError(f'colourfulness needs (..., 3) RGB, got shape {rgb.shape}')
  r, g, b = np.moveaxis((np.clip(rgb, -1.0, 1.0) / 2.0 + 0.5) * 255.0, -1, 0)
  rg, yb = r - g, (r + g) / 2.0 - b
  return float(np.sqrt(rg.var() + yb.var()) + 0.3 * np.sqrt(rg.mean() ** 2 + yb.mean() ** 2))


def grey_ab(lightness: np.ndarray) -> np.ndarray:
  """The grey baseline: ab = 0 for a lightness (..., 1) -> (..., 2)."""
  return np.zeros(np.shape(lightness)[:-1] + (2,), np.float32)


@dataclasses.dataclass(frozen=True)
class LightnessHistogram:
  """Mean ab of the training pixels per lightness bin: ``table[k]`` is the mean ab / 128 of
  the pixels whose scaled lightness falls in bin k of ``num_bins`` equal bins over [-1, 1].
  Bins without training pixels take the nearest non-empty bin's value."""
  table: np.ndarray  # (num_bins, 2) float32.

  @property
  def num_bins(self) -> int:
    return self.table.shape[0]

  @classmethod
  def fit(cls, lightness: np.ndarray, ab: np.ndarray, num_bins: int = 32) -> LightnessHistogram:
    """From training pixels: lightness (..., 1) and ab (..., 2) of matching leading shape."""
    if num_bins < 1:
      raise ValueError(f'num_bins must be positive, got {num_bins}')
    lightness, ab = np.asarray(lightness).reshape(-1), np.asarray(ab, np.float64).reshape(-1, 2)
    if lightness.size != ab.shape[0] or not lightness.size:
      raise ValueError(f'need one ab pair per lightness pixel, got {lightness.size} and '
                       f'{ab.shape[0]}')
    bins = _bin(lightness, num_bins)
    counts = np.bincount(bins, minlength=num_bins)
    sums = np.stack([np.bincount(bins, ab[:, c], minlength=num_bins) for c in range(2)], -1)
    filled = np.flatnonzero(counts)
    means = sums[filled] / counts[filled, None]
    nearest = filled[np.abs(np.arange(num_bins)[:, None] - filled[None, :]).argmin(axis=1)]
    table = np.zeros((num_bins, 2))
    table[filled] = means
    return cls(table[nearest].astype(np.float32))

  def predict(self, lightness: np.ndarray) -> np.ndarray:
    """ab / 128 (..., 2) for a scaled lightness (..., 1)."""
    return self.table[_bin(np.asarray(lightness)[..., 0], self.num_bins)]


def _bin(lightness: np.ndarray, num_bins: int) -> np.ndarray:
  """Scaled lightness in [-1, 1] -> bin index in [0, num_bins)."""
  return np.clip(((lightness + 1.0) / 2.0 * num_bins).astype(np.int64), 0, num_bins - 1)


def evaluate(prediction_ab: np.ndarray, lightness: np.ndarray, target_ab: np.ndarray
             ) -> dict[str, float]:
  """Every metric of one colourised photo: {'ab_psnr', 'rgb_psnr', 'colourfulness',
  'true_colourfulness', 'colourfulness_ratio'}; arrays (H, W, 1) / (H, W, 2)."""
  predicted_rgb = colour.scaled_lab_to_rgb(lightness, prediction_ab)
  true_rgb = colour.scaled_lab_to_rgb(lightness, target_ab)
  predicted_c, true_c = colourfulness(predicted_rgb), colourfulness(true_rgb)
  return {'ab_psnr': ab_psnr(prediction_ab, target_ab),
          'rgb_psnr': rgb_psnr(predicted_rgb, true_rgb),
          'colourfulness': predicted_c, 'true_colourfulness': true_c,
          'colourfulness_ratio': predicted_c / max(true_c, 1e-9)}
