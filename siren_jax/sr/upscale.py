"""Resizing a photo with a trained learned-resize model: any output size, large photos in tiles.

The low-resolution image is cut into core tiles of ``tile_size`` pixels; each is encoded with a
halo of ``Spec.halo`` pixels around it (clipped at the image's edges) and decodes the output
pixels whose centres fall in its core. The halo covers everything a core query reads (encoder
receptive field, unfolding, ensemble neighbours), so the tiles' outputs equal the whole image's
(up to float rounding) and there are no seams. Memory: one tile's features and
``max_queries`` decoded points at a time, plus the output image.
"""

from __future__ import annotations

import functools
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from siren_jax import render
from siren_jax.sr import liif


def check_input(spec: liif.Spec, image: np.ndarray) -> None:
  """ValueError unless ``image`` (h, w, C) has the model's channels and is at least the
  encoder's receptive field on each side."""
  if image.ndim != 3 or image.shape[-1] != spec.channels:
    raise ValueError(f'the model takes {spec.channels}-channel images, got shape '
                     f'{image.shape}')
  h, w = image.shape[:2]
  if min(h, w) < spec.min_input_side:
    raise ValueError(f'a {h}x{w} image is smaller than the model\'s receptive field of '
                     f'{spec.min_input_side}x{spec.min_input_side} pixels; give a larger image')


@functools.lru_cache(maxsize=None)
def _functions(spec: liif.Spec) -> tuple[Any, Any]:
  model = liif.LIIF(spec)
  encode = jax.jit(lambda p, x: model.apply({'params': p}, x, method=liif.LIIF.encode))
  decode = jax.jit(lambda p, x, f, c, cell: model.apply({'params': p}, x, f, c, cell,
                                                         method=liif.LIIF.decode))
  return encode, decode


def _axis_rows(size: int, out: int, starts: list[int], tile: int) -> list[tuple[int, int]]:
  """For each core [s, s + tile) of a ``size``-pixel axis, the output indices [i0, i1) whose
  centres (i + 0.5) * size / out fall in it."""
  centres = (np.arange(out) + 0.5) * size / out
  return [(int(np.searchsorted(centres, s, 'left')),
           int(np.searchsorted(centres, min(s + tile, size), 'left')) if s + tile < size
           else out) for s in starts]


def _chunk(n: int, max_queries: int) -> int:
  return max_queries if n >= max_queries else 1 << max(0, (n - 1).bit_length())


def upscale(spec: liif.Spec, params: Any, image: np.ndarray, height: int, width: int, *,
            tile_size: int = 192, max_queries: int = 65536,
            max_pixels: int | None = render.DEFAULT_MAX_PIXELS) -> np.ndarray:
  """``image`` resized to height x width by the model.

  Args:
    spec, params: the trained model.
    image: (h, w, C) float in [-1, 1], C = spec.channels, each side >= spec.min_input_side.
    height, width: output size (any, larger or smaller than the input).
    tile_size: core tile side in input pixels (0: the whole image at once).
    max_queries: output points decoded per device call.
    max_pixels: refuse larger outputs (None: no limit).

  Returns:
    (height, width, C) float32 NumPy array in [-1, 1]-ish.
  """
  check_input(spec, image)
  render.check_size(height, width, max_pixels)
  if tile_size < 0 or max_queries < 1:
    raise ValueError(f'tile_size must be >= 0 and max_queries >= 1, got {tile_size} and '
                     f'{max_queries}')
  h, w, c = image.shape
  tile_h, tile_w = (tile_size or h), (tile_size or w)
  y_starts, x_starts = list(range(0, h, tile_h)), list(range(0, w, tile_w))
  y_rows, x_cols = _axis_rows(h, height, y_starts, tile_h), _axis_rows(w, width, x_starts, tile_w)
  encode, decode = _functions(spec)
  output = np.empty((height, width, c), np.float32)
  for ys, (r0, r1) in zip(y_starts, y_rows):
    for xs, (c0, c1) in zip(x_starts, x_cols):
      if r1 <= r0 or c1 <= c0:
        continue
      top, bottom = max(0, ys - spec.halo), min(h, ys + tile_h + spec.halo)
      left, right = max(0, xs - spec.halo), min(w, xs + tile_w + spec.halo)
      crop = jnp.asarray(image[None, top:bottom, left:right], jnp.float32)
      feat = encode(params, crop)
      ch, cw = bottom - top, right - left
      # Output pixel centres in input pixels, then in the crop's [-1, 1] frame (float64 first,
      # so that a tile and the whole image round alike).
      u = (np.arange(r0, r1) + 0.5) * h / height - top
      v = (np.arange(c0, c1) + 0.5) * w / width - left
      coords = np.stack(np.meshgrid(2 * u / ch - 1, 2 * v / cw - 1, indexing='ij'), -1)
      coords = coords.reshape(-1, 2).astype(np.float32)
      cell = np.asarray([2.0 * h / height / ch, 2.0 * w / width / cw], np.float32)
      n = len(coords)
      size = _chunk(n, max_queries)
      values = np.empty((n, c), np.float32)
      for start in range(0, n, size):
        part = coords[start:start + size]
        padded = np.zeros((size, 2), np.float32)
        padded[:len(part)] = part
        out = decode(params, crop, feat, jnp.asarray(padded[None]),
                     jnp.broadcast_to(jnp.asarray(cell), (1, size, 2)))
        values[start:start + len(part)] = np.asarray(out[0, :len(part)])
      output[r0:r1, c0:c1] = values.reshape(r1 - r0, c1 - c0, c)
  return output
