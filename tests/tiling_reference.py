"""The plain blend of fitted tiles that ``siren_jax.tiling.covering_tiles`` and ``tiled_field``
must equal: every tile's weight and local coordinates at every point (T x N), written from the
module docstring's definition for the tests to compare against."""

import jax
import jax.numpy as jnp
import numpy as np

from siren_jax import tiling


def _extents(starts, tile, size):
  """(n, 2) [lo, hi] of each tile along one axis: its pixels' rectangle in [-1, 1]."""
  return [(2.0 * s / size - 1.0, 2.0 * (s + tile) / size - 1.0) for s in starts]


def _ramp(distance, length):
  """0 -> 1 linearly over ``distance`` in [0, length]; a step at 0 for abutting tiles."""
  if length <= 0:
    return (distance >= 0).astype(distance.dtype)
  return jnp.clip(distance / length, 0.0, 1.0)


def _axis_weights(u, extents, ramp):
  """Normalised weights (n_tiles, N) of the tiles along one axis at coordinates u (N,): 1 inside
  a tile, ramping across its overlaps with its neighbours, sin^2-shaped for 'cosine'."""
  rows = []
  for t, (lo, hi) in enumerate(extents):
    w = jnp.ones_like(u)
    if t > 0:
      w = jnp.minimum(w, _ramp(u - lo, extents[t - 1][1] - lo))
    if t < len(extents) - 1:
      w = jnp.minimum(w, _ramp(hi - u, hi - extents[t + 1][0]))
    rows.append(jnp.sin(0.5 * jnp.pi * w) ** 2 if ramp == 'cosine' else w)
  rows = jnp.stack(rows)
  # Guard against 0 / 0 where a ramp is exactly 0 for every tile (never inside the layout).
  return rows / jnp.maximum(rows.sum(axis=0, keepdims=True), 1e-12)


def blend_weights(coords: jax.Array, layout: tiling.TileLayout, ramp: str = 'cosine'
                  ) -> jax.Array:
  """Blending weights (T, N) of all tiles at global coords (N, 2); they sum to one over T."""
  wy = _axis_weights(coords[:, 0], _extents(layout.y_starts, layout.tile_height, layout.height),
                     ramp)
  wx = _axis_weights(coords[:, 1], _extents(layout.x_starts, layout.tile_width, layout.width),
                     ramp)
  return (wy[:, None, :] * wx[None, :, :]).reshape(-1, coords.shape[0])


def to_local(coords: jax.Array, layout: tiling.TileLayout) -> jax.Array:
  """Global coords (N, 2) -> each tile's local coords (T, N, 2) (the tile spans [-1, 1]^2)."""
  boxes = np.array([(y, x) for y in _extents(layout.y_starts, layout.tile_height, layout.height)
                    for x in _extents(layout.x_starts, layout.tile_width, layout.width)],
                   np.float32)  # (T, 2 axes, [lo, hi])
  centre, half = boxes.mean(axis=-1), (boxes[..., 1] - boxes[..., 0]) / 2.0
  return (coords[None, :, :] - centre[:, None, :]) / half[:, None, :]
