"""Colourising a photo of any size with a colouriser trained on small crops at a fixed scale.

The usual recipe (Iizuka et al. 2016, Zhang et al. 2016): chroma is smooth and the model only
knows the scale it was trained at, so
  1. the full-resolution lightness L (H, W, 1) is downscaled so that its short side is the
     training photos' short side (``model_short_side``; never upscaled),
  2. chroma ab is predicted there in overlapping tiles (``predict_tiled``), blended with
     weights that ramp as sin^2 across each overlap so neighbouring weights sum to one: no seam,
     and only ``batch_size`` tiles are in flight at once (memory bounded by the tile batch plus
     one chroma canvas at the model's scale),
  3. the chroma is upsampled (bilinear) to (H, W) and recombined with the full-resolution L, so
     the output keeps every detail of the input's lightness.

Tile grid: along each axis tiles of ``tile`` pixels start every ``tile - overlap`` pixels on a
grid shifted by ``offset`` (so shifting the grid is a change of ``offset``), from one tile before
the image to one past it; tiles hanging over an edge see the image reflect-padded, so image
borders are treated like any other pixel. Every pixel lies where the weights of the tiles
covering it sum to one. ``margin`` pixels at every tile edge get weight 0: a conv net's output
there is spoilt by its own zero padding.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import skimage.transform

from siren_jax import images

PredictFn = Callable[[np.ndarray], np.ndarray]  # (B, t, t, 1) -> (B, t, t, C), NumPy or JAX.


def tile_starts(size: int, tile: int, overlap: int, offset: int = 0, margin: int = 0
                ) -> np.ndarray:
  """Starts of tiles every ``tile - overlap`` pixels on a grid shifted by ``offset``, from one
  tile before [0, size) until one past it, so that every pixel of [0, size) lies where tile
  weights sum to one (the first and last tiles' unpaired ramps fall outside the image)."""
  stride = tile - overlap
  first = -(offset % stride) - stride
  count = int(np.ceil((size + overlap - margin - tile - first) / stride)) + 1
  return first + stride * np.arange(max(count, 2))


def window(tile: int, overlap: int, margin: int = 0) -> np.ndarray:
  """1-D blending weights (tile,): 0 on the ``margin`` pixels at each edge (where a conv net
  sees its own zero padding), then sin^2 ramps over the next ``overlap - 2 margin`` pixels,
  1 between. The right ramp of a tile and the left ramp of the next one (``tile - overlap``
  further) cover the same pixels and sum to one: sin^2(pi/2 (j + 1/2) / n) + cos^2(same) = 1."""
  if not 0 <= 2 * margin < max(overlap, 1):
    raise ValueError(f'margin={margin} must be < overlap / 2 = {overlap / 2}')
  weights = np.ones(tile)
  if overlap:
    length = overlap - 2 * margin
    ramp = np.concatenate([np.zeros(margin),
                           np.sin(0.5 * np.pi * (np.arange(length) + 0.5) / length) ** 2])
    weights[:overlap - margin] = ramp
    weights[tile - overlap + margin:] = np.minimum(weights[tile - overlap + margin:], ramp[::-1])
  return weights


def check_tiling(tile: int, overlap: int, multiple: int = 1) -> None:
  """One-line errors for a tile size / overlap a model cannot use."""
  if tile < 2 or tile % multiple:
    raise ValueError(f'tile size must be >= 2 and a multiple of {multiple}, got {tile}')
  if not 0 <= overlap <= tile // 2:
    raise ValueError(f'tile overlap must be in [0, tile / 2] = [0, {tile // 2}], got {overlap}')


def predict_tiled(predict: PredictFn, grey: np.ndarray, *, tile: int, overlap: int,
                  batch_size: int = 8, offset: tuple[int, int] = (0, 0),
                  margin: int = 0) -> np.ndarray:
  """A per-pixel prediction of a whole image from overlapping tiles, blended seamlessly.

  Args:
    predict: (B, tile, tile, 1) -> (B, tile, tile, C); always called with B = batch_size (the
      last batch is padded), so a jitted function compiles once.
    grey: (H, W, 1) float32 input (any H, W >= 1).
    tile, overlap: tile side and minimum overlap of neighbours, in pixels.
    batch_size: tiles per ``predict`` call.
    offset: (dy, dx) shift of the tile grid (see the module docstring).
    margin: pixels at each tile edge given zero weight (``window``).
  Returns:
    (H, W, C) float32: sum over tiles of window * prediction / sum of windows.
  """
  check_tiling(tile, overlap)
  h, w = grey.shape[:2]
  ys = tile_starts(h, tile, overlap, offset[0], margin)
  xs = tile_starts(w, tile, overlap, offset[1], margin)
  # Pad so that every tile lies inside the padded image (tiles over an edge see reflections).
  top, left = -int(ys[0]), -int(xs[0])
  bottom, right = int(ys[-1]) + tile - h, int(xs[-1]) + tile - w
  padded = _reflect_pad(grey, top, bottom, left, right)
  weight_1d = np.outer(window(tile, overlap, margin), window(tile, overlap, margin))[..., None]
  starts = [(y + top, x + left) for y in ys for x in xs]
  canvas: np.ndarray | None = None
  weights: np.ndarray | None = None
  for first in range(0, len(starts), batch_size):
    chunk = starts[first:first + batch_size]
    pieces = np.stack([padded[y:y + tile, x:x + tile] for y, x in chunk])
    if len(chunk) < batch_size:  # Pad the batch so that predict sees one shape.
      pieces = np.concatenate([pieces, np.repeat(pieces[-1:], batch_size - len(chunk), 0)])
    out = np.asarray(predict(pieces), np.float32)[:len(chunk)]
    if canvas is None or weights is None:
      canvas = np.zeros(padded.shape[:2] + out.shape[-1:], np.float32)
      weights = np.zeros(padded.shape[:2] + (1,), np.float32)
    for (y, x), piece in zip(chunk, out):
      canvas[y:y + tile, x:x + tile] += weight_1d * piece
      weights[y:y + tile, x:x + tile] += weight_1d
  # Inside the image the weights sum to one (> 0); outside it they may be 0: crop first.
  assert canvas is not None and weights is not None  # There is always at least one tile.
  return canvas[top:top + h, left:left + w] / weights[top:top + h, left:left + w]


def _reflect_pad(image: np.ndarray, top: int, bottom: int, left: int, right: int) -> np.ndarray:
  """Reflect padding that also works when the pad exceeds the image (repeated reflection)."""
  out = image
  while top or bottom or left or right:
    h, w = out.shape[:2]
    t, b = min(top, h - 1), min(bottom, h - 1)
    l, r = min(left, w - 1), min(right, w - 1)
    if min(h, w) > 1:
      out = np.pad(out, ((t, b), (l, r), (0, 0)), mode='reflect')
    else:
      out = np.pad(out, ((t, b), (l, r), (0, 0)), mode='edge')
    top, bottom, left, right = top - t, bottom - b, left - l, right - r
  return out


def model_scale_size(height: int, width: int, model_short_side: int) -> tuple[int, int]:
  """(h, w) of a photo downscaled to short side ``model_short_side`` (never upscaled)."""
  if model_short_side < 1:
    raise ValueError(f'model_short_side must be positive, got {model_short_side}')
  scale = min(1.0, model_short_side / min(height, width))
  return max(1, round(height * scale)), max(1, round(width * scale))


def colorize_chroma(predict_ab: PredictFn, lightness: np.ndarray, *, model_short_side: int,
                    tile: int, overlap: int, batch_size: int = 8,
                    offset: tuple[int, int] = (0, 0), margin: int = 0) -> np.ndarray:
  """Chroma ab / 128 (H, W, 2) for a full-resolution scaled lightness (H, W, 1) in [-1, 1]:
  predicted on tiles at the model's scale, then upsampled (see the module docstring)."""
  lightness = np.asarray(lightness, np.float32)
  if lightness.ndim != 3 or lightness.shape[-1] != 1:
    raise ValueError(f'lightness must have shape (H, W, 1), got {lightness.shape}')
  h, w = lightness.shape[:2]
  small = images.resize(lightness, model_scale_size(h, w, model_short_side))
  ab = predict_tiled(predict_ab, small, tile=tile, overlap=overlap, batch_size=batch_size,
                     offset=offset, margin=margin)
  if ab.shape[:2] == (h, w):
    return ab
  # Bilinear: chroma is smooth, and order 1 cannot overshoot into out-of-gamut colours.
  return skimage.transform.resize(ab, (h, w, ab.shape[-1]), order=1, anti_aliasing=False,
                                  preserve_range=True).astype(np.float32)
