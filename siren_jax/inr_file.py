"""An image stored in a network: a fitted field saved as one compact file, re-rendered later at
any size.

File format (msgpack, via ``flax.serialization``): a map with
  'format':   ``FORMAT`` (identifies the file), 'version': ``VERSION``,
  'metadata': JSON text -- model name and hyperparameters (``models.fields.make_field_model``
              keyword arguments), the fitted image's height, width and channels, 'grid': the
              name of the grid convention the field was fitted on (``grids.GRIDS``; version 1
              files, written before there was a choice, were all 'half_pixel'), the value
              range, and the tile layout and blending ramp if tiled,
  'params':   the parameters' state dict (float32, or float16 to halve the size; loaded back as
              float32). Tiled fits store params stacked over tiles (leading axis T).
"""

from __future__ import annotations

import dataclasses
import functools
import json
from typing import Any

import jax
import numpy as np

from siren_jax import render as render_lib
from siren_jax import errors, grids, models, param_file, tiling
from siren_jax.models import fields

Array = jax.Array
FORMAT = 'siren_jax.fitted_image'
VERSION = 2
READABLE_VERSIONS = (1, 2)
VALUE_RANGE = (-1.0, 1.0)
PARAM_DTYPES = ('float32', 'float16')


@dataclasses.dataclass(frozen=True)
class FittedImage:
  """A loaded fitted image. ``field(params, coords (N, 2)) -> (N, C)`` is the whole image's field
  (blended over tiles if tiled); ``metadata`` is the file's metadata dict."""
  params: Any
  metadata: dict[str, Any]
  field: Any

  @property
  def height(self) -> int:
    return int(self.metadata['height'])

  @property
  def width(self) -> int:
    return int(self.metadata['width'])

  @property
  def channels(self) -> int:
    return int(self.metadata['channels'])

  @property
  def grid(self) -> str:
    """The grid convention the field was fitted on (``grids.GRIDS``)."""
    return str(self.metadata['grid'])

  def render(self, height: int, width: int, **kwargs) -> np.ndarray:
    """(height, width, C) image in [-1, 1]-ish on the fit's grid convention; kwargs go to
    ``render.render`` (crops, ...)."""
    return render_lib.render(self.field, self.params, height, width, grid=self.grid, **kwargs)


def save(path: str, params: Any, *, model: dict[str, Any], height: int, width: int,
         channels: int, layout: tiling.TileLayout | None = None, ramp: str = 'cosine',
         param_dtype: str = 'float32', grid: str = grids.HALF_PIXEL,
         extra: dict[str, Any] | None = None) -> int:
  """Writes a fitted image to ``path``; returns the file size in bytes.

  Args:
    path: output file, local or a URL (``gs://...``); parent directories are created.
    params: the field's parameters (stacked over tiles when ``layout`` is given).
    model: the spec (``fields.field_spec``) of the network that ``params`` belong to.
    height, width, channels: the fitted image's size (its native rendering size).
    layout, ramp: the tile layout and blending ramp for a tiled fit; None for one network.
    param_dtype: 'float32' or 'float16' (half the size, ~1e-3 relative rounding of weights).
    grid: the grid convention the field was fitted on (``grids.GRIDS``); tiled fits are
      half_pixel (``tiling`` places its tiles on that grid).
    extra: more JSON-serialisable metadata (e.g. the source image, training steps).
  """
  if param_dtype not in PARAM_DTYPES:
    raise ValueError(f'param_dtype must be one of {", ".join(PARAM_DTYPES)}, got {param_dtype!r}')
  render_lib.check_size(height, width, None)
  grids.check_grid(grid)
  if layout is not None and grid != grids.HALF_PIXEL:
    raise ValueError(f'a tiled fit is on the half_pixel grid, got grid={grid!r}')
  metadata = {'model': dict(model), 'height': int(height), 'width': int(width),
              'channels': int(channels), 'grid': grid, 'value_range': VALUE_RANGE,
              'param_dtype': param_dtype,
              'tiling': None if layout is None else {**layout.to_dict(), 'ramp': ramp},
              **(extra or {})}
  return param_file.save(path, file_format=FORMAT, version=VERSION, metadata=metadata,
                         params=params, dtype=param_dtype)


def load(path: str) -> FittedImage:
  """Reads a file written by ``save`` (a local path or a URL); raises FileNotFoundError / one-line ValueError for a
  missing, foreign, corrupt or inconsistent file."""
  contents, _ = param_file.read(path, 'fitted-image')
  if contents is None or contents.get('format') != FORMAT:
    raise ValueError(f'{path!r} is not a siren_jax fitted-image file')
  version = contents.get('version')
  if version not in READABLE_VERSIONS:
    raise ValueError(f'{path!r} has fitted-image format version {version!r}; this siren_jax '
                     f'reads versions {", ".join(map(str, READABLE_VERSIONS))}')
  try:
    metadata = json.loads(contents['metadata'])
    metadata['model'] = fields.read_spec(metadata['model'])
    if version == 1:  # Its 'grid' was a description of the only convention there was.
      metadata['grid'] = grids.HALF_PIXEL
    grids.check_grid(metadata['grid'])
    model = fields.make_field_model(**metadata['model'])
    tiled = metadata.get('tiling')
    layout = tiling.TileLayout.from_dict(tiled) if tiled else None
    template = jax.eval_shape(functools.partial(
        fields.init_params, model, num_tiles=layout.num_tiles if layout else 0),
        jax.random.PRNGKey(0))
    params = param_file.restore(contents['params'], template)
  except (KeyError, TypeError, ValueError) as e:
    raise ValueError(f'{path!r} is a corrupt fitted-image file: '
                     f'{errors.first_line(e)}') from None
  apply_one = models.apply_fn(model)
  field = apply_one if layout is None else tiling.tiled_field(apply_one, layout, tiled['ramp'])
  return FittedImage(params=params, metadata=metadata, field=field)
