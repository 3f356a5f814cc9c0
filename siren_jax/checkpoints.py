"""Checkpointing with orbax: a train state plus a small JSON record (e.g. the metric history).

A run saves every N steps and at the end; on start it restores the latest checkpoint in its
directory, so a killed run resumes where its last checkpoint stopped. Directories may be local
paths or any URL orbax/etils-epath understand (``gs://...``).

Damage: ``restore_latest`` tries the checkpoints newest first and falls back to the next older
one when a checkpoint cannot be read (truncated or empty files) or holds non-finite values,
logging which step it skipped; ``set_aside_newer`` then renames the skipped ones to
``<step>.damaged`` (kept for inspection, ignored by orbax) so training can save those steps
again. If none can be restored it is a one-line ValueError, never a silent fresh start.
"""

from __future__ import annotations

import contextlib
import gc
import logging as std_logging
import os
import sys
import tempfile
import time
from typing import Any

import jax
import orbax.checkpoint as ocp
from absl import logging
from etils import epath

from siren_jax import errors, finite

STATE = 'state'
RECORD = 'record'
DAMAGED_SUFFIX = '.damaged'


def _as_path(directory: str) -> epath.Path:
  # orbax needs absolute local paths; URLs (gs://...) pass through unchanged.
  return epath.Path(directory if '://' in directory else os.path.abspath(directory))


def make_manager(directory: str, *, max_to_keep: int | None = 2) -> ocp.CheckpointManager:
  """A CheckpointManager over ``directory`` that saves whenever asked (the loop decides when).

  Rotation keeps the newest ``max_to_keep``; the training loop only ever saves states it has
  checked to be finite, so rotation never pushes out the last good checkpoint.
  """
  options = ocp.CheckpointManagerOptions(max_to_keep=max_to_keep, create=True)
  return ocp.CheckpointManager(_as_path(directory), options=options, item_names=(STATE, RECORD))


def save(manager: ocp.CheckpointManager, step: int, state: Any, record: dict[str, Any],
         *, wait: bool = False) -> None:
  """Saves ``state`` (any pytree of arrays) and a JSON-serialisable ``record`` at ``step``."""
  manager.save(step, args=ocp.args.Composite(
      **{STATE: ocp.args.StandardSave(state), RECORD: ocp.args.JsonSave(record)}), force=True)
  if wait:
    manager.wait_until_finished()


class RestoreError(errors.AdvisedError):
  """No checkpoint of a directory can be restored (``restore_latest``)."""

  def __init__(self, diagnosis: str,
               advice: str = 'delete them, or restore from another directory, to start over'):
    super().__init__(diagnosis, advice)


def restore_latest(manager: ocp.CheckpointManager,
                   state_template: Any) -> tuple[Any, dict[str, Any]] | None:
  """(state, record) of the newest checkpoint that restores, shaped like ``state_template``;
  None if there is none.

  A checkpoint that fails to read or holds non-finite values is logged (its step and why) and
  the next older one is tried. Raises RestoreError (a one-line ValueError) if every checkpoint
  fails.
  """
  steps = sorted(manager.all_steps(), reverse=True)
  failures: list[str] = []
  for step in steps:
    try:
      with _quiet_failed_reads():
        restored = manager.restore(step, args=ocp.args.Composite(
            **{STATE: ocp.args.StandardRestore(state_template), RECORD: ocp.args.JsonRestore()}))
      problem = (None if bool(jax.device_get(finite.all_finite(restored[STATE])))
                 else 'it holds non-finite values')
    # Damaged files surface as anything from json's ValueError to tensorstore's bare Exception.
    except Exception as e:  # pylint: disable=broad-except
      problem = _short(errors.first_line(e))
    if problem is None:
      if failures:
        logging.warning('Restored the checkpoint at step %d in %s instead.', step,
                        manager.directory)
      return restored[STATE], dict(restored[RECORD] or {})
    failures.append(f'step {step}: {problem}')
    logging.warning('Cannot restore the checkpoint at step %d in %s (damaged, or from another '
                    'model): %s%s', step, manager.directory, problem,
                    '; trying the next older one' if step != steps[-1] else '')
  if not failures:
    return None
  raise RestoreError(
      f'no checkpoint in {manager.directory} can be restored: it does not match this model or '
      f'optimiser, or is damaged ({"; ".join(failures)})')


class _UnretrievedFilter(std_logging.Filter):
  """Drops asyncio's 'exception was never retrieved' reports (with tracebacks) of the reads
  orbax ran in parallel with a failed one, whose error restore_latest already reported."""

  def filter(self, record: std_logging.LogRecord) -> bool:
    return 'exception was never retrieved' not in record.getMessage()


# Lines tensorstore's callback threads print when reads of a failed restore finish after orbax
# closed its event loop (printed from C++, past sys.excepthook).
_LOOP_NOISE = ('Traceback (most recent call last):', 'in call_soon_threadsafe',
               'self._check_closed()', 'in _check_closed',
               "raise RuntimeError('Event loop is closed')", 'RuntimeError: Event loop is closed')


@contextlib.contextmanager
def _quiet_failed_reads(grace_seconds: float = 0.5):
  """Runs one restore attempt with file descriptor 2 captured, then re-emits what was printed
  minus the closed-loop noise of a failed restore's leftover reads (given ``grace_seconds``
  to finish); logs abandoned asyncio futures' errors quietly. Its own error is reported in
  one line by the caller."""
  try:
    sys.stderr.flush()
    saved = os.dup(2)
  except (OSError, ValueError):  # No real stderr (embedded interpreters): nothing to quiet.
    yield
    return
  capture = tempfile.TemporaryFile()
  os.dup2(capture.fileno(), 2)
  failed = False
  try:
    yield
  except Exception:
    failed = True
    raise
  finally:
    if failed:
      time.sleep(grace_seconds)
      asyncio_logger = std_logging.getLogger('asyncio')
      if not any(isinstance(f, _UnretrievedFilter) for f in asyncio_logger.filters):
        asyncio_logger.addFilter(_UnretrievedFilter())
      gc.collect()
    sys.stderr.flush()
    os.dup2(saved, 2)
    os.close(saved)
    capture.seek(0)
    text = capture.read().decode(errors='replace')
    capture.close()
    kept = [line for line in text.splitlines(keepends=True)
            if not any(noise in line for noise in _LOOP_NOISE)]
    if kept:
      sys.stderr.write(''.join(kept))


def _short(text: str, limit: int = 200) -> str:
  """An error line without tensorstore's spec dump, at most ``limit`` characters."""
  text = text.split(' [tensorstore_spec=')[0]
  return text if len(text) <= limit else text[:limit - 3] + '...'


def set_aside_newer(manager: ocp.CheckpointManager, step: int) -> list[int]:
  """Renames every checkpoint newer than ``step`` (those ``restore_latest`` could not restore)
  to ``<step>.damaged`` so the run can save those steps again; returns their steps."""
  newer = [s for s in manager.all_steps() if s > step]
  if not newer:
    return []
  if jax.process_index() == 0:
    for s in newer:
      source = epath.Path(manager.directory) / str(s)
      target = epath.Path(f'{source}{DAMAGED_SUFFIX}')
      if target.exists():
        target.rmtree()
      source.rename(target)
      logging.warning('Moved the unreadable checkpoint at step %d aside to %s.', s, target)
  if jax.process_count() > 1:
    from jax.experimental import multihost_utils  # Only multi-host runs need the barrier.
    multihost_utils.sync_global_devices('siren_jax.checkpoints.set_aside_newer')
  manager.reload()
  return newer
