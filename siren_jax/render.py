"""Rendering a fitted coordinate field on any pixel grid, in bounded device memory.

A field ``apply_fn(params, coords (N, 2)) -> (N, C)`` is an image at every resolution: sampling
it on an H' x W' pixel-centre grid of the convention it was fitted on (``grid``, see ``grids``)
resizes it (aspect kept or not), and sampling it on a grid over a sub-rectangle of [-1, 1]^2
crops or zooms into it.

``render`` streams the output through one jitted block function: each block of rows x cols
pixels computes its own coordinates on the device (no full (H*W, 2) coordinate array is ever
built), evaluates the field and is copied into a host numpy array. Device memory therefore
stays at a couple of blocks (``max_chunk_points`` points each, plus the network's activations
for them) whatever the output size; only the host output grows with it.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from siren_jax import grids

Array = jax.Array
ApplyFn = Callable[[Any, Array], Array]
Range = grids.Range

DEFAULT_MAX_PIXELS = 4096 * 4096


def check_size(height: Any, width: Any, max_pixels: int | None = DEFAULT_MAX_PIXELS) -> None:
  """Raises a one-line ValueError unless height and width are positive integers with
  height * width <= max_pixels (None: no limit)."""
  for name, value in (('height', height), ('width', width)):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
      raise ValueError(f'output {name} must be a positive integer, got {value!r}')
  if max_pixels is not None and height * width > max_pixels:
    raise ValueError(f'output size {height}x{width} = {height * width:,} pixels exceeds the '
                     f'limit of {max_pixels:,} (raise max_pixels to allow it)')


def target_size(height: int, width: int, *, factor: float = 0.0, out_height: int = 0,
                out_width: int = 0, max_pixels: int | None = DEFAULT_MAX_PIXELS
                ) -> tuple[int, int]:
  """The output size for resizing a height x width image.

  Args:
    height, width: the source size.
    factor: scale both sides by this (used when neither out_height nor out_width is set).
    out_height, out_width: the output size; when only one is set (> 0) the other follows from
      the source's aspect ratio. 0 means unset.
    max_pixels: limit on out_height * out_width (None: no limit).

  Returns:
    (out_height, out_width), validated by ``check_size``.
  """
  check_size(height, width, None)
  for name, value in (('out_height', out_height), ('out_width', out_width)):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
      raise ValueError(f'{name} must be an integer >= 0 (0 = from the aspect ratio), '
                       f'got {value!r}')
  if out_height and out_width:
    size = (int(out_height), int(out_width))
  elif out_height:
    size = (int(out_height), max(1, round(width * out_height / height)))
  elif out_width:
    size = (max(1, round(height * out_width / width)), int(out_width))
  else:
    if isinstance(factor, bool) or not isinstance(factor, (int, float)) or not factor > 0:
      raise ValueError(f'scale factor must be a positive number, got {factor!r} (or give an '
                       'output height/width)')
    size = (max(1, round(height * factor)), max(1, round(width * factor)))
  check_size(*size, max_pixels)
  return size


def pixel_box_to_ranges(top: float, left: float, bottom: float, right: float, height: int,
                        width: int, *, grid: str = grids.HALF_PIXEL) -> tuple[Range, Range]:
  """Coordinate ranges (y_range, x_range) of the pixel rectangle rows [top, bottom) x columns
  [left, right) of a height x width image (fractional pixels allowed): the rectangle to give
  ``render`` (with the same ``grid``) for a crop or zoom. Rendered at (bottom - top) x
  (right - left) pixels it gives the image's own pixels of the box: half_pixel ranges are the
  box's edges, linspace ranges the centres of its first and last pixels."""
  if not (0 <= top < bottom <= height and 0 <= left < right <= width):
    raise ValueError(f'crop box rows [{top}, {bottom}) x columns [{left}, {right}) is empty or '
                     f'outside the {height}x{width} image')

  def edges(start: float, stop: float, n: int) -> Range:
    _, steps = grids.axis_steps(n, grid)
    last = stop if grid == grids.HALF_PIXEL else stop - 1
    return -1.0 + 2.0 * start / steps, -1.0 + 2.0 * last / steps

  return edges(top, bottom, height), edges(left, right, width)


@functools.partial(jax.jit, static_argnames=('apply_fn', 'rows', 'cols'))
def _render_block(apply_fn: ApplyFn, params: Any, row0: Array, col0: Array, spec: Array, *,
                  rows: int, cols: int) -> Array:
  """Field on the rows x cols block of a pixel-centre grid whose top-left pixel is (row0, col0).

  ``spec`` = [y_steps, x_steps, y_lo, y_extent, x_lo, x_extent, offset] as float32 (the
  convention's ``grids.axis_steps``); traced, so every block of every render with this block
  shape shares one compilation, whatever the convention. The centre formula is
  ``grids.pixel_centers``'s; rows/columns past the grid's end are computed and dropped later.
  """
  y_steps, x_steps, y_lo, y_extent, x_lo, x_extent, offset = (spec[i] for i in range(7))
  ys = y_lo + y_extent * ((row0 + jnp.arange(rows)).astype(jnp.float32) + offset) / y_steps
  xs = x_lo + x_extent * ((col0 + jnp.arange(cols)).astype(jnp.float32) + offset) / x_steps
  coords = jnp.stack(jnp.meshgrid(ys, xs, indexing='ij'), axis=-1).reshape(rows * cols, 2)
  values = apply_fn(params, coords)
  return values.reshape(rows, cols, values.shape[-1])


def block_shape(height: int, width: int, max_chunk_points: int) -> tuple[int, int]:
  """(rows, cols) of the blocks ``render`` evaluates: whole rows when a row fits in
  ``max_chunk_points``, otherwise single rows split into column blocks."""
  if max_chunk_points < 1:
    raise ValueError(f'max_chunk_points must be >= 1, got {max_chunk_points}')
  cols = min(width, max_chunk_points)
  rows = max(1, min(height, max_chunk_points // cols))
  return rows, cols


def render(apply_fn: ApplyFn, params: Any, height: int, width: int, *,
           y_range: Range = grids.FULL_RANGE, x_range: Range = grids.FULL_RANGE,
           max_chunk_points: int = 65536,
           max_pixels: int | None = DEFAULT_MAX_PIXELS,
           grid: str = grids.HALF_PIXEL) -> np.ndarray:
  """The field sampled on a height x width pixel-centre grid over y_range x x_range.

  Args:
    apply_fn: (params, coords (n, 2) as (y, x)) -> (n, C); must be hashable (it is a static jit
      argument), e.g. a train state's ``apply_fn``.
    params: the field's parameters.
    height, width: output size in pixels (any aspect ratio).
    y_range, x_range: the rectangle of coordinates the output covers; the default (-1, 1) is
      the whole fitted image, a sub-range a crop/zoom (see ``pixel_box_to_ranges``).
    max_chunk_points: points per device block; bounds device memory.
    max_pixels: refuse outputs larger than this (None: no limit).
    grid: the convention of the output's pixel centres (``grids.GRIDS``): the one the field
      was fitted on, so that the fitted size gives back the fit's samples.

  Returns:
    (height, width, C) numpy array on the host, in the field's value range.
  """
  check_size(height, width, max_pixels)
  rows, cols = block_shape(height, width, max_chunk_points)
  offset, y_steps = grids.axis_steps(height, grid)
  _, x_steps = grids.axis_steps(width, grid)
  spec = jnp.asarray([y_steps, x_steps, y_range[0], y_range[1] - y_range[0], x_range[0],
                      x_range[1] - x_range[0], offset], jnp.float32)
  block = functools.partial(_render_block, apply_fn, params, spec=spec, rows=rows, cols=cols)
  starts = [(r, c) for r in range(0, height, rows) for c in range(0, width, cols)]
  output = None
  # One block in flight while the previous is copied out: the device never holds more than
  # two output blocks, and dispatch overlaps the host copy.
  pending = block(jnp.int32(0), jnp.int32(0))
  for i, (r, c) in enumerate(starts):
    current = pending
    if i + 1 < len(starts):
      pending = block(jnp.int32(starts[i + 1][0]), jnp.int32(starts[i + 1][1]))
    values = np.asarray(current)
    if output is None:
      output = np.empty((height, width, values.shape[-1]), values.dtype)
    output[r:r + rows, c:c + cols] = values[:height - r, :width - c]
  assert output is not None  # There is always at least one block.
  return output
