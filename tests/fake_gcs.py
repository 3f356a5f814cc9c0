"""A fake ``gs://`` for tests: ``gs://BUCKET/path`` is ``ROOT/BUCKET/path`` on local disk, for
every way the project reaches a bucket, so no test needs one (nor gcsfs).

Three seams: etils.epath, through its own test mock (``epath.testing.mock_epath``: every file
siren_jax and the experiments touch, TensorBoard event files included); TensorStore, which
orbax hands ``gs://`` checkpoints to with its built-in GCS driver (``get_kvstore_for_gcs``: the
same files through TensorStore's file driver); and orbax's bucket-metadata call on deletion
(``is_hierarchical_namespace_enabled``, which asks google-cloud-storage: a plain bucket).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from unittest import mock

import pytest
from etils.epath import testing as epath_testing
from orbax.checkpoint._src.path import gcs_utils

PREFIX = 'gs://'


@contextlib.contextmanager
def fake_gcs(root: str | os.PathLike) -> Iterator[None]:
  """Within the block, ``gs://B/p`` reads and writes ``root/B/p``."""
  root = os.fspath(root)

  def local(path) -> str:
    text = os.fspath(path)
    return os.path.join(root, text[len(PREFIX):]) if text.startswith(PREFIX) else text

  def remote(path) -> str:  # Results of glob/walk keep the gs:// form the caller used.
    text = os.fspath(path)
    return PREFIX + os.path.relpath(text, root) if text.startswith(root + os.sep) else text

  def one_path(original, path, *args, **kwargs):
    return original(local(path), *args, **kwargs)

  def two_paths(original, path, dst, *args, **kwargs):
    return original(local(path), local(dst), *args, **kwargs)

  def glob(original, pattern):
    return [remote(p) for p in original(local(pattern))]

  def walk(original, top, **kwargs):
    for directory, dirs, names in original(local(top), **kwargs):
      yield remote(directory), dirs, names

  def kvstore(path: str) -> dict[str, str]:
    return {'driver': 'file', 'path': local(path)}

  with epath_testing.mock_epath(
      open=one_path, exists=one_path, isdir=one_path, listdir=one_path, makedirs=one_path,
      mkdir=one_path, remove=one_path, rmtree=one_path, stat=one_path, rename=two_paths,
      replace=two_paths, copy=two_paths, glob=glob, walk=walk), \
      mock.patch.object(gcs_utils, 'get_kvstore_for_gcs', kvstore), \
      mock.patch.object(gcs_utils, 'is_hierarchical_namespace_enabled', lambda path: False):
    yield


try:
  import gcsfs  # noqa: F401  pylint: disable=unused-import
  HAS_GCSFS = True
except ImportError:
  HAS_GCSFS = False


@pytest.fixture
def bucket(tmp_path, monkeypatch):
  """A fake gs:// rooted at tmp_path/root, run from the empty directory tmp_path/cwd: yields
  (root, cwd)."""
  root, cwd = tmp_path / 'root', tmp_path / 'cwd'
  root.mkdir()
  cwd.mkdir()
  monkeypatch.chdir(cwd)
  with fake_gcs(root):
    yield root, cwd
