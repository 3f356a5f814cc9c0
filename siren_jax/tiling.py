"""Fitting a large image as overlapping tiles, one small field per tile, blended seamlessly.

Layout: along each axis, tiles of a fixed size start at evenly spaced offsets so that
neighbours overlap by at least ``overlap`` pixels and the last tile ends at the image's edge.
Tile (i, j) (row-major, ``T = len(y_starts) * len(x_starts)`` tiles) covers the global
coordinate rectangle of its pixels and is fitted on its own local grid (``grids`` convention on
the tile), so every tile is an ordinary image fit; all tiles train together as one batched
(vmapped) network with stacked parameters (leading axis T).

Blending: a tile's weight along an axis is 1 in its interior and ramps from 0 to 1 across its
overlap with each neighbour, linearly or as sin^2 (both pairs of opposite ramps sum to one);
the 2-D weight is the product over the axes, normalised to sum to one over the tiles. The
ramps are functions of the continuous coordinate, so the blended field renders at any size.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from siren_jax import grids

Array = jax.Array
ApplyFn = Callable[[Any, Array], Array]
RAMPS = ('linear', 'cosine')


@dataclasses.dataclass(frozen=True)
class TileLayout:
  """Tiles of tile_height x tile_width pixels over a height x width image; tile (i, j) has its
  top-left pixel at (y_starts[i], x_starts[j])."""
  height: int
  width: int
  tile_height: int
  tile_width: int
  y_starts: tuple[int, ...]
  x_starts: tuple[int, ...]

  @property
  def num_tiles(self) -> int:
    return len(self.y_starts) * len(self.x_starts)

  def to_dict(self) -> dict[str, Any]:
    return {k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(self).items()}

  @classmethod
  def from_dict(cls, d: dict[str, Any]) -> TileLayout:
    return cls(int(d['height']), int(d['width']), int(d['tile_height']), int(d['tile_width']),
               tuple(int(s) for s in d['y_starts']), tuple(int(s) for s in d['x_starts']))


def axis_starts(size: int, tile: int, overlap: int) -> tuple[int, ...]:
  """Evenly spaced starts of tiles of ``tile`` pixels covering [0, size), neighbours
  overlapping by >= ``overlap`` pixels, first at 0 and last at size - tile."""
  if tile >= size:
    return (0,)
  count = math.ceil((size - overlap) / (tile - overlap))
  return tuple(int(round(s)) for s in np.linspace(0, size - tile, count))


def make_layout(height: int, width: int, tile_size: int, overlap: int) -> TileLayout:
  """Square tiles of ``tile_size`` (clipped to the image) overlapping by >= ``overlap``."""
  if tile_size < 2:
    raise ValueError(f'tile size must be >= 2 pixels, got {tile_size}')
  if not 0 <= overlap <= tile_size // 2:
    raise ValueError(f'tile overlap must be in [0, tile_size / 2] = [0, {tile_size // 2}], '
                     f'got {overlap}')
  tile_height, tile_width = min(tile_size, height), min(tile_size, width)
  return TileLayout(height, width, tile_height, tile_width,
                    axis_starts(height, tile_height, overlap),
                    axis_starts(width, tile_width, overlap))


def split(image: np.ndarray | Array, layout: TileLayout) -> Array:
  """(H, W, C) image -> (T, tile_height, tile_width, C) tiles, row-major."""
  if tuple(image.shape[:2]) != (layout.height, layout.width):
    raise ValueError(f'image of shape {image.shape} does not match the tile layout '
                     f'{layout.height}x{layout.width}')
  return jnp.stack([image[y:y + layout.tile_height, x:x + layout.tile_width]
                    for y in layout.y_starts for x in layout.x_starts])


def tile_samples(image: np.ndarray | Array, layout: TileLayout) -> dict[str, Array]:
  """Training batch of all tiles, points first (so a mesh splits it like any fit's batch):
  'coords' (n, 2) on the shared local tile grid, 'values' (n, T, C) with
  n = tile_height * tile_width. ``fitting.image_loss`` with a ``stacked_apply`` field over
  params stacked on a leading tile axis (``fields.init_params(..., num_tiles=T)``) fits it: the
  loss is the mean of the tiles' MSEs, so each tile's gradient is its own fit's gradient / T and
  Adam, invariant to that scale (up to its epsilon), runs T independent fits as one batched one."""
  tiles = split(image, layout)
  coords = grids.make_grid(layout.tile_height, layout.tile_width).reshape(-1, 2)
  return {'coords': coords,
          'values': tiles.reshape(tiles.shape[0], -1, tiles.shape[-1]).transpose(1, 0, 2)}


@functools.lru_cache(maxsize=None)
def stacked_apply(apply_fn: ApplyFn) -> ApplyFn:
  """Per-tile field -> batched field: (params with leading axis T, coords (n, 2)) -> (n, T, C),
  or coords (T, n, 2) (one set per tile) -> (n, T, C). Cached, so the same ``apply_fn`` always
  gives the same (hashable) function."""
  return functools.partial(_stacked_apply, apply_fn)


def _stacked_apply(apply_fn: ApplyFn, params: Any, coords: Array) -> Array:
  in_axes = 0 if coords.ndim == 3 else None
  return jax.vmap(apply_fn, in_axes=(0, in_axes), out_axes=1)(params, coords)


def _axis_extents(starts: tuple[int, ...], tile: int, size: int) -> np.ndarray:
  """(n, 2) [lo, hi] of each tile along one axis in global coordinates."""
  lo = np.asarray(starts, np.float64)
  return np.stack([-1.0 + 2.0 * lo / size, -1.0 + 2.0 * (lo + tile) / size], axis=-1)


def _ramp(distance: Array, length: float) -> Array:
  """0 -> 1 linearly over ``distance`` in [0, length]; a step at 0 for abutting tiles."""
  if length <= 0:
    return (distance >= 0).astype(distance.dtype)
  return jnp.clip(distance / length, 0.0, 1.0)


def _axis_weights(u: Array, extents: np.ndarray, ramp: str) -> Array:
  """Unnormalised weights (n_tiles, N) of the tiles along one axis at coordinates u (N,)."""
  rows = []
  for t, (lo, hi) in enumerate(extents):
    w = jnp.ones_like(u)
    if t > 0:  # Ramp up across the overlap with the previous tile.
      w = jnp.minimum(w, _ramp(u - lo, extents[t - 1][1] - lo))
    if t < len(extents) - 1:  # Ramp down across the overlap with the next tile.
      w = jnp.minimum(w, _ramp(hi - u, hi - extents[t + 1][0]))
    rows.append(jnp.sin(0.5 * jnp.pi * w) ** 2 if ramp == 'cosine' else w)
  return jnp.stack(rows)


def blend_weights(coords: Array, layout: TileLayout, ramp: str = 'cosine') -> Array:
  """Blending weights (T, N) of the tiles at global coords (N, 2); they sum to one over T.

  A tile without a neighbour on a side keeps weight 1 beyond that side, so coordinates outside
  [-1, 1]^2 take the nearest border tile's field.
  """
  if ramp not in RAMPS:
    raise ValueError(f'unknown blending ramp {ramp!r}; choose from {", ".join(RAMPS)}')
  wy = _axis_weights(coords[:, 0], _axis_extents(layout.y_starts, layout.tile_height,
                                                 layout.height), ramp)
  wx = _axis_weights(coords[:, 1], _axis_extents(layout.x_starts, layout.tile_width,
                                                 layout.width), ramp)
  # Guard against 0 / 0 where a ramp is exactly 0 for every tile (never inside the layout).
  wy = wy / jnp.maximum(wy.sum(axis=0, keepdims=True), 1e-12)
  wx = wx / jnp.maximum(wx.sum(axis=0, keepdims=True), 1e-12)
  return (wy[:, None, :] * wx[None, :, :]).reshape(-1, coords.shape[0])


def to_local(coords: Array, layout: TileLayout) -> Array:
  """Global coords (N, 2) -> each tile's local coords (T, N, 2) (the tile spans [-1, 1]^2)."""
  ey = _axis_extents(layout.y_starts, layout.tile_height, layout.height)
  ex = _axis_extents(layout.x_starts, layout.tile_width, layout.width)
  lo = np.array([[y[0], x[0]] for y in ey for x in ex], np.float32)
  hi = np.array([[y[1], x[1]] for y in ey for x in ex], np.float32)
  centre, half = (lo + hi) / 2.0, (hi - lo) / 2.0
  return (coords[None, :, :] - centre[:, None, :]) / half[:, None, :]


@functools.lru_cache(maxsize=None)
def tiled_field(apply_fn: ApplyFn, layout: TileLayout, ramp: str = 'cosine') -> ApplyFn:
  """The blended image of all tiles as one field: (stacked params, global coords (N, 2)) ->
  (N, C). Every tile is evaluated at every point (T network evaluations per point); weights
  outside a tile are 0. Use it with ``render.render`` for any output size or crop. Cached, so
  the same arguments give the same (hashable) function."""
  if ramp not in RAMPS:
    raise ValueError(f'unknown blending ramp {ramp!r}; choose from {", ".join(RAMPS)}')
  return functools.partial(_tiled_field, stacked_apply(apply_fn), layout, ramp)


def _tiled_field(batched: ApplyFn, layout: TileLayout, ramp: str, params: Any,
                 coords: Array) -> Array:
  values = batched(params, to_local(coords, layout))  # (N, T, C)
  weights = blend_weights(coords, layout, ramp)  # (T, N)
  return jnp.einsum('tn,ntc->nc', weights, values)
