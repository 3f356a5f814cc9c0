"""Tiles of an image: fitting a large image as overlapping tiles, one small field per tile,
blended seamlessly; and running a model of fixed input size over an image of any size.

Two layouts (``TileLayout``):
  ``make_layout``: tiles inside the image. Along each axis, tiles of a fixed size start at evenly
    spaced offsets so that neighbours overlap by at least ``overlap`` pixels and the last tile
    ends at the image's edge.
  ``grid_layout``: tiles on a regular grid, a start every ``tile - overlap`` pixels shifted by
    ``offset``, hanging over the image's edges (``split`` and ``map_tiles`` show such tiles the
    image reflected) so that every pixel lies where the ``window`` weights of its tiles sum to
    one: a model's outputs on the tiles blend without seams (``map_tiles``).

Fitting in tiles (``make_layout``): tile (i, j) (row-major, ``T = len(y_starts) * len(x_starts)``
tiles) covers the global coordinate rectangle of its pixels and is fitted on its own local grid
(``grids`` convention on the tile), so every tile is an ordinary image fit; all tiles train
together as one batched (vmapped) network with stacked parameters (leading axis T).

Blending fitted tiles: a tile's weight along an axis is 1 in its interior and ramps from 0 to 1
across its overlap with each neighbour, linearly or as sin^2 (both pairs of opposite ramps sum to
one); the 2-D weight is the product over the axes, normalised to sum to one over the tiles. A
tile without a neighbour on a side keeps weight 1 beyond that side, so coordinates outside
[-1, 1]^2 take the nearest border tile's field. The ramps are functions of the continuous
coordinate, so the blended field renders at any size.
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
  top-left pixel at (y_starts[i], x_starts[j]) (outside the image for a ``grid_layout`` tile
  hanging over its edge)."""
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


def check_tiles(tile_size: int, overlap: int, margin: int = 0, multiple: int = 1) -> None:
  """One-line ValueErrors for tiles a layout cannot use: ``tile_size`` >= 2 pixels (and a
  multiple of ``multiple``, e.g. a conv net's downsampling), ``overlap`` in [0, tile_size / 2],
  ``margin`` (``window``) below overlap / 2."""
  if tile_size < 2 or tile_size % multiple:
    also = f' and a multiple of {multiple}' if multiple > 1 else ''
    raise ValueError(f'tile size must be >= 2 pixels{also}, got {tile_size}')
  if not 0 <= overlap <= tile_size // 2:
    raise ValueError(f'tile overlap must be in [0, tile_size / 2] = [0, {tile_size // 2}], '
                     f'got {overlap}')
  if not 0 <= 2 * margin < max(overlap, 1):
    raise ValueError(f'margin={margin} must be < overlap / 2 = {overlap / 2}')


def axis_starts(size: int, tile: int, overlap: int) -> tuple[int, ...]:
  """Evenly spaced starts of tiles of ``tile`` pixels covering [0, size), neighbours
  overlapping by >= ``overlap`` pixels, first at 0 and last at size - tile."""
  if tile >= size:
    return (0,)
  count = math.ceil((size - overlap) / (tile - overlap))
  return tuple(int(round(s)) for s in np.linspace(0, size - tile, count))


def make_layout(height: int, width: int, tile_size: int, overlap: int) -> TileLayout:
  """Square tiles of ``tile_size`` (clipped to the image) overlapping by >= ``overlap``."""
  check_tiles(tile_size, overlap)
  tile_height, tile_width = min(tile_size, height), min(tile_size, width)
  return TileLayout(height, width, tile_height, tile_width,
                    axis_starts(height, tile_height, overlap),
                    axis_starts(width, tile_width, overlap))


def grid_starts(size: int, tile: int, overlap: int = 0, offset: int = 0, margin: int = 0
                ) -> tuple[int, ...]:
  """Starts of tiles of ``tile`` pixels every ``tile - overlap`` pixels on a grid shifted by
  ``offset``, such that every pixel of [0, size) lies where the tiles' ``window`` weights sum to
  one: from one tile before the image when tiles overlap (the first tile's unpaired ramp then
  falls outside it; without overlap, from the last grid start at or before 0) until the last
  tile's unpaired ramp lies past the image."""
  stride = tile - overlap
  first = -(offset % stride) - (stride if overlap else 0)
  count = math.ceil((size + overlap - margin - tile - first) / stride) + 1
  return tuple(first + stride * i for i in range(max(count, 2 if overlap else 1)))


def grid_layout(height: int, width: int, tile_height: int, tile_width: int, overlap: int = 0,
                offset: tuple[int, int] = (0, 0), margin: int = 0) -> TileLayout:
  """Tiles on a regular grid over the image and past its edges (``grid_starts`` per axis);
  ``offset`` (dy, dx) shifts the grid, ``margin`` is that of the ``window`` the tiles are
  blended with. Overlap 0 and margin 0 cut the image into abutting tiles from its top-left
  corner."""
  if min(tile_height, tile_width) < 1:
    raise ValueError(f'tile_height and tile_width must be >= 1, got {tile_height} and '
                     f'{tile_width}')
  if overlap or margin:
    check_tiles(min(tile_height, tile_width), overlap, margin)
  return TileLayout(height, width, tile_height, tile_width,
                    grid_starts(height, tile_height, overlap, offset[0], margin),
                    grid_starts(width, tile_width, overlap, offset[1], margin))


def window(tile: int, overlap: int, margin: int = 0) -> np.ndarray:
  """1-D blending weights (tile,) of a ``grid_layout`` tile: 0 on the ``margin`` pixels at each
  edge (where a conv net sees its own zero padding), then sin^2 ramps over the next
  ``overlap - 2 margin`` pixels, 1 between. The right ramp of a tile and the left ramp of the
  next one (``tile - overlap`` further) cover the same pixels and sum to one:
  sin^2(pi/2 (j + 1/2) / n) + cos^2(same) = 1."""
  check_tiles(tile, overlap, margin)
  weights = np.ones(tile)
  if overlap:
    length = overlap - 2 * margin
    ramp = np.concatenate([np.zeros(margin),
                           np.sin(0.5 * np.pi * (np.arange(length) + 0.5) / length) ** 2])
    weights[:overlap - margin] = ramp
    weights[tile - overlap + margin:] = np.minimum(weights[tile - overlap + margin:], ramp[::-1])
  return weights


def pad(image: np.ndarray | Array, layout: TileLayout) -> tuple[np.ndarray, tuple[int, int]]:
  """The (H, W, C) image reflect-padded so that every tile of ``layout`` lies inside it (a side
  of one pixel is repeated instead), and where the image's pixel (0, 0) lies in it: (top, left).
  """
  image = np.asarray(image)
  if tuple(image.shape[:2]) != (layout.height, layout.width):
    raise ValueError(f'image of shape {image.shape} does not match the tile layout '
                     f'{layout.height}x{layout.width}')
  top = max(0, -min(layout.y_starts))
  left = max(0, -min(layout.x_starts))
  bottom = max(0, max(layout.y_starts) + layout.tile_height - layout.height)
  right = max(0, max(layout.x_starts) + layout.tile_width - layout.width)
  if min(image.shape[:2]) == 1:  # Nothing to reflect.
    return np.pad(image, ((top, bottom), (left, right), (0, 0)), mode='edge'), (top, left)
  out = image
  # A pad larger than the image takes several rounds, each reflecting what is padded so far.
  todo = [top, bottom, left, right]
  while any(todo):
    h, w = out.shape[:2]
    now = [min(todo[0], h - 1), min(todo[1], h - 1), min(todo[2], w - 1), min(todo[3], w - 1)]
    out = np.pad(out, ((now[0], now[1]), (now[2], now[3]), (0, 0)), mode='reflect')
    todo = [t - n for t, n in zip(todo, now)]
  return out, (top, left)


def _corners(layout: TileLayout, top: int, left: int) -> list[tuple[int, int]]:
  """Top-left pixels of the tiles, row-major, in an image padded by (top, left)."""
  return [(y + top, x + left) for y in layout.y_starts for x in layout.x_starts]


def split(image: np.ndarray | Array, layout: TileLayout) -> np.ndarray:
  """(H, W, C) image -> (T, tile_height, tile_width, C) tiles, row-major, as NumPy (the image's
  dtype); a tile hanging over the image's edge sees it reflected (``pad``)."""
  padded, (top, left) = pad(image, layout)
  return np.stack([padded[y:y + layout.tile_height, x:x + layout.tile_width]
                   for y, x in _corners(layout, top, left)])


def map_tiles(fn: Callable[[np.ndarray], np.ndarray], image: np.ndarray | Array,
              layout: TileLayout, weights: np.ndarray | None = None, batch_size: int = 8
              ) -> np.ndarray:
  """A per-pixel prediction of the whole image from ``fn`` on its tiles, blended.

  Args:
    fn: (B, tile_height, tile_width, C) tiles -> (B, tile_height, tile_width, C') outputs;
      always called with B = batch_size (the last batch is padded by repeating its last tile),
      so a jitted function compiles once. Only one batch of tiles is in flight at a time.
    image: (H, W, C); tiles hanging over its edges see it reflected (``pad``).
    layout: the tiles, e.g. ``grid_layout``.
    weights: (tile_height, tile_width) blending weight of every pixel of a tile, e.g. the outer
      product of two ``window``s; None: 1 (tiles that do not overlap).
    batch_size: tiles per ``fn`` call.
  Returns:
    (H, W, C'): at each pixel, the sum over its tiles of weight * output / the sum of the
    weights (the outputs' dtype, at least float32).
  """
  padded, (top, left) = pad(image, layout)
  th, tw = layout.tile_height, layout.tile_width
  weights = np.ones((th, tw)) if weights is None else weights
  weights = weights[..., None]
  corners = _corners(layout, top, left)
  canvas: np.ndarray | None = None
  total: np.ndarray | None = None
  for first in range(0, len(corners), batch_size):
    chunk = corners[first:first + batch_size]
    tiles = np.stack([padded[y:y + th, x:x + tw] for y, x in chunk])
    if len(chunk) < batch_size:  # Pad the batch so that fn sees one shape.
      tiles = np.concatenate([tiles, np.repeat(tiles[-1:], batch_size - len(chunk), 0)])
    out = np.asarray(fn(tiles))[:len(chunk)]
    if canvas is None or total is None:
      dtype = np.result_type(out.dtype, np.float32)
      canvas = np.zeros(padded.shape[:2] + out.shape[-1:], dtype)
      total = np.zeros(padded.shape[:2] + (1,), dtype)
    for (y, x), piece in zip(chunk, out):
      canvas[y:y + th, x:x + tw] += weights * piece
      total[y:y + th, x:x + tw] += weights
  # Inside the image the weights sum to > 0; outside it they may be 0: crop first.
  assert canvas is not None and total is not None  # There is always at least one tile.
  h, w = layout.height, layout.width
  return canvas[top:top + h, left:left + w] / total[top:top + h, left:left + w]


def tile_samples(image: np.ndarray | Array, layout: TileLayout) -> dict[str, Array]:
  """Training batch of all tiles, points first (so a mesh splits it like any fit's batch):
  'coords' (n, 2) on the shared local tile grid, 'values' (n, T, C) with
  n = tile_height * tile_width. ``fitting.image_loss`` with a ``stacked_apply`` field over
  params stacked on a leading tile axis (``fields.init_params(..., num_tiles=T)``) fits it: the
  loss is the mean of the tiles' MSEs, so each tile's gradient is its own fit's gradient / T and
  Adam, invariant to that scale (up to its epsilon), runs T independent fits as one batched one."""
  tiles = jnp.asarray(split(image, layout))
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


def _max_cover(extents: np.ndarray) -> int:
  """Most tiles of one axis whose closed extents contain a common point (consecutive tiles)."""
  most = 1
  for i, (_, hi) in enumerate(extents):
    most = max(most, 1 + int(np.sum(extents[i + 1:, 0] <= hi)))
  return most


def _axis_candidates(u: Array, starts: tuple[int, ...], tile: int, size: int,
                     ramp: str) -> tuple[Array, Array]:
  """The tiles of one axis that can cover each coordinate u (N,), and their normalised
  weights: (N, K) int32 tile indices and (N, K) weights, K = ``_max_cover``.

  The blending weights of the module docstring, restricted to K consecutive tiles: the last
  tile starting at or before u and the K - 1 before it (shifted inside the axis). Every other
  tile's weight is exactly 0 at u (it starts after u, or it ends at or before the start of a
  later tile that starts at or before u), so normalising over the candidates equals
  normalising over all.
  """
  extents = _axis_extents(starts, tile, size)
  n = len(extents)
  if n == 1:
    return jnp.zeros((u.shape[0], 1), jnp.int32), jnp.ones((u.shape[0], 1), u.dtype)
  k = _max_cover(extents)
  lo, hi = extents[:, 0], extents[:, 1]
  # Overlap lengths with the previous / next tile (0 where there is none: no ramp there).
  up_len = np.concatenate([[0.0], hi[:-1] - lo[1:]])
  down_len = np.concatenate([hi[:-1] - lo[1:], [0.0]])
  last = jnp.searchsorted(jnp.asarray(lo, jnp.float32), u, side='right') - 1
  first = jnp.clip(last - (k - 1), 0, n - k)
  index = first[:, None] + jnp.arange(k, dtype=jnp.int32)[None, :]

  def ramp_fn(distance: Array, length: Array) -> Array:
    safe = jnp.where(length > 0, length, 1.0)
    return jnp.where(length > 0, jnp.clip(distance / safe, 0.0, 1.0),
                     (distance >= 0).astype(u.dtype))

  table = lambda a: jnp.asarray(a, jnp.float32)[index]  # noqa: E731
  uu = u[:, None]
  w = jnp.ones_like(index, dtype=u.dtype)
  w = jnp.where(index > 0, jnp.minimum(w, ramp_fn(uu - table(lo), table(up_len))), w)
  w = jnp.where(index < n - 1, jnp.minimum(w, ramp_fn(table(hi) - uu, table(down_len))), w)
  if ramp == 'cosine':
    w = jnp.sin(0.5 * jnp.pi * w) ** 2
  return index, w / jnp.maximum(w.sum(axis=1, keepdims=True), 1e-12)


def covering_tiles(coords: Array, layout: TileLayout, ramp: str = 'cosine'
                   ) -> tuple[Array, Array]:
  """For global coords (N, 2): the K = Ky * Kx candidate tiles of each point, (N, K) int32
  row-major tile indices, and their blending weights (N, K) (module docstring), summing to one
  (tiles not listed weigh 0 there). K is 4 when neighbouring tiles overlap by at most half a
  tile."""
  iy, wy = _axis_candidates(coords[:, 0], layout.y_starts, layout.tile_height, layout.height,
                            ramp)
  ix, wx = _axis_candidates(coords[:, 1], layout.x_starts, layout.tile_width, layout.width,
                            ramp)
  nx = len(layout.x_starts)
  index = (iy[:, :, None] * nx + ix[:, None, :]).reshape(coords.shape[0], -1)
  weight = (wy[:, :, None] * wx[:, None, :]).reshape(coords.shape[0], -1)
  return index, weight


@functools.lru_cache(maxsize=None)
def tiled_field(apply_fn: ApplyFn, layout: TileLayout, ramp: str = 'cosine',
                group_points: int = 1024) -> ApplyFn:
  """The blended image of all tiles as one field: (stacked params, global coords (N, 2)) ->
  (N, C). Each point is evaluated only by the tiles that cover it (weight > 0; at most 4 when
  overlaps are at most half a tile), so the cost is that of one network per point plus the
  overlaps, whatever the number of tiles. Use it with ``render.render`` for any output size or
  crop. Cached, so the same arguments give the same (hashable) function.

  How: the (point, covering tile) pairs are sorted by tile and laid out in groups of
  ``group_points`` that each belong to one tile (each tile's run padded to a whole number of
  groups); a ``lax.map`` over the groups evaluates each with its own tile's parameters
  (groups past the end are skipped by ``lax.cond``) and the weighted values are added back to
  their points. Static sizes: the pairs (N * K) plus at most T - 1 padded groups.
  """
  if ramp not in RAMPS:
    raise ValueError(f'unknown blending ramp {ramp!r}; choose from {", ".join(RAMPS)}')
  if group_points < 1:
    raise ValueError(f'group_points must be >= 1, got {group_points}')
  return functools.partial(_tiled_field, apply_fn, layout, ramp, group_points)


def _tile_boxes(layout: TileLayout) -> tuple[np.ndarray, np.ndarray]:
  """(T, 2) centres and half extents of the tiles in global coordinates, float32."""
  ey = _axis_extents(layout.y_starts, layout.tile_height, layout.height)
  ex = _axis_extents(layout.x_starts, layout.tile_width, layout.width)
  lo = np.array([[y[0], x[0]] for y in ey for x in ex], np.float32)
  hi = np.array([[y[1], x[1]] for y in ey for x in ex], np.float32)
  return (lo + hi) / 2.0, (hi - lo) / 2.0


def _tiled_field(apply_fn: ApplyFn, layout: TileLayout, ramp: str, group: int, params: Any,
                 coords: Array) -> Array:
  num_points, num_tiles = coords.shape[0], layout.num_tiles
  tile, weight = covering_tiles(coords, layout, ramp)  # (N, K) each
  pairs = tile.size
  point = jnp.repeat(jnp.arange(num_points, dtype=jnp.int32), tile.shape[1])
  tile, weight = tile.reshape(-1), weight.reshape(-1)
  tile = jnp.where(weight > 0, tile, num_tiles)  # Uncovering candidates sort last, dropped.
  order = jnp.argsort(tile, stable=True)
  tile, weight, point = tile[order], weight[order], point[order]
  counts = jnp.bincount(tile, length=num_tiles + 1)[:num_tiles]
  starts = jnp.cumsum(counts) - counts
  padded = (counts + group - 1) // group * group
  padded_ends = jnp.cumsum(padded)
  padded_starts = padded_ends - padded
  kept = tile < num_tiles
  safe_tile = jnp.minimum(tile, num_tiles - 1)
  length = -(-(pairs + num_tiles * (group - 1)) // group) * group
  slot = jnp.where(kept, padded_starts[safe_tile] + jnp.arange(pairs) - starts[safe_tile],
                   length)  # Out of range: dropped by the scatters below.
  centre, half = _tile_boxes(layout)
  local = (coords[point] - jnp.asarray(centre)[safe_tile]) / jnp.asarray(half)[safe_tile]
  slot_point = jnp.full((length,), num_points, jnp.int32).at[slot].set(point, mode='drop')
  slot_weight = jnp.zeros((length,), coords.dtype).at[slot].set(weight, mode='drop')
  slot_local = jnp.zeros((length, 2), coords.dtype).at[slot].set(local, mode='drop')
  num_groups = length // group
  group_start = jnp.arange(num_groups, dtype=jnp.int32) * group
  group_tile = jnp.minimum(jnp.searchsorted(padded_ends, group_start, side='right'),
                           num_tiles - 1)
  used = padded_ends[-1]
  one_tile = jax.tree.map(lambda x: x[0], params)
  channels = jax.eval_shape(apply_fn, one_tile, jnp.zeros((group, 2), coords.dtype)).shape[-1]

  def evaluate(g: Array) -> Array:
    rows = jax.lax.dynamic_slice_in_dim(slot_local, g * group, group)
    w = jax.lax.dynamic_slice_in_dim(slot_weight, g * group, group)

    def run() -> Array:
      tile_params = jax.tree.map(lambda x: x[group_tile[g]], params)
      return (apply_fn(tile_params, rows) * w[:, None]).astype(coords.dtype)

    return jax.lax.cond(group_start[g] < used, run,
                        lambda: jnp.zeros((group, channels), coords.dtype))

  values = jax.lax.map(evaluate, jnp.arange(num_groups)).reshape(length, channels)
  out = jnp.zeros((num_points + 1, channels), coords.dtype).at[slot_point].add(values)
  return out[:num_points]
