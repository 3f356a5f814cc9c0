"""The coordinate conventions of siren_jax, and chunked evaluation of fields on grids.

Coordinates are ordered (y, x) = (row, column): ``coords[..., 0]`` grows down the rows,
``coords[..., 1]`` along the columns (``meshgrid(..., indexing='ij')``), so the gradient's last
axis is (d/dy, d/dx). Where the n pixel centres of an axis sit in an extent (lo, hi) -- by
default (-1, 1) -- is the grid convention, one of ``GRIDS``:

  'half_pixel' (the default): the n pixels cover [lo, hi] as an *area*; pixel i is sampled at
    its centre, lo + (hi - lo) (i + 1/2) / n, so [-1, 1] holds y_i = -1 + (2 i + 1) / H.
    This is the ("align_corners=False") convention of PIL, scikit-image and
    ``jax.image.resize``: an image downsampled by an integer factor has its pixel centres
    exactly at the mean of the centres it averages, so sampling the same field on an
    H' x W' grid resizes it as those libraries do.
  'linspace': the SIREN reference code's ``linspace(-1, 1, n)``: the first and last centres
    lie on lo and hi, pixel i at lo + (hi - lo) i / (n - 1) (n = 1: lo, as ``np.linspace``).
    Sampling a field fitted on this grid on an H' x W' linspace grid resizes it with the
    corner pixels fixed ("align_corners=True"); at the fitted size it gives the fit's samples.

Every piece that maps pixels to coordinates takes the convention by name (``grid``): the
samples of a fit (``image_to_samples``), ``render``, the finite differences and Poisson
targets (their pixel spacing, ``pixel_spacing``), and the fitted-image file, which records
the convention its field was fitted on. The two differ by a scale of (n - 1) / n, so resizing,
derivative targets and re-rendering must use the convention of the fit.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from siren_jax import names

Array = jax.Array
Range = tuple[float, float]
FULL_RANGE: Range = (-1.0, 1.0)
GRIDS = names.GRIDS
HALF_PIXEL, LINSPACE = GRIDS


def check_grid(grid: str) -> str:
  """Returns ``grid`` if it names a convention of ``GRIDS``; else a one-line ValueError."""
  if grid not in GRIDS:
    raise ValueError(f'unknown grid convention {grid!r}; choose from {", ".join(GRIDS)}')
  return grid


def axis_steps(n: int, grid: str = HALF_PIXEL) -> tuple[float, float]:
  """(offset, steps) of an n-pixel axis: pixel i sits at lo + (hi - lo) (i + offset) / steps.

  The one formula of both conventions (module docstring): half_pixel (1/2, n), linspace
  (0, max(n - 1, 1)). ``render`` evaluates it on the device with these two numbers.
  """
  if n < 1:
    raise ValueError(f'a grid axis needs at least 1 pixel, got {n}')
  if check_grid(grid) == HALF_PIXEL:
    return 0.5, float(n)
  return 0.0, float(max(n - 1, 1))


def pixel_centers(n: int, extent: Range = FULL_RANGE, dtype: Any = jnp.float32, *,
                  grid: str = HALF_PIXEL) -> Array:
  """The n pixel centres of an axis over ``extent`` = (lo, hi) under ``grid``: (n,) values.

  half_pixel: centres of n equal cells covering [lo, hi]; linspace: ``linspace(lo, hi, n)``.
  """
  offset, steps = axis_steps(n, grid)
  lo, hi = extent
  return (lo + (hi - lo) * (jnp.arange(n, dtype=dtype) + offset) / steps).astype(dtype)


def pixel_spacing(n: int, grid: str = HALF_PIXEL, extent: Range = FULL_RANGE) -> float:
  """Coordinate distance between neighbouring pixel centres of an n-pixel axis: 2/n
  (half_pixel) or 2/(n - 1) (linspace) over [-1, 1]."""
  _, steps = axis_steps(n, grid)
  return (extent[1] - extent[0]) / steps


def make_grid(height: int, width: int, *, y_range: Range = FULL_RANGE,
              x_range: Range = FULL_RANGE, dtype: Any = jnp.float32,
              grid: str = HALF_PIXEL) -> Array:
  """Pixel-centre coordinates of a height x width grid: (height, width, 2) as (y, x).

  ``y_range``/``x_range`` choose the rectangle the grid covers (default the whole image), so a
  sub-rectangle gives a crop or zoom of the same field; ``grid`` is the convention.
  """
  ys = pixel_centers(height, y_range, dtype, grid=grid)
  xs = pixel_centers(width, x_range, dtype, grid=grid)
  return jnp.stack(jnp.meshgrid(ys, xs, indexing='ij'), axis=-1)


def image_to_samples(image: np.ndarray | Array, grid: str = HALF_PIXEL
                     ) -> tuple[Array, Array]:
  """Training samples of an image on the ``grid`` convention: (H, W, C) -> coords (H*W, 2),
  values (H*W, C)."""
  if image.ndim != 3:
    raise ValueError(f'image must have shape (H, W, C), got {image.shape}')
  h, w, c = image.shape
  return make_grid(h, w, grid=grid).reshape(-1, 2), jnp.asarray(image).reshape(h * w, c)


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
