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
import json
from collections.abc import Mapping
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import serialization

from siren_jax import errors, files, grids
from siren_jax.models import fields

FORMAT = 'siren_jax.learned_init'
VERSION = 1
VALUE_RANGE = (-1.0, 1.0)


@dataclasses.dataclass(frozen=True)
class LearnedInit:
  """A loaded init: ``params`` (float32 pytree of one network) and the file's ``metadata``."""
  params: Any
  metadata: dict[str, Any]

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
  _check_shapes(params, fields.read_spec(model), 'params')
  metadata = {'model': dict(model), 'grid': grid, 'trained_on': dict(trained_on or {}),
              'value_range': VALUE_RANGE}
  state = jax.tree.map(lambda a: np.asarray(a, np.float32),
                       serialization.to_state_dict(jax.device_get(params)))
  payload = serialization.msgpack_serialize(
      {'format': FORMAT, 'version': VERSION, 'metadata': json.dumps(metadata), 'params': state})
  files.write_bytes(path, payload)
  return len(payload)


def load(path: str) -> LearnedInit:
  """Reads a file written by ``save``; FileNotFoundError for a missing file, a one-line
  ValueError for a foreign, newer or corrupt one."""
  if not files.exists(path) or files.is_dir(path):
    raise FileNotFoundError(f'learned-init file not found: {path!r}')
  try:
    contents = serialization.msgpack_restore(files.read_bytes(path))
  except Exception:  # msgpack raises several types on foreign bytes.
    contents = None
  if not isinstance(contents, dict) or contents.get('format') != FORMAT:
    raise ValueError(f'{path!r} is not a siren_jax learned-init file')
  if contents.get('version') != VERSION:
    raise ValueError(f'{path!r} has learned-init format version {contents.get("version")!r}; '
                     f'this siren_jax reads version {VERSION}')
  try:
    metadata = json.loads(contents['metadata'])
    metadata['model'] = fields.read_spec(metadata['model'])
    grids.check_grid(metadata['grid'])
    template = _template(metadata['model'])
    params = serialization.from_state_dict(template, contents['params'])
    _check_shapes(params, metadata['model'], 'stored parameter')
  except (KeyError, TypeError, ValueError) as e:
    raise ValueError(f'{path!r} is a corrupt learned-init file: '
                     f'{errors.first_line(e)}') from None
  params = jax.tree.map(lambda a: jnp.asarray(a, jnp.float32), params)
  return LearnedInit(params=params, metadata=metadata)


def spec_differences(init: LearnedInit, model: Mapping[str, Any], grid: str) -> list[str]:
  """'field: init value != config value' for every model-spec field (and the grid) in which
  ``init`` differs from what a fit is configured with; empty when it can start that fit."""
  stored = {**init.model, 'grid': init.grid}
  wanted = {**fields.read_spec(model), 'grid': grid}
  return [f'{k}: init {stored.get(k)!r} != config {wanted.get(k)!r}'
          for k in sorted(set(stored) | set(wanted)) if stored.get(k) != wanted.get(k)]


def check_matches(init: LearnedInit, model: Mapping[str, Any], grid: str, path: str) -> None:
  """One-line ValueError naming the first differences when ``init`` cannot start a fit of
  ``model`` on ``grid``."""
  differences = spec_differences(init, model, grid)
  if differences:
    raise ValueError(f'learned init {path!r} is for another model: {"; ".join(differences)}')


def _template(spec: Mapping[str, Any]) -> Any:
  model = fields.make_field_model(**spec)
  return jax.eval_shape(functools.partial(fields.init_params, model), jax.random.PRNGKey(0))


def _check_shapes(params: Any, spec: Mapping[str, Any], what: str) -> None:
  template = _template(spec)
  if str(jax.tree.structure(template)) != str(jax.tree.structure(params)):
    raise ValueError(f'{what} tree does not match the model spec')
  for (key, t), p in zip(jax.tree_util.tree_leaves_with_path(template), jax.tree.leaves(params)):
    if tuple(np.shape(p)) != tuple(t.shape):
      raise ValueError(f'{what} {jax.tree_util.keystr(key)} has shape {tuple(np.shape(p))}, '
                       f'the model spec needs {tuple(t.shape)}')
