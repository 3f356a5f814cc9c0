"""Training patches for learned resizing, a pure function of (seed, step), as LIIF draws them.

For each example of a batch: a photo (uniform, with replacement), a scale r ~ U(scale), a
square high-resolution crop of side S = round(input_size * r) at a uniform position, mirrored
and transposed at random (``augment``); its low-resolution input is the crop resized to
input_size x input_size with PIL's bicubic filter (anti-aliased, on float values); the targets
are ``queries`` of the crop's S x S pixels drawn without replacement, with their pixel-centre
coordinates over the crop (``grids`` convention, the same square the input covers) and the
cell (2 / S, 2 / S). Everything comes from ``np.random.default_rng([seed, step])``, so a
resumed run sees the same batches.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
from PIL import Image


# PIL resampling filters by name, all on PIL's pixel-centre (half-pixel) convention.
PIL_FILTERS = {'nearest': Image.Resampling.NEAREST, 'bilinear': Image.Resampling.BILINEAR,
               'bicubic': Image.Resampling.BICUBIC, 'lanczos': Image.Resampling.LANCZOS}


def pil_resize(image: np.ndarray, height: int, width: int,
               method: Image.Resampling = Image.Resampling.BICUBIC) -> np.ndarray:
  """(h, w, C) float image -> (height, width, C) float32, per channel with a PIL filter (PIL's
  pixel-centre convention; anti-aliased when it shrinks)."""
  return np.stack([np.asarray(Image.fromarray(np.ascontiguousarray(image[..., c], np.float32),
                                              'F').resize((width, height), method))
                   for c in range(image.shape[-1])], axis=-1)


def pixel_coords(height: int, width: int) -> np.ndarray:
  """(height * width, 2) pixel-centre coordinates (y, x) in [-1, 1], row-major."""
  ys = (2.0 * np.arange(height) + 1.0) / height - 1.0
  xs = (2.0 * np.arange(width) + 1.0) / width - 1.0
  return np.stack(np.meshgrid(ys, xs, indexing='ij'), -1).reshape(-1, 2).astype(np.float32)


@dataclasses.dataclass
class Patches:
  """Batches of (low-resolution input, sampled high-resolution targets).

  Attributes:
    photos: ``len()`` and ``[i]`` -> (H, W, 3) uint8 (``siren_jax.data.crops.open_photos``).
    batch_size: examples per batch.
    input_size: side of the low-resolution input (LIIF: 48).
    queries: target pixels per example (LIIF: 2304 = 48 * 48).
    scale: range of the scale r (LIIF: (1, 4)).
    seed: the stream's seed.
    augment: random left-right and up-down mirrors and transposes.
  """
  photos: Any
  batch_size: int = 16
  input_size: int = 48
  queries: int = 2304
  scale: tuple[float, float] = (1.0, 4.0)
  seed: int = 0
  augment: bool = True

  def __post_init__(self) -> None:
    if self.batch_size < 1 or self.input_size < 1 or self.queries < 1:
      raise ValueError(f'batch_size, input_size and queries must be positive, got '
                       f'{self.batch_size}, {self.input_size}, {self.queries}')
    if not 1 <= self.scale[0] <= self.scale[1]:
      raise ValueError(f'scale={tuple(self.scale)} must satisfy 1 <= low <= high')
    if self.queries > self.input_size ** 2:
      raise ValueError(f'queries={self.queries} exceeds the {self.input_size ** 2} pixels of '
                       f'the smallest crop (input_size ** 2)')
    if not len(self.photos):
      raise ValueError('photos is empty: nothing to crop')
    self._cache: dict[int, np.ndarray] = {}

  def _photo(self, index: int) -> np.ndarray:
    if index not in self._cache:  # Decoded once: the training photos stay in memory.
      self._cache[index] = np.asarray(self.photos[index])
    return self._cache[index]

  def example(self, rng: np.random.Generator) -> dict[str, np.ndarray]:
    photo = self._photo(int(rng.integers(len(self.photos))))
    h, w = photo.shape[:2]
    side = min(round(self.input_size * rng.uniform(*self.scale)), h, w)
    top = int(rng.integers(h - side + 1))
    left = int(rng.integers(w - side + 1))
    hr = photo[top:top + side, left:left + side].astype(np.float32) / 127.5 - 1.0
    if self.augment:
      flips = rng.random(3) < 0.5
      hr = hr[:, ::-1] if flips[0] else hr
      hr = hr[::-1] if flips[1] else hr
      hr = hr.transpose(1, 0, 2) if flips[2] else hr
    lr = pil_resize(hr, self.input_size, self.input_size)
    pick = rng.choice(side * side, self.queries, replace=False)
    return {'lr': lr, 'coords': pixel_coords(side, side)[pick],
            'cell': np.full((self.queries, 2), 2.0 / side, np.float32),
            'rgb': hr.reshape(-1, hr.shape[-1])[pick]}

  def batch(self, step: int) -> dict[str, np.ndarray]:
    """The batch at ``step``: 'lr' (B, n, n, 3), 'coords' and 'cell' (B, Q, 2), 'rgb'
    (B, Q, 3), float32, values in [-1, 1]."""
    rng = np.random.default_rng([self.seed, int(step)])
    examples = [self.example(rng) for _ in range(self.batch_size)]
    return {k: np.stack([e[k] for e in examples]).astype(np.float32) for k in examples[0]}
