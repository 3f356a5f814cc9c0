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

Tile grid: ``siren_jax.tiling.grid_layout``, tiles of ``tile`` pixels every ``tile - overlap``
pixels on a grid shifted by ``offset`` (so shifting the grid is a change of ``offset``), from one
tile before the image to one past it; tiles hanging over an edge see the image reflect-padded,
so image borders are treated like any other pixel. Every pixel lies where the weights of the
tiles covering it (``tiling.window``) sum to one. ``margin`` pixels at every tile edge get
weight 0: a conv net's output there is spoilt by its own zero padding.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import skimage.transform

from siren_jax import images, tiling
from siren_jax.colorize import hints as hints_lib

# (B, t, t, 1) -> (B, t, t, C), NumPy or JAX; with hints, (B, t, t, 4): L then hint channels.
PredictFn = Callable[[np.ndarray], np.ndarray]


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
    margin: pixels at each tile edge given zero weight (``tiling.window``).
  Returns:
    (H, W, C) float32: sum over tiles of window * prediction / sum of windows.
  """
  weights = tiling.window(tile, overlap, margin)
  h, w = grey.shape[:2]
  return tiling.map_tiles(lambda pieces: np.asarray(predict(pieces), np.float32), grey,
                          tiling.grid_layout(h, w, tile, tile, overlap, offset, margin),
                          np.outer(weights, weights), batch_size)


def model_scale_size(height: int, width: int, model_short_side: int) -> tuple[int, int]:
  """(h, w) of a photo downscaled to short side ``model_short_side`` (never upscaled)."""
  if model_short_side < 1:
    raise ValueError(f'model_short_side must be positive, got {model_short_side}')
  scale = min(1.0, model_short_side / min(height, width))
  return max(1, round(height * scale)), max(1, round(width * scale))


def colorize_chroma(predict_ab: PredictFn, lightness: np.ndarray, *, model_short_side: int,
                    tile: int, overlap: int, batch_size: int = 8,
                    offset: tuple[int, int] = (0, 0), margin: int = 0,
                    hints: hints_lib.Hints | None = None) -> np.ndarray:
  """Chroma ab / 128 (H, W, 2) for a full-resolution scaled lightness (H, W, 1) in [-1, 1]:
  predicted on tiles at the model's scale, then upsampled (see the module docstring). ``hints``
  (on the H x W grid): moved to the model's grid (``hints.rescale``) and given to ``predict_ab``
  as 3 more channels after L (``hints.to_channels``)."""
  lightness = np.asarray(lightness, np.float32)
  if lightness.ndim != 3 or lightness.shape[-1] != 1:
    raise ValueError(f'lightness must have shape (H, W, 1), got {lightness.shape}')
  h, w = lightness.shape[:2]
  small = images.resize(lightness, model_scale_size(h, w, model_short_side))
  if hints is not None:
    if (hints.height, hints.width) != (h, w):
      raise ValueError(f'hints are for a {hints.width}x{hints.height} photo, lightness is {w}x{h}')
    small = np.concatenate([small, hints_lib.to_channels(hints_lib.rescale(
        hints, *small.shape[:2]))], axis=-1)
  ab = predict_tiled(predict_ab, small, tile=tile, overlap=overlap, batch_size=batch_size,
                     offset=offset, margin=margin)
  if ab.shape[:2] == (h, w):
    return ab
  # Bilinear: chroma is smooth, and order 1 cannot overshoot into out-of-gamut colours.
  return skimage.transform.resize(ab, (h, w, ab.shape[-1]), order=1, anti_aliasing=False,
                                  preserve_range=True).astype(np.float32)
