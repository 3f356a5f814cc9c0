"""Glue shared by the experiment entry points: multi-host start-up, one-line errors, workdirs,
scalar writers, JSON. Workdirs may be local paths or URLs (``gs://...``): files go through
etils.epath, checkpoints through orbax, scalars through tensorboardX."""

from __future__ import annotations

import difflib
import functools
import json
import math
import re
import sys
from collections.abc import Callable, Iterable
from typing import Any

import jax
import ml_collections
from absl import app, flags, logging
from etils import epath
from ml_collections import config_flags

from siren_jax import errors

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
      exit_with_error(errors.first_line(e))

  return wrapped


def exit_with_error(message: str) -> None:
  """Prints ``error: message`` to stderr and exits with status 2 (a user error)."""
  print(f'error: {message}', file=sys.stderr)
  sys.exit(2)


def parse_flags_cleanly(argv: list[str]) -> list[str]:
  """absl's flag parser, with a bad flag or config override (unknown or misspelt field, bad
  value, bad variant) reported as one line and exit status 2 instead of chained tracebacks."""
  try:
    return flags.FLAGS(argv)
  # ml_collections raises AttributeError/KeyError for an unknown config field, a config file's
  # get_config a ValueError for a bad variant; absl wraps some of them in flags.Error.
  except (flags.Error, AttributeError, KeyError, *USER_ERRORS) as e:
    exit_with_error(_flag_error_message(e, argv))
  return []  # Unreachable.


def _flag_error_message(error: Exception, argv: list[str]) -> str:
  """A one-line message for a flag error; an unknown config field gets a suggestion."""
  config = _loaded_config()
  text = str(error)
  for arg in argv[1:]:
    name = arg.lstrip('-').split('=', 1)[0]
    if not name.startswith('config.'):
      continue
    path = name[len('config.'):].split('.')
    if config is not None:
      field, unknown, close = _unknown_field(config, path)
    else:  # Raised while the config loads: ml_collections names the field (and a guess).
      named = [i for i, part in enumerate(path) if re.search(rf'\b{re.escape(part)}\b', text)]
      unknown = bool(named)
      field = '.'.join(path[:named[-1] + 1]) if named else path[0]
      prefix = field.rpartition('.')[0] + '.' if '.' in field else ''
      close = [prefix + c for c in re.findall(r'Did you mean \W*"(\w+)"', text)]
    if unknown:
      hint = f" (did you mean '{close[0]}'?)" if close else ''
      return f"unknown config field '{field}'{hint}"
  text = errors.first_line(error)
  if text.endswith(':'):  # config_flags' "Error whilst parsing config file:": say why.
    root = error
    while (root.__cause__ or root.__context__) is not None:
      root = root.__cause__ or root.__context__
    text = f'{text} {errors.first_line(root)}'
  return text


def _unknown_field(config: ml_collections.ConfigDict, path: list[str]
                   ) -> tuple[str, bool, list[str]]:
  """(dotted field, whether it is unknown, the closest known name) for a --config.A.B... path,
  descending into nested ConfigDicts."""
  node, prefix = config, ''
  for part in path:
    if part not in node:
      close = difflib.get_close_matches(part, list(node.keys()), n=1)
      return prefix + part, True, [prefix + c for c in close]
    if not isinstance(node[part], ml_collections.ConfigDict):
      break
    node, prefix = node[part], f'{prefix}{part}.'
  return prefix + path[0] if not prefix else prefix.rstrip('.'), False, []


def _loaded_config() -> ml_collections.ConfigDict | None:
  try:
    return flags.FLAGS['config'].value
  except (KeyError, AttributeError):
    return None


def run(train_and_evaluate: Callable[[ml_collections.ConfigDict, str], Any], *,
        default_config: str,
        workdir_help: str = 'Directory for metrics, figures and checkpoints.') -> None:
  """The whole absl entry point of an experiment: ``--workdir`` and ``--config`` (a config
  file with the common variant grammar), one-line user errors (exit 2), then
  ``train_and_evaluate(config, workdir)``, which validates its inputs and only then creates
  the workdir (``require_workdir``)."""
  flags.DEFINE_string('workdir', None, workdir_help)
  try:  # Reads the --config.* overrides of sys.argv already.
    config_flags.DEFINE_config_file('config', default_config, 'Config file (path[:variant]).',
                                    lock_config=True)
  except (flags.Error, AttributeError, KeyError, *USER_ERRORS) as e:
    exit_with_error(_flag_error_message(e, sys.argv))

  @main_with_clean_errors
  def main(argv: list[str]) -> None:
    del argv  # Checked by main_with_clean_errors.
    train_and_evaluate(flags.FLAGS.config, flags.FLAGS.workdir)

  app.run(main, flags_parser=parse_flags_cleanly)


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


def check_choice(config: ml_collections.ConfigDict, name: str, choices: Iterable[str]) -> None:
  """Raises ValueError unless config field ``name`` is one of ``choices``."""
  choices = tuple(choices)
  if config[name] not in choices:
    raise ValueError(f'config.{name} must be one of {", ".join(map(str, choices))}, got '
                     f'{config[name]!r}')


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
  """Writes ``obj`` as indented strict JSON (process 0 only): non-finite floats (a diverged or
  unmeasured number) become null, never the bare NaN/Infinity that strict parsers reject."""
  write_text(path, json.dumps(_finite_or_none(obj), indent=2, sort_keys=True,
                              allow_nan=False) + '\n')


def _finite_or_none(obj: Any) -> Any:
  if isinstance(obj, float):
    return obj if math.isfinite(obj) else None
  if isinstance(obj, dict):
    return {k: _finite_or_none(v) for k, v in obj.items()}
  if isinstance(obj, (list, tuple)):
    return [_finite_or_none(v) for v in obj]
  return obj


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
