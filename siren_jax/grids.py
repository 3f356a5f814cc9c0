"""The one coordinate convention of siren_jax, and chunked evaluation of fields on grids.

Convention (used by every fit, render and resize):
  * An image of H x W pixels covers the square [-1, 1] x [-1, 1] as an *area*; pixel (i, j) is
    sampled at its centre: y_i = -1 + (2 i + 1) / H, x_j = -1 + (2 j + 1) / W.
  * Coordinates are ordered (y, x) = (row, column): ``coords[..., 0]`` grows down the rows,
    ``coords[..., 1]`` along the columns (``meshgrid(..., indexing='ij')``), so the gradient's
    last axis is (d/dy, d/dx).
This is the half-pixel ("align_corners=False") convention of PIL, scikit-image and
``jax.image.resize``: an image downsampled by an integer factor has its pixel centres exactly at
the mean of the centres it averages, so sampling the same field on a H' x W' grid resizes it.
The reference code's ``linspace(-1, 1, n)`` puts the centres on the borders instead; the two
differ by a scale of (n - 1) / n, which does not matter for fitting but does for resizing.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

Array = jax.Array
Range = tuple[float, float]
FULL_RANGE: Range = (-1.0, 1.0)


def pixel_centers(n: int, extent: Range = FULL_RANGE, dtype: Any = jnp.float32) -> Array:
  """Centres of n equal cells covering ``extent`` = (lo, hi): (n,) values in (lo, hi)."""
  if n < 1:
    raise ValueError(f'a grid axis needs at least 1 pixel, got {n}')
  lo, hi = extent
  return (lo + (hi - lo) * (jnp.arange(n, dtype=dtype) + 0.5) / n).astype(dtype)


def make_grid(height: int, width: int, *, y_range: Range = FULL_RANGE,
              x_range: Range = FULL_RANGE, dtype: Any = jnp.float32) -> Array:
  """Pixel-centre coordinates of a height x width grid: (height, width, 2) as (y, x).

  ``y_range``/``x_range`` choose the rectangle the grid covers (default the whole image), so a
  sub-rectangle gives a crop or zoom of the same field.
  """
  ys = pixel_centers(height, y_range, dtype)
  xs = pixel_centers(width, x_range, dtype)
  return jnp.stack(jnp.meshgrid(ys, xs, indexing='ij'), axis=-1)


def image_to_samples(image: np.ndarray | Array) -> tuple[Array, Array]:
  """Training samples of an image: (H, W, C) -> coords (H*W, 2), values (H*W, C)."""
  if image.ndim != 3:
    raise ValueError(f'image must have shape (H, W, C), got {image.shape}')
  h, w, c = image.shape
  return make_grid(h, w).reshape(-1, 2), jnp.asarray(image).reshape(h * w, c)


def evaluate_in_chunks(fn: Callable[[Array], Any], coords: Array, chunk_size: int) -> Any:
  """fn over (N, d) coords, ``chunk_size`` points at a time (bounds peak activation memory).

  ``fn`` maps (n, d) -> an array or pytree of arrays with leading axis n, for any n. Jit-able:
  chunks run sequentially in ``lax.map``; the last, partial chunk is evaluated unpadded.
  """
  if chunk_size < 1:
    raise ValueError(f'chunk_size must be >= 1, got {chunk_size}')
  n = coords.shape[0]
  num_full = n // chunk_size
  parts = []
  if num_full:
    full = coords[:num_full * chunk_size].reshape(num_full, chunk_size, *coords.shape[1:])
    out = jax.lax.map(fn, full)
    parts.append(jax.tree.map(lambda a: a.reshape(num_full * chunk_size, *a.shape[2:]), out))
  if n % chunk_size:
    parts.append(fn(coords[num_full * chunk_size:]))
  if len(parts) == 1:
    return parts[0]
  return jax.tree.map(lambda *a: jnp.concatenate(a, axis=0), *parts)
