"""The container every siren_jax parameter file shares (fitted images ``inr_file``, learned inits
``init_file``, learned-resize models ``sr.model_file``): msgpack, via ``flax.serialization``, of
a map
  'format':   the file kind's name (each module's ``FORMAT``), 'version': its format version,
  'metadata': JSON text (what each kind stores: model spec, grid, ...),
  'params':   the parameters' state dict, checked against the kind's model by ``check_shapes``.
What a kind's metadata and params hold, and which versions it reads, is its own module's.
"""

from __future__ import annotations

import json
import os
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import serialization

from siren_jax import files


def save(path: str | os.PathLike, *, file_format: str, version: int,
         metadata: dict[str, Any], params: Any, dtype: str = 'float32') -> int:
  """Writes one file to ``path`` (local or a URL; parent directories created):
  ``file_format`` as 'format', ``params`` (any pytree of arrays) stored as ``dtype``. Returns
  its size in bytes."""
  state = jax.tree.map(lambda a: np.asarray(a, dtype),
                       serialization.to_state_dict(jax.device_get(params)))
  payload = serialization.msgpack_serialize(
      {'format': file_format, 'version': version, 'metadata': json.dumps(metadata),
       'params': state})
  files.write_bytes(path, payload)
  return len(payload)


def read(path: str | os.PathLike, kind: str) -> tuple[dict[str, Any] | None, bytes]:
  """(the decoded map, or None where the bytes are no msgpack map; the file's bytes) of file
  ``path`` (local or a URL). FileNotFoundError '``kind`` file not found' for a missing path or a
  directory, ValueError for a bucket that does not answer (``files.check_reachable``); the
  caller checks 'format' and 'version'."""
  files.check_reachable(path)
  if not files.is_file(path):
    raise FileNotFoundError(f'{kind} file not found: {os.fspath(path)!r}')
  payload = files.read_bytes(path)
  try:
    contents = serialization.msgpack_restore(payload)
  except Exception:  # msgpack raises several types on foreign bytes.
    contents = None
  return (contents if isinstance(contents, dict) else None), payload


def check_shapes(params: Any, template: Any, what: str) -> None:
  """One-line ValueError naming the first parameter missing from ``params`` (e.g. a file's
  state dict), extra in it, or of another shape than in ``template`` (arrays or
  ``jax.ShapeDtypeStruct``s, e.g. from ``jax.eval_shape``); ``what`` starts the message."""
  needed = {jax.tree_util.keystr(k): tuple(t.shape)
            for k, t in jax.tree_util.tree_leaves_with_path(template)}
  given = {jax.tree_util.keystr(k): tuple(np.shape(p))
           for k, p in jax.tree_util.tree_leaves_with_path(params)}
  for key in sorted(set(needed) | set(given)):
    if key not in given:
      raise ValueError(f'{what} {key} is missing; the model spec needs one of shape '
                       f'{needed[key]}')
    if key not in needed:
      raise ValueError(f'{what} {key} is not in the model spec')
    if given[key] != needed[key]:
      raise ValueError(f'{what} {key} has shape {given[key]}, the model spec needs '
                       f'{needed[key]}')


def restore(stored: Any, template: Any) -> Any:
  """A file's params state dict ``stored`` as float32 arrays in ``template``'s structure, after
  ``check_shapes`` (before ``from_state_dict``, which would drop parameters the model does not
  have)."""
  check_shapes(stored, template, 'stored parameter')
  params = serialization.from_state_dict(template, stored)
  return jax.tree.map(lambda a: jnp.asarray(a, jnp.float32), params)
