"""A trained learned-resize model as one file: the spec and the parameters.

File format (msgpack via ``flax.serialization``, as ``siren_jax.inr_file``): a map with
  'format':   ``FORMAT``, 'version': ``VERSION``,
  'metadata': JSON text -- 'spec' (``liif.Spec.to_dict``), the grid convention, the value range
              and whatever the trainer adds (steps, training data),
  'params':   the parameters' state dict in float32.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import jax

from siren_jax import errors, grids, inr_file, param_file
from siren_jax.sr import liif

FORMAT = 'siren_jax.sr_model'
VERSION = 1


@dataclasses.dataclass(frozen=True)
class TrainedModel:
  """A loaded model: its spec, parameters (float32) and the file's metadata dict."""
  spec: liif.Spec
  params: Any
  metadata: dict[str, Any]


def save(path: str, params: Any, spec: liif.Spec, extra: dict[str, Any] | None = None) -> int:
  """Writes the model to ``path`` (a local path or a URL such as ``gs://...``; parent
  directories created); returns its size in bytes."""
  metadata = {'spec': spec.to_dict(), 'grid': grids.HALF_PIXEL,
              'value_range': inr_file.VALUE_RANGE, **(extra or {})}
  return param_file.save(path, file_format=FORMAT, version=VERSION, metadata=metadata,
                         params=params)


def load(path: str) -> TrainedModel:
  """Reads a file written by ``save`` (a local path or a URL); FileNotFoundError, or a one-line
  ValueError for a file of another kind (e.g. a fitted-image ``.inr``), another version, or a
  corrupt one."""
  contents, _ = param_file.read(path, 'learned-resize model')
  kind = contents.get('format') if contents is not None else None
  if contents is None or kind != FORMAT:
    what = ' (it is a fitted-image .inr file)' if kind == inr_file.FORMAT else ''
    raise ValueError(f'{path!r} is not a siren_jax learned-resize model file{what}; train one '
                     f'with python -m experiments.sr')
  if contents.get('version') != VERSION:
    raise ValueError(f'{path!r} has learned-resize model format version '
                     f'{contents.get("version")!r}; this siren_jax reads version {VERSION}')
  try:
    metadata = json.loads(contents['metadata'])
    spec = liif.Spec.from_dict(metadata['spec'])
    template = jax.eval_shape(lambda: liif.init_params(spec, jax.random.PRNGKey(0)))
    params = param_file.restore(contents['params'], template)
  except (KeyError, TypeError, ValueError) as e:
    raise ValueError(f'{path!r} is a corrupt learned-resize model file: '
                     f'{errors.first_line(e)}') from None
  return TrainedModel(spec, params, metadata)
