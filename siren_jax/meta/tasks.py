"""Meta-learning tasks from photos: each task is one random crop (``siren_jax.data.crops``), fitted
on random pixel subsets, as a pure function of (seed, step).

A meta-batch at ``step`` (``PixelTasks.batch``): the crop side S is drawn from ``sizes`` (one
per step, so every task of a batch has one shape; several sides teach the init several pixel
scales, as photos come at any size, and so does the crop's random fraction of the photo, the
crops' ``scale``), then B crops of side S (grey or RGB view, values in [-1, 1]) and for each
  'inner': coords (B, K, N, 2), values (B, K, N, C): a fresh subset of N pixels (without
           replacement) per inner step (N = ``inner_pixels``; 0: every pixel, S^2),
  'outer': coords (B, M, 2), values (B, M, C): M = ``outer_pixels`` other random pixels (0:
           every pixel) for MAML's post-adaptation loss.
Coordinates are pixel centres on the S x S grid (``grids``), so a 256^2 task's pixels are as
dense as a 256^2 test image's. Pixel subsets are what make a 256^2 target affordable on a CPU:
an inner step costs N / S^2 of a full-image step.

``SinusoidPhotos`` is a synthetic class of photos (sums of random low-frequency sinusoids) for
tests and for the seconds-long ``tiny`` configuration.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from siren_jax import grids
from siren_jax.data import crops

COLOURS = ('grey', 'rgb')


class SinusoidPhotos:
  """``count`` synthetic (size, size, 3) uint8 photos, photo i from ``rng([seed, i])``: per
  channel, the sum of ``waves`` plane waves with integer frequencies up to ``max_frequency``
  cycles per image side, random directions and phases, scaled to fill [0, 255]."""

  def __init__(self, count: int, size: int = 64, seed: int = 0, waves: int = 3,
               max_frequency: int = 3):
    if count < 1 or size < 2 or waves < 1 or max_frequency < 1:
      raise ValueError(f'count, waves and max_frequency must be >= 1 and size >= 2, got '
                       f'{count}, {waves}, {max_frequency} and {size}')
    self.count, self.size, self.seed = count, size, seed
    self.waves, self.max_frequency = waves, max_frequency
    self.names = [f'sinusoid_{seed}_{i}' for i in range(count)]
    self.groups = list(self.names)

  def __len__(self) -> int:
    return self.count

  def __getitem__(self, index: int) -> np.ndarray:
    if not 0 <= index < self.count:
      raise IndexError(f'photo {index} of {self.count}')
    rng = np.random.default_rng([self.seed, int(index)])
    t = (np.arange(self.size) + 0.5) / self.size
    y, x = np.meshgrid(t, t, indexing='ij')
    out = np.zeros((self.size, self.size, 3))
    for c in range(3):
      for _ in range(self.waves):
        fy, fx = rng.integers(-self.max_frequency, self.max_frequency + 1, 2)
        out[..., c] += rng.uniform(0.3, 1.0) * np.cos(
            2 * np.pi * (fy * y + fx * x) + rng.uniform(0, 2 * np.pi))
    low, high = out.min(), out.max()
    return np.round((out - low) / max(high - low, 1e-9) * 255).astype(np.uint8)


@dataclasses.dataclass
class PixelTasks:
  """Meta-batches of crop tasks; ``batch(step)`` is pure in (seed, step).

  Attributes:
    photos: a ``crops.PhotoSource`` (``crops.open_photos``, or ``SinusoidPhotos``).
    sizes: crop sides S in pixels (one drawn per step).
    meta_batch: tasks per step B (global, all processes).
    inner_steps: K.
    inner_pixels: N pixels per inner step (0: all S^2; then ``sizes`` must be one side).
    outer_pixels: M pixels of the outer loss (0: all S^2; likewise).
    colour: 'grey' (1 channel, ``crops`` grey view: L* / 50 - 1) or 'rgb' (3, in [-1, 1]).
    seed: the task stream's seed.
    scale: crop side as a fraction of the photo's short side (``crops.Crops.scale``).
    flip: mirror half of the crops.
    grid: the coordinate convention (``grids.GRIDS``).
    process_index, process_count: this process's tasks (``crops.Crops``).
  """

  photos: Any
  sizes: tuple[int, ...]
  meta_batch: int
  inner_steps: int
  inner_pixels: int = 0
  outer_pixels: int = 0
  colour: str = 'grey'
  seed: int = 0
  scale: tuple[float, float] = (0.25, 1.0)
  flip: bool = True
  grid: str = grids.HALF_PIXEL
  process_index: int | None = None
  process_count: int | None = None

  def __post_init__(self) -> None:
    if self.colour not in COLOURS:
      raise ValueError(f'colour must be one of {", ".join(COLOURS)}, got {self.colour!r}')
    grids.check_grid(self.grid)
    self.sizes = tuple(int(s) for s in self.sizes)
    if not self.sizes or min(self.sizes) < 1:
      raise ValueError(f'sizes must be a non-empty list of positive crop sides, got '
                       f'{self.sizes}')
    if self.inner_steps < 1:
      raise ValueError(f'inner_steps must be >= 1, got {self.inner_steps}')
    for name in ('inner_pixels', 'outer_pixels'):
      pixels = getattr(self, name)
      if pixels < 0 or pixels > min(self.sizes) ** 2:
        raise ValueError(f'{name}={pixels} must be in [0, {min(self.sizes) ** 2}] (0: every '
                         f'pixel; at most the smallest crop side squared)')
      if pixels == 0 and len(set(self.sizes)) > 1:
        raise ValueError(f'{name}=0 (every pixel) needs one crop side, got sizes={self.sizes}')
    self._crops = {s: crops.Crops(self.photos, s, self.meta_batch, seed=self.seed,
                                  scale=(float(self.scale[0]), float(self.scale[1])), flip=self.flip,
                                  views=(self.colour,), process_index=self.process_index,
                                  process_count=self.process_count)
                   for s in sorted(set(self.sizes))}
    self._grids = {s: np.asarray(grids.make_grid(s, s, grid=self.grid)).reshape(-1, 2)
                   for s in self._crops}

  @property
  def channels(self) -> int:
    return 1 if self.colour == 'grey' else 3

  def size_at(self, step: int) -> int:
    """The crop side of the meta-batch at ``step``."""
    rng = np.random.default_rng([self.seed, int(step), 1])
    return self.sizes[int(rng.integers(len(self.sizes)))]

  def batch(self, step: int) -> dict[str, dict[str, np.ndarray]]:
    """This process's tasks at ``step`` (see the module docstring)."""
    size = self.size_at(step)
    source = self._crops[size]
    images = source.batch(step)[self.colour].reshape(source.local_batch_size, size * size, -1)
    coords = self._grids[size]
    # Pixel subsets for the whole global batch, so any process layout sees the same tasks.
    rng = np.random.default_rng([self.seed, int(step), 2])
    inner_n = self.inner_pixels or size * size
    outer_n = self.outer_pixels or size * size
    inner_idx, outer_idx = [], []
    for _ in range(self.meta_batch):
      inner_idx.append(np.stack([_subset(rng, size * size, self.inner_pixels)
                                 for _ in range(self.inner_steps)]))
      outer_idx.append(_subset(rng, size * size, self.outer_pixels))
    start = source.process_index * source.local_batch_size  # type: ignore[operator]
    rows = range(start, start + source.local_batch_size)
    inner = np.stack([inner_idx[r] for r in rows]).reshape(len(rows), self.inner_steps, inner_n)
    outer = np.stack([outer_idx[r] for r in rows]).reshape(len(rows), outer_n)
    take = lambda idx: np.stack([images[i][idx[i]] for i in range(len(rows))])  # noqa: E731
    return {'inner': {'coords': coords[inner], 'values': take(inner)},
            'outer': {'coords': coords[outer], 'values': take(outer)}}


def _subset(rng: np.random.Generator, total: int, count: int) -> np.ndarray:
  """``count`` distinct indices below ``total`` (0: all of them, in order)."""
  if not count:
    return np.arange(total)
  return rng.choice(total, count, replace=False)


def centre_view(photo: np.ndarray, size: int, colour: str) -> np.ndarray:
  """The centred square of ``photo`` (H, W, 3) uint8 (its short side), resized to size x size
  (``crops.crop``) as the ``colour`` view: (size, size, C) float32 in [-1, 1], the way tasks
  see photos (for validation and test images)."""
  square = crops.crop(photo, size, 1.0, (0.5, 0.5), False)
  return crops.to_views(square[None], (colour,))[colour][0]
