"""A learned initialisation stored as one file: a field model's starting parameters, its spec and
what they were learned on, loadable by every field fit (``--config.init=PATH``).

File format (msgpack, via ``flax.serialization``, like ``inr_file``): a map with
  'format':   ``FORMAT``, 'version': ``VERSION``,
  'metadata': JSON text -- 'model': the spec (``models.fields.field_spec``), 'grid': the grid
              convention the init was learned on (``grids.GRIDS``), 'trained_on': a JSON dict of
              what it was learned from (data source, split, colour, crop sizes, algorithm, steps,
              seed), 'value_range': the targets' range,
  'params':   the parameters' state dict (float32), one network (never stacked over tiles: a tiled
              fit starts every tile from the same init).
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
from collections.abc import Mapping
from typing import Any

import jax

from siren_jax import errors, grids, param_file
from siren_jax.models import fields

FORMAT = 'siren_jax.learned_init'
VERSION = 1
VALUE_RANGE = (-1.0, 1.0)


@dataclasses.dataclass(frozen=True)
class LearnedInit:
  """A loaded init: ``params`` (float32 pytree of one network), the file's ``metadata`` and
  ``sha256``, the hex digest of the file's bytes (what a run fingerprint records)."""
  params: Any
  metadata: dict[str, Any]
  sha256: str = ''

  @property
  def model(self) -> dict[str, Any]:
    """The model spec (``fields.field_spec``) the params belong to."""
    return dict(self.metadata['model'])

  @property
  def grid(self) -> str:
    return str(self.metadata['grid'])

  @property
  def trained_on(self) -> dict[str, Any]:
    return dict(self.metadata['trained_on'])


def save(path: str, params: Any, *, model: Mapping[str, Any], grid: str = grids.HALF_PIXEL,
         trained_on: Mapping[str, Any] | None = None) -> int:
  """Writes a learned init to ``path`` (local or ``gs://``); returns the size in bytes.

  Args:
    params: one network's parameters for ``model`` (float32; not stacked over tiles).
    model: the spec (``fields.field_spec``) of the network.
    grid: the grid convention of the coordinates it was learned on.
    trained_on: JSON-serialisable description of the training data and algorithm.
  """
  grids.check_grid(grid)
  param_file.check_shapes(params, _template(fields.read_spec(model)), 'params')
  metadata = {'model': dict(model), 'grid': grid, 'trained_on': dict(trained_on or {}),
              'value_range': VALUE_RANGE}
  return param_file.save(path, file_format=FORMAT, version=VERSION, metadata=metadata,
                         params=params)


def load(path: str) -> LearnedInit:
  """Reads a file written by ``save``; FileNotFoundError for a missing file, a one-line
  ValueError for a foreign, newer or corrupt one."""
  contents, data = param_file.read(path, 'learned-init')
  if contents is None or contents.get('format') != FORMAT:
    # 'format' is the first key written: a file cut short still starts with it.
    if contents is None and FORMAT.encode() in data[:64]:
      raise ValueError(f'{path!r} is a truncated or corrupt learned-init file')
    raise ValueError(f'{path!r} is not a siren_jax learned-init file')
  if contents.get('version') != VERSION:
    raise ValueError(f'{path!r} has learned-init format version {contents.get("version")!r}; '
                     f'this siren_jax reads version {VERSION}')
  try:
    metadata = json.loads(contents['metadata'])
    metadata['model'] = fields.read_spec(metadata['model'])
    grids.check_grid(metadata['grid'])
    if not isinstance(metadata.get('trained_on'), dict):  # Runs record it after their fit.
      raise ValueError("metadata 'trained_on' is not a JSON object")
    params = param_file.restore(contents['params'], _template(metadata['model']))
  except (KeyError, TypeError, ValueError) as e:
    raise ValueError(f'{path!r} is a corrupt learned-init file: '
                     f'{errors.first_line(e)}') from None
  return LearnedInit(params=params, metadata=metadata, sha256=hashlib.sha256(data).hexdigest())


def spec_differences(init: LearnedInit, model: Mapping[str, Any], grid: str) -> list[str]:
  """'field: init value != config value' for every field of the model's function
  (``fields.function_spec``) and the grid in which ``init`` differs from what a fit is
  configured with; empty when it can start that fit. Fields the model ignores (a SIREN's
  num_frequencies, set from the image size) and zero_bias (a random init's) do not count."""
  stored = {**fields.function_spec(init.model), 'grid': init.grid}
  wanted = {**fields.function_spec(model), 'grid': grid}
  return [f'{k}: init {stored.get(k)!r} != config {wanted.get(k)!r}'
          for k in sorted(set(stored) | set(wanted)) if stored.get(k) != wanted.get(k)]


def check_matches(init: LearnedInit, model: Mapping[str, Any], grid: str, path: str) -> None:
  """One-line ValueError naming the first differences when ``init`` cannot start a fit of
  ``model`` on ``grid``."""
  differences = spec_differences(init, model, grid)
  if differences:
    raise ValueError(f'learned init {path!r} is for another model: {"; ".join(differences)}')


def size_note(init: LearnedInit, height: int, width: int) -> str | None:
  """A one-line note when ``init`` was meta-learned on square crops (``trained_on['crop_sizes']``,
  pixels) none of which is the longer side of this ``height`` x ``width`` fit; None when one is,
  or when the file does not say. The coordinate range is the same at every size, so another
  size is another pixel density, one the init was not learned for (measured on the corpus: a
  256-pixel Reptile init fits 64- and 128-pixel photos slightly worse than a random init; one
  learned at 64 and 128 pixels fits them no better than a random one)."""
  sizes = init.trained_on.get('crop_sizes')
  if not sizes or max(height, width) in sizes:
    return None
  return (f'the init was learned on {"/".join(str(s) for s in sizes)}-pixel crops and this fit '
          f'is {height}x{width}: at another pixel density it may help less than a random init')


def _template(spec: Mapping[str, Any]) -> Any:
  model = fields.make_field_model(**spec)
  return jax.eval_shape(functools.partial(fields.init_params, model), jax.random.PRNGKey(0))
