"""Every file siren_jax reads or writes goes through here, on ``etils.epath``: a path may be
local or a URL such as ``gs://bucket/run/x.png`` (a TPU VM's disk goes with the VM; a bucket
stays).

``gs://`` needs a filesystem package that a plain install leaves out (gcsfs, through
``etils[epath-gcs]``): ``pip install 'siren_jax[gcs]'``. Without it, and for a scheme epath
does not know, every function here raises a one-line ValueError saying so, before anything is
written.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

from etils import epath

PathLike = str | os.PathLike
INSTALL_HINT = "pip install 'siren_jax[gcs]'"


def is_url(path: PathLike) -> bool:
  """Whether ``path`` names a remote file (``scheme://...``), not a local one."""
  return '://' in os.fspath(path)


@contextlib.contextmanager
def _filesystem_errors(path: PathLike) -> Iterator[None]:
  """Turns a missing filesystem package or an unknown URL scheme into one ValueError."""
  try:
    yield
  except ImportError as e:  # fsspec: 'Please install gcsfs to access Google Storage'.
    raise ValueError(f'{os.fspath(path)!r} needs a filesystem package that is not installed '
                     f'({e}); {INSTALL_HINT}') from None
  except (KeyError, NotImplementedError) as e:
    if not is_url(path):
      raise
    raise ValueError(f'{os.fspath(path)!r}: unsupported URL scheme ({e}); use a local path '
                     f'or gs://') from None


def as_path(path: PathLike) -> epath.Path:
  """``path`` as an ``epath.Path`` (a URL stays a URL)."""
  with _filesystem_errors(path):
    return epath.Path(path)


def check_reachable(path: PathLike) -> None:
  """Raises ValueError (one line) when ``path``'s filesystem cannot be used here: a ``gs://``
  URL without the gcs extra, an unknown scheme, or a bucket that does not answer (no
  credentials, no network). A local path always passes."""
  if not is_url(path):
    return
  try:
    exists(path)
  except ValueError:
    raise
  # Remote clients raise their own types (google.auth, gcsfs HttpError, aiohttp, ...).
  except Exception as e:  # pylint: disable=broad-except
    raise ValueError(f'cannot reach {os.fspath(path)!r}: {type(e).__name__}: '
                     f'{str(e).splitlines()[0] if str(e) else ""}') from None


def exists(path: PathLike) -> bool:
  with _filesystem_errors(path):
    return as_path(path).exists()


def is_dir(path: PathLike) -> bool:
  with _filesystem_errors(path):
    return as_path(path).is_dir()


def is_file(path: PathLike) -> bool:
  """Whether ``path`` is a file (not missing, not a directory)."""
  with _filesystem_errors(path):
    return as_path(path).is_file()


def read_bytes(path: PathLike) -> bytes:
  """The bytes of file ``path``; FileNotFoundError if there is none, ValueError (one line) if
  it is a directory."""
  with _filesystem_errors(path):
    file = as_path(path)
    if not file.exists():
      raise FileNotFoundError(f'file not found: {os.fspath(path)!r}')
    if file.is_dir():
      raise ValueError(f'{os.fspath(path)!r} is a directory, expected a file')
    return file.read_bytes()


def write_bytes(path: PathLike, data: bytes) -> None:
  """Writes ``data`` to ``path``, creating its parent directories."""
  with _filesystem_errors(path):
    file = as_path(path)
    file.parent.mkdir(parents=True, exist_ok=True)
    file.write_bytes(data)


def make_dirs(path: PathLike) -> None:
  """Creates directory ``path`` and its parents (no error if it exists)."""
  with _filesystem_errors(path):
    as_path(path).mkdir(parents=True, exist_ok=True)


def list_dir(path: PathLike) -> list[str]:
  """The names in directory ``path``, sorted; FileNotFoundError if it is not a directory."""
  with _filesystem_errors(path):
    directory = as_path(path)
    if not directory.is_dir():
      raise FileNotFoundError(f'directory not found: {os.fspath(path)!r}')
    return sorted(p.name for p in directory.iterdir())


def walk(top: PathLike) -> Iterator[tuple[str, list[str], list[str]]]:
  """``os.walk`` for a local path or a URL: (directory, its subdirectory names, its file names)
  top down, names sorted, each directory ``top`` joined with names (a URL stays a URL). Remove
  names from the subdirectory list to skip them; links to directories are listed, not entered.
  """
  top = os.fspath(top)
  dirs: list[str] = []
  names: list[str] = []
  for name in list_dir(top):
    (dirs if is_dir(os.path.join(top, name)) else names).append(name)
  yield top, dirs, names
  for name in dirs:
    path = os.path.join(top, name)
    if is_url(path) or not os.path.islink(path):
      yield from walk(path)


def copy_tree(source: PathLike, target: PathLike, last: str = '') -> None:
  """Copies every file under directory ``source`` to the same place under ``target`` (each a
  local path or a URL). Files named ``last`` are copied after all others: a reader that waits
  for that file never sees a partial copy."""
  found = [os.path.relpath(os.path.join(directory, name), os.fspath(source))
           for directory, _, names in walk(source) for name in names]
  for relative in sorted(found, key=lambda r: os.path.basename(r) == last):
    write_bytes(os.path.join(os.fspath(target), relative),
                read_bytes(os.path.join(os.fspath(source), relative)))
