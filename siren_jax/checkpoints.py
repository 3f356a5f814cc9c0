"""Checkpointing with orbax: a train state plus a small JSON record (e.g. the metric history).

A run saves every N steps and at the end; on start it restores the latest checkpoint in its
directory, so a killed run resumes where its last checkpoint stopped. Directories may be local
paths or any URL orbax/etils-epath understand (``gs://...``).
"""

from __future__ import annotations

import os
from typing import Any

import orbax.checkpoint as ocp
from etils import epath

from siren_jax import errors

STATE = 'state'
RECORD = 'record'


def _as_path(directory: str) -> epath.Path:
  # orbax needs absolute local paths; URLs (gs://...) pass through unchanged.
  return epath.Path(directory if '://' in directory else os.path.abspath(directory))


def make_manager(directory: str, *, max_to_keep: int | None = 2) -> ocp.CheckpointManager:
  """A CheckpointManager over ``directory`` that saves whenever asked (the loop decides when)."""
  options = ocp.CheckpointManagerOptions(max_to_keep=max_to_keep, create=True)
  return ocp.CheckpointManager(_as_path(directory), options=options, item_names=(STATE, RECORD))


def save(manager: ocp.CheckpointManager, step: int, state: Any, record: dict[str, Any],
         *, wait: bool = False) -> None:
  """Saves ``state`` (any pytree of arrays) and a JSON-serialisable ``record`` at ``step``."""
  manager.save(step, args=ocp.args.Composite(
      **{STATE: ocp.args.StandardSave(state), RECORD: ocp.args.JsonSave(record)}), force=True)
  if wait:
    manager.wait_until_finished()


def restore_latest(manager: ocp.CheckpointManager,
                   state_template: Any) -> tuple[Any, dict[str, Any]] | None:
  """(state, record) of the newest checkpoint, shaped like ``state_template``; None if none."""
  step = manager.latest_step()
  if step is None:
    return None
  try:
    restored = manager.restore(step, args=ocp.args.Composite(
        **{STATE: ocp.args.StandardRestore(state_template), RECORD: ocp.args.JsonRestore()}))
  except (ValueError, KeyError, TypeError) as e:
    raise ValueError(
        f'checkpoint at step {step} in {manager.directory} does not match this model/config '
        f'(use a fresh --workdir): {errors.first_line(e)}'
    ) from None
  return restored[STATE], dict(restored[RECORD] or {})
