"""The container every siren_jax parameter file shares (fitted images ``inr_file``, learned inits
``init_file``, learned-resize models ``sr.model_file``): msgpack, via ``flax.serialization``, of
a map
  'format':   the file kind's name (each module's ``FORMAT``), 'version': its format version,
  'metadata': JSON text (what each kind stores: model spec, grid, ...),
  'params':   the parameters' state dict.
What a kind's metadata and params hold, and which versions it reads, is its own module's.
"""

from __future__ import annotations

import json
import os
from typing import Any

import jax
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
      {'format': file_format, 'version': version, 'metadata': json.dumps(metadata), 'params': state})
  files.write_bytes(path, payload)
  return len(payload)


def read(path: str | os.PathLike, kind: str) -> tuple[dict[str, Any] | None, bytes]:
  """(the decoded map, or None where the bytes are no msgpack map; the file's bytes) of file
  ``path`` (local or a URL). FileNotFoundError '``kind`` file not found' for a missing path or a
  directory; the caller checks 'format' and 'version'."""
  if not files.exists(path) or files.is_dir(path):
    raise FileNotFoundError(f'{kind} file not found: {os.fspath(path)!r}')
  payload = files.read_bytes(path)
  try:
    contents = serialization.msgpack_restore(payload)
  except Exception:  # msgpack raises several types on foreign bytes.
    contents = None
  return (contents if isinstance(contents, dict) else None), payload
