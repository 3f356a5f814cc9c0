"""Glue shared by the experiment entry points: multi-host start-up, one-line errors, workdirs,
scalar writers, JSON. Workdirs may be local paths or URLs (``gs://...``): files go through
etils.epath, checkpoints through orbax, scalars through tensorboardX."""

from __future__ import annotations

import functools
import json
import sys
from collections.abc import Callable, Iterable
from typing import Any

import jax
import ml_collections
from absl import flags, logging
from etils import epath

# Errors a user can cause with a flag, a config value or an input file; anything else is a bug
# and keeps its traceback.
USER_ERRORS = (ValueError, FileNotFoundError, NotADirectoryError, IsADirectoryError,
               PermissionError)


# Multi-host runs, for every entry point (each imports this module through its main wrapper).
flags.DEFINE_bool('distributed', False,
                  'Call jax.distributed.initialize() first: one process per host (TPU VM pod '
                  'slice, multi-node GPU). On Cloud TPU the other arguments are detected.')
flags.DEFINE_string('coordinator_address', None,
                    'With --distributed off Cloud TPU: host:port of process 0.')
flags.DEFINE_integer('num_processes', None, 'With --distributed off Cloud TPU: process count.')
flags.DEFINE_integer('process_id', None, 'With --distributed off Cloud TPU: this process.')


def initialize_distributed(enabled: bool, coordinator_address: str | None = None,
                           num_processes: int | None = None,
                           process_id: int | None = None) -> None:
  """``jax.distributed.initialize`` when ``enabled`` (before any other JAX call); logs the
  resulting process/device counts. Arguments left None are auto-detected (Cloud TPU, SLURM)."""
  if not enabled:
    if any(v is not None for v in (coordinator_address, num_processes, process_id)):
      raise ValueError('--coordinator_address/--num_processes/--process_id need --distributed')
    return
  jax.distributed.initialize(coordinator_address=coordinator_address,
                             num_processes=num_processes, process_id=process_id)
  logging.info('Process %d of %d; %d local and %d global devices.', jax.process_index(),
               jax.process_count(), jax.local_device_count(), jax.device_count())


def main_with_clean_errors(main: Callable[[list[str]], None]) -> Callable[[list[str]], None]:
  """Wraps an absl ``main``: rejects stray positional arguments, quiets orbax's INFO logs,
  initialises multi-host JAX when ``--distributed`` is given, and makes user errors print one
  line ``error: ...`` and exit with status 2."""

  @functools.wraps(main)
  def wrapped(argv: list[str]) -> None:
    try:
      if len(argv) > 1:
        raise ValueError(f'unexpected arguments: {" ".join(argv[1:])}')
      quiet_library_logs()
      if flags.FLAGS.is_parsed():  # Not when a test calls main() directly.
        initialize_distributed(flags.FLAGS.distributed, flags.FLAGS.coordinator_address,
                               flags.FLAGS.num_processes, flags.FLAGS.process_id)
      main(argv)
    except USER_ERRORS as e:
      message = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
      print(f'error: {message}', file=sys.stderr)
      sys.exit(2)

  return wrapped


def require_workdir(workdir: str | None) -> str:
  """Creates ``workdir`` (a local path or a URL such as ``gs://bucket/run``) and returns it; a
  missing flag is a user error."""
  if not workdir:
    raise ValueError('--workdir is required (a directory for metrics, checkpoints and figures)')
  path = epath.Path(workdir)
  if path.exists() and not path.is_dir():
    raise ValueError(f'--workdir {workdir!r} exists and is not a directory')
  path.mkdir(parents=True, exist_ok=True)
  if jax.process_count() > 1 and '://' not in workdir:
    logging.warning('--workdir %s is local: with %d processes every host must see the same '
                    'directory (use gs://... on a pod slice) or checkpoints are incomplete.',
                    workdir, jax.process_count())
  return workdir


def check_positive(config: ml_collections.ConfigDict, names: Iterable[str]) -> None:
  """Raises ValueError naming the first config field that is not > 0."""
  for name in names:
    value = config[name]
    if not isinstance(value, (int, float)) or isinstance(value, bool) or value <= 0:
      raise ValueError(f'config.{name} must be a positive number, got {value!r}')


def check_non_negative(config: ml_collections.ConfigDict, names: Iterable[str]) -> None:
  """Raises ValueError naming the first config field that is not >= 0."""
  for name in names:
    value = config[name]
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
      raise ValueError(f'config.{name} must be an integer >= 0, got {value!r}')


def split_names(value: str | Iterable[str]) -> list[str]:
  """'a,b' or ('a', 'b') -> ['a', 'b']."""
  names = value.split(',') if isinstance(value, str) else list(value)
  return [n.strip() for n in names if n.strip()]


def is_main_process() -> bool:
  return jax.process_index() == 0


def write_text(path: str, text: str) -> None:
  """Writes ``text`` to a local path or a URL (process 0 only)."""
  if is_main_process():
    epath.Path(path).write_text(text)


def write_json(path: str, obj: Any) -> None:
  """Writes ``obj`` as indented JSON (process 0 only)."""
  write_text(path, json.dumps(obj, indent=2, sort_keys=True) + '\n')


class ScalarWriter:
  """TensorBoard scalars via tensorboardX, which writes event files without TensorFlow (clu's
  and flax's writers import TensorFlow). Only process 0 writes; also logs through absl."""

  def __init__(self, logdir: str):
    self._writer = None
    if is_main_process():
      import tensorboardX  # Imported lazily: heavy, and unused off process 0.
      self._writer = tensorboardX.SummaryWriter(logdir)

  def write(self, step: int, scalars: dict[str, float], prefix: str = '') -> None:
    if self._writer is None:
      return
    for name, value in scalars.items():
      self._writer.add_scalar(f'{prefix}{name}', float(value), step)

  def close(self) -> None:
    if self._writer is not None:
      self._writer.close()


def log_progress(tag: str, step: int, total: int, scalars: dict[str, float]) -> None:
  """One absl log line: '[tag] step 100/500  loss=0.0012  psnr=31.20' (process 0 only)."""
  if not is_main_process():
    return
  parts = '  '.join(f'{k}={v:.4g}' for k, v in scalars.items())
  logging.info('[%s] step %d/%d  %s', tag, step, total, parts)


class _DropLibraryInfo:
  """absl log filter: drops INFO records from orbax's and tensorstore's internals."""

  def filter(self, record) -> bool:
    import logging as std_logging
    return record.levelno > std_logging.INFO or 'orbax' not in record.pathname


def quiet_library_logs() -> None:
  """Keeps progress logs readable: orbax logs every checkpoint step at INFO."""
  from absl import logging as absl_logging
  absl_logging.get_absl_handler().addFilter(_DropLibraryInfo())
