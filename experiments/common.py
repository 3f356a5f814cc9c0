"""Glue shared by the experiment entry points: multi-host start-up, config files, one-line
errors, preemption, workdirs (with their config.json), TensorBoard writers, progress lines, JSON,
the machine and library versions a result came from. Workdirs may be local paths or URLs
(``gs://...``): every file goes through etils.epath (``siren_jax.files``), checkpoints through
orbax, TensorBoard event files through epath too.

Exit statuses of every entry point: 0 done; 2 a user error (one line ``error: ...``); 75
(``siren_jax.preemption.EXIT_STATUS``) preempted after saving a checkpoint -- rerun the same
command to resume; anything else is a crash (a traceback)."""

from __future__ import annotations

import datetime
import difflib
import functools
import importlib.metadata
import importlib.util
import json
import math
import os
import platform
import re
import sys
import time
from collections.abc import Callable, Iterable
from typing import Any

import jax
import ml_collections
import numpy as np
from absl import app, flags, logging
from etils import epath
from ml_collections import config_flags

from experiments.configs import common as config_common
from siren_jax import errors, files, preemption, render, training

# The installed packages whose versions decide results and timings (reports and benchmarks
# name them).
# Packages whose versions a result records (bench tables, the reproduction report, config.json).
VERSIONED_PACKAGES = ('jax', 'jaxlib', 'flax', 'optax', 'orbax-checkpoint', 'numpy', 'scipy',
                      'scikit-image', 'pillow', 'ml-collections', 'etils', 'tensorboardX')

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
  initialises multi-host JAX when ``--distributed`` is given, makes a run stopped by a
  preemption notice (``training.Preempted``) log one line and exit with status 75, and makes
  user errors print one line ``error: ...`` and exit with status 2."""

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
    except training.Preempted as e:
      logging.warning('%s; exiting with status %d: rerun the same command to resume.', e,
                      preemption.EXIT_STATUS)
      logging.flush()
      sys.exit(preemption.EXIT_STATUS)

  return wrapped


def exit_with_error(message: str) -> None:
  """Prints ``error: message`` to stderr and exits with status 2 (a user error)."""
  print(f'error: {message}', file=sys.stderr)
  sys.exit(2)


def parse_flags_cleanly(argv: list[str], default_config: str | None = None) -> list[str]:
  """absl's flag parser, with a bad flag or config override (unknown or misspelt field, a
  field that moved into a group, bad value, bad variant) reported as one line and exit status 2
  instead of chained tracebacks. ``default_config``: the config file used without --config."""
  try:
    return flags.FLAGS(argv)
  # ml_collections raises AttributeError/KeyError for an unknown config field, TypeError for a
  # value of the wrong type (a string for a group), a config file's get_config a ValueError for
  # a bad variant; absl wraps some of them in flags.Error.
  except (flags.Error, AttributeError, KeyError, TypeError, *USER_ERRORS) as e:
    exit_with_error(_flag_error_message(e, argv, default_config))
  return []  # Unreachable.


def _flag_error_message(error: Exception, argv: list[str],
                        default_config: str | None = None) -> str:
  """A one-line message for a flag error: a field that moved into a group names its new name,
  an unknown config field gets a suggestion."""
  config = _config_named_by(argv, default_config)
  text = str(error)
  for arg in argv[1:]:
    name = arg.lstrip('-').split('=', 1)[0]
    if not name.startswith('config.'):
      continue
    path = name[len('config.'):]
    if config is not None:
      message = (config_common.moved_field_message(config, path) or
                 config_common.unknown_field_message(config, path))
      if message:
        return message
      continue
    # The config does not load: ml_collections names the field (and a guess).
    field = path.split('.')[0]
    unknown = re.search(rf'\b{re.escape(field)}\b', text) is not None
    close = re.findall(r'Did you mean \W*"(\w+)"', text)
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


def _config_named_by(argv: list[str], default_config: str | None
                     ) -> ml_collections.ConfigDict | None:
  """The config (without overrides) that ``--config`` in ``argv`` (else ``default_config``)
  names, loaded afresh: a bad override fails before the flag holds a value. None when it does
  not load (the error then comes from loading it)."""
  spec = default_config
  for i, arg in enumerate(argv[1:], 1):
    if re.match(r'^--?config=', arg):
      spec = arg.split('=', 1)[1]
    elif re.match(r'^--?config$', arg) and i + 1 < len(argv):
      spec = argv[i + 1]
  if not spec:
    return None
  path, colon, variant = spec.partition(':')
  try:
    module_spec = importlib.util.spec_from_file_location('config_for_message', path)
    if module_spec is None or module_spec.loader is None:
      return None
    module = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(module)
    config = module.get_config(variant) if colon else module.get_config()
  except (TypeError, AttributeError, *USER_ERRORS):
    return None
  return config if isinstance(config, ml_collections.ConfigDict) else None


# The experiments package: config paths not found as given are looked up relative to it
# (``resolve_config``), so entry points run from any directory.
PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__))
CONFIGS_DIR = os.path.join(PACKAGE_DIR, 'configs')
# Flags of this module that every entry point's --help lists (absl shows only the main module's
# key flags).
RUN_FLAGS = ('workdir', 'config', 'distributed', 'coordinator_address', 'num_processes',
             'process_id')


def train_or_evaluate(check_config: Callable[[ml_collections.ConfigDict], None],
                      train: Callable[[ml_collections.ConfigDict, str], dict],
                      evaluate: Callable[[ml_collections.ConfigDict, str], dict],
                      **other_tasks: Callable[[ml_collections.ConfigDict, str], dict]
                      ) -> Callable[[ml_collections.ConfigDict, str], dict]:
  """The ``run`` function of an experiment with a train and an evaluate task (and any
  ``other_tasks``, by name): checks the config, then runs the task config.task names, ``train``
  when it names none of the others; each returns what it wrote."""
  tasks = {'evaluate': evaluate, **other_tasks}

  def dispatch(config: ml_collections.ConfigDict, workdir: str) -> dict:
    check_config(config)
    return tasks.get(config.task, train)(config, workdir)
  return dispatch


def run(train_and_evaluate: Callable[[ml_collections.ConfigDict, str], Any], *,
        default_config: str,
        workdir_help: str = 'Directory for metrics, figures and checkpoints.') -> None:
  """The whole absl entry point of an experiment: ``--workdir`` and ``--config`` (a config
  file with the common variant grammar, found as given or relative to the experiments
  package, ``resolve_config``), one-line user errors (exit 2), preemption (exit 75), the
  resolved config logged, then ``train_and_evaluate(config, workdir)``, which validates its
  inputs and only then creates the workdir (``require_workdir``)."""
  try:
    argv = resolve_config_flag(sys.argv)
    default = resolve_config(default_config, search_cwd=False)
  except USER_ERRORS as e:
    exit_with_error(errors.first_line(e))
  flags.DEFINE_string('workdir', None, workdir_help + ' A local path or gs://bucket/path.')
  try:  # Reads the --config.* overrides of argv already.
    config_flags.DEFINE_config_file('config', default, 'Config file (path[:variant]), as given '
                                    'or relative to the experiments package.',
                                    lock_config=True, sys_argv=argv)
  except (flags.Error, AttributeError, KeyError, *USER_ERRORS) as e:
    exit_with_error(_flag_error_message(e, argv, default))
  for name in RUN_FLAGS:  # So that --help lists them.
    flags.FLAGS.register_key_flag_for_module(sys.argv[0], flags.FLAGS[name])

  @main_with_clean_errors
  def main(argv: list[str]) -> None:
    del argv  # Checked by main_with_clean_errors.
    # After jax.distributed.initialize (multi-host runs use JAX's preemption service); only
    # here, in training entry points: elsewhere (bench/) SIGTERM keeps its default.
    preemption.install()
    if flags.FLAGS.workdir:  # A gs:// workdir without the gcs extra: say so first.
      files.check_reachable(flags.FLAGS.workdir)
    logging.info('Config %s:\n%s', flags.FLAGS['config'].config_filename, flags.FLAGS.config)
    train_and_evaluate(flags.FLAGS.config, flags.FLAGS.workdir)

  app.run(main, argv=argv, flags_parser=functools.partial(parse_flags_cleanly,
                                                          default_config=default))


def resolve_config(spec: str, *, search_cwd: bool = True) -> str:
  """'path[:variant]' -> the same with path made absolute: as given (relative to the current
  directory, when ``search_cwd``), else relative to the directory holding the experiments
  package ('experiments/configs/x.py' works from anywhere), its configs/ ('x.py') or the
  package itself ('configs/x.py').

  Raises ValueError (one line) for a missing file, a directory, or a file that does not
  compile (its syntax error and line).
  """
  path, colon, variant = spec.partition(':')
  if not path:
    raise ValueError(f'--config={spec!r} names no config file')
  candidates = [path] if os.path.isabs(path) else [
      *([os.path.abspath(path)] if search_cwd else []),
      *(os.path.join(d, path) for d in (os.path.dirname(PACKAGE_DIR), CONFIGS_DIR, PACKAGE_DIR))]
  found = next((c for c in candidates if os.path.exists(c)), None)
  if found is None:
    where = ' or '.join(sorted({os.path.dirname(c) or '.' for c in candidates}))
    raise FileNotFoundError(f'config file not found: {path!r} (looked in {where})')
  if os.path.isdir(found):
    raise IsADirectoryError(f'--config={path!r} is a directory; give a config file, e.g. '
                            f'{os.path.join(path, "fit_image.py")}')
  with open(found, encoding='utf-8') as f:
    source = f.read()
  try:
    compile(source, found, 'exec')
  except SyntaxError as e:
    raise ValueError(f'config file {path!r} line {e.lineno}: {e.msg}') from None
  return f'{os.path.normpath(found)}{colon}{variant}'


def resolve_config_flag(argv: list[str]) -> list[str]:
  """``argv`` with the value of its ``--config`` flag (if any) resolved by
  ``resolve_config``."""
  resolved = list(argv)
  i = 1
  while i < len(resolved):
    arg = resolved[i]
    if arg == '--':
      break
    name, equals, value = arg.lstrip('-').partition('=')
    if arg.startswith('-') and name == 'config':
      if equals:
        resolved[i] = f'--config={resolve_config(value)}'
      elif i + 1 < len(resolved):
        resolved[i + 1] = resolve_config(resolved[i + 1])
        i += 1
    i += 1
  return resolved


CONFIG_FILE = 'config.json'  # What a run was started with, written before its first step.


def require_workdir(workdir: str | None,
                    config: ml_collections.ConfigDict | None = None) -> str:
  """Creates ``workdir`` (a local path or a URL such as ``gs://bucket/run``) and returns it;
  with ``config``, writes ``WORKDIR/config.json`` (``run_record``) there first, which also
  proves the workdir writable.

  Raises ValueError (one line) for a missing flag, a path that is not a directory, a URL whose
  filesystem is not installed (``siren_jax.files``) or a workdir that cannot be written.
  """
  if not workdir:
    raise ValueError('--workdir is required (a directory for metrics, checkpoints and figures)')
  files.check_reachable(workdir)
  path = epath.Path(workdir)
  if path.exists() and not path.is_dir():
    raise ValueError(f'--workdir {workdir!r} exists and is not a directory')
  try:
    path.mkdir(parents=True, exist_ok=True)
    if config is not None:
      write_json(os.path.join(workdir, CONFIG_FILE), run_record(config))
    elif is_main_process():  # Fail now, not after hours of training.
      probe = path / '.write_test'
      probe.write_bytes(b'')
      probe.unlink()
  # Local filesystems raise OSError; remote ones their client's errors (gcsfs: HttpError).
  except Exception as e:  # pylint: disable=broad-except
    raise ValueError(f'cannot write to --workdir {workdir!r}: {type(e).__name__}: '
                     f'{errors.first_line(e)}') from None
  if jax.process_count() > 1 and not files.is_url(workdir):
    logging.warning('--workdir %s is local: with %d processes every host must see the same '
                    'directory (use gs://... on a pod slice) or checkpoints are incomplete.',
                    workdir, jax.process_count())
  return workdir


def run_record(config: ml_collections.ConfigDict) -> dict[str, Any]:
  """What config.json holds: the resolved config, the command line, devices, package
  versions and the start time (``record_parameters`` adds each model's parameter count)."""
  import siren_jax  # The version only.
  versions = {'python': platform.python_version(), 'siren_jax': siren_jax.__version__,
              **package_versions()}
  device = jax.devices()[0]
  return {
      'config': config.to_dict(),
      'command': [os.path.basename(sys.argv[0]), *sys.argv[1:]],
      'devices': {'platform': device.platform, 'device_kind': device.device_kind,
                  'num_devices': jax.device_count(),
                  'num_local_devices': jax.local_device_count(),
                  'num_processes': jax.process_count()},
      'versions': versions,
      'started': datetime.datetime.now(datetime.timezone.utc).isoformat(timespec='seconds'),
      'parameters': {},
  }


def record_parameters(workdir: str, tag: str, count: int) -> None:
  """Adds run ``tag``'s parameter count to WORKDIR/config.json, if there is one (process 0)."""
  path = epath.Path(workdir) / CONFIG_FILE
  if not is_main_process() or not path.exists():
    return
  record = json.loads(path.read_text())
  record.setdefault('parameters', {})[tag] = int(count)
  write_json(str(path), record)


def check_image_size(config: ml_collections.ConfigDict, name: str = 'image_size',
                     max_pixels: int = render.DEFAULT_MAX_PIXELS) -> None:
  """Raises ValueError unless config field ``name`` (a square side; 0 keeps the image's size)
  is an integer >= 0 whose square is at most ``max_pixels``: checked before anything is
  allocated."""
  check_non_negative(config, (name,))
  side = config[name]
  if side * side > max_pixels:
    raise ValueError(f'config.{name}={side} asks for {side}x{side} = {side * side:,} pixels, '
                     f'over the limit of {max_pixels:,} ({math.isqrt(max_pixels)} squared)')


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
  """TensorBoard scalars and images via tensorboardX, which writes event files without
  TensorFlow (clu's and flax's writers import TensorFlow). Only process 0 writes; event files
  under a URL logdir (gs://...) go through etils.epath (``_EpathEventFile``)."""

  def __init__(self, logdir: str):
    self._writer = None
    if is_main_process():
      import tensorboardX  # Imported lazily: heavy, and unused off process 0.
      from tensorboardX import record_writer
      if files.is_url(logdir):
        files.check_reachable(logdir)
        record_writer.register_writer_factory(logdir.split(':')[0], _EpathEventFiles())
      self._writer = tensorboardX.SummaryWriter(logdir, flush_secs=30)

  def write(self, step: int, scalars: dict[str, float], prefix: str = '') -> None:
    if self._writer is None:
      return
    for name, value in scalars.items():
      self._writer.add_scalar(f'{prefix}{name}', float(value), step)

  def write_images(self, step: int, images: dict[str, Any], prefix: str = '') -> None:
    """``images[name]``: (H, W, 3) or (H, W, 1) floats in [0, 1]."""
    if self._writer is None:
      return
    for name, image in images.items():
      self._writer.add_image(f'{prefix}{name}', image, step, dataformats='HWC')

  def close(self) -> None:
    if self._writer is not None:
      self._writer.close()


class _EpathEventFile:
  """One tensorboardX event file written through etils.epath. Object stores cannot append, so
  each flush rewrites the current part (as tensorboardX's own GCS writer does); past
  ``PART_BYTES`` the next records go to a new part, '<name>.0001', ..., which TensorBoard
  reads in name order, so a long run never rewrites more than one part."""

  PART_BYTES = 4 << 20

  def __init__(self, path: str):
    self._path = path
    self._part = 0
    self._buffer = bytearray()
    self._flushed = 0

  def _name(self) -> str:
    return self._path if self._part == 0 else f'{self._path}.{self._part:04d}'

  def write(self, data: bytes) -> None:
    self._buffer += data

  def flush(self) -> None:
    if len(self._buffer) != self._flushed:
      files.write_bytes(self._name(), bytes(self._buffer))
      self._flushed = len(self._buffer)
    if self._flushed >= self.PART_BYTES:
      self._part += 1
      self._buffer, self._flushed = bytearray(), 0

  def close(self) -> None:
    self.flush()


class _EpathEventFiles:
  """tensorboardX's writer factory interface (``record_writer.register_writer_factory``)."""

  def open(self, path: str) -> _EpathEventFile:
    return _EpathEventFile(path)

  def directory_check(self, path: str) -> None:
    files.make_dirs(path)


def log_progress(tag: str, step: int, total: int, scalars: dict[str, float],
                 eta_seconds: float | None = None) -> None:
  """One absl log line: '[tag] step 100/500  loss=0.0012  psnr=31.20  eta 2m05s' (process 0
  only)."""
  if not is_main_process():
    return
  parts = '  '.join(f'{k}={v:.4g}' for k, v in scalars.items())
  eta = '' if eta_seconds is None or not math.isfinite(eta_seconds) else (
      f'  eta {format_duration(eta_seconds)}')
  logging.info('[%s] step %d/%d  %s%s', tag, step, total, parts, eta)


def mean_std(values: Iterable[float]) -> dict[str, float]:
  """{'mean', 'std' (sample, ddof=1; 0 for one value), 'n'} of ``values`` in float64."""
  array = np.asarray(list(values), np.float64)
  std = float(array.std(ddof=1)) if len(array) > 1 else 0.0
  return {'mean': float(array.mean()), 'std': std, 'n': int(len(array))}


def format_mean_std(stats: dict[str, float] | None, spec: str = '.2f') -> str:
  """'mean ± std' of a ``mean_std`` result in ``spec``; '-' for None."""
  if stats is None:
    return '-'
  return f'{stats["mean"]:{spec}} ± {stats["std"]:{spec}}'


def format_duration(seconds: float) -> str:
  """3725.2 -> '1h02m05s', 65 -> '1m05s', 4.2 -> '4s'."""
  whole = max(0, int(round(seconds)))
  hours, rest = divmod(whole, 3600)
  minutes, secs = divmod(rest, 60)
  if hours:
    return f'{hours}h{minutes:02d}m{secs:02d}s'
  return f'{minutes}m{secs:02d}s' if minutes else f'{secs}s'


class Eta:
  """Time left to ``total`` steps, from the wall time per step since the first progress line
  (evaluations and checkpoints included; the compilation before it left out) -- or, at the
  first line, from that interval's steps_per_sec."""

  def __init__(self, total: int, clock: Callable[[], float] = time.monotonic):
    self._total = total
    self._clock = clock
    self._first: tuple[int, float] | None = None

  def __call__(self, step: int, steps_per_sec: float | None = None) -> float | None:
    now = self._clock()
    if self._first is None or step <= self._first[0]:
      self._first = (step, now) if self._first is None else self._first
      return (self._total - step) / steps_per_sec if steps_per_sec else None
    first_step, first_time = self._first
    return (self._total - step) * (now - first_time) / (step - first_step)


class _DropLibraryInfo:
  """absl log filter: drops INFO records from orbax's and tensorstore's internals."""

  def filter(self, record) -> bool:
    import logging as std_logging
    return record.levelno > std_logging.INFO or 'orbax' not in record.pathname


def quiet_library_logs() -> None:
  """Keeps progress logs readable: orbax logs every checkpoint step at INFO."""
  from absl import logging as absl_logging
  absl_logging.get_absl_handler().addFilter(_DropLibraryInfo())


def cpu_model() -> str:
  """The CPU's model name as ``lscpu`` shows it (from /proc/cpuinfo), else the architecture."""
  try:
    with open('/proc/cpuinfo', encoding='utf-8') as f:
      for line in f:
        if line.startswith('model name'):
          return line.partition(':')[2].strip()
  except OSError:
    pass
  return platform.processor() or platform.machine()


def machine() -> str:
  """This machine in one line: OS, CPU model, cores, JAX devices and the 1/5/15-minute load
  averages (other users' jobs slow every timing)."""
  device = jax.devices()[0]
  try:
    load = ' / '.join(f'{x:.2f}' for x in os.getloadavg())
  except OSError:
    load = 'n/a'
  return (f'{platform.system()} {platform.machine()} ({cpu_model()}), {os.cpu_count()} CPU cores, '
          f'{jax.device_count()} x {device.device_kind} ({device.platform}), load average {load}')


def package_versions() -> dict[str, str | None]:
  """``VERSIONED_PACKAGES`` -> installed version (None: not installed)."""
  found: dict[str, str | None] = {}
  for name in VERSIONED_PACKAGES:
    try:
      found[name] = importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
      found[name] = None
  return found


def versions() -> str:
  """Python and the installed ``VERSIONED_PACKAGES`` with their versions, in one line."""
  installed = [f'{name} {v}' for name, v in package_versions().items() if v is not None]
  return ', '.join([f'Python {platform.python_version()}', *installed])
