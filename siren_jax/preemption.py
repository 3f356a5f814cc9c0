"""Preemption notices for ``training.train_loop``: stop at a step boundary every process agrees
on, save there, and let the caller exit so that the same command resumes.

Spot/preemptible VMs get SIGTERM and about 30 s before they go. One process: a Python SIGTERM
handler only records the notice (the step in flight finishes, nothing is cut mid-write), and the
next step boundary stops; outside a training loop the notice waits for the next loop's first
boundary, and a second SIGTERM ends the process at once, as if no handler were there.

Several processes (``jax.distributed.initialize``): JAX's preemption service catches SIGTERM
itself and tells every process, and orbax's ``reached_preemption`` (JAX's
``reached_preemption_sync_point``; False where the service is off) returns True on all of them
at the same boundary, so every host saves the same step. No Python handler is installed there:
it would take SIGTERM from that service.

A ``Preemption`` is a ``(step) -> bool`` for ``train_loop(preempt_fn=...)``; there is one per
process (signals belong to the process), from ``install``.
"""

from __future__ import annotations

import os
import signal
import threading
from types import FrameType
from typing import Any

import jax
from absl import logging

# What an entry point exits with after saving on a preemption notice: EX_TEMPFAIL of
# sysexits.h, "temporary failure; the user is invited to retry" -- rerun the same command.
EXIT_STATUS = 75


class Preemption:
  """Whether a preemption notice has arrived and all processes have reached the step at which
  to stop (``__call__``, once per step boundary, in the same order on every process)."""

  def __init__(self, multihost: bool):
    self._multihost = multihost
    self._notice: str | None = None
    self._boundaries = 0  # The sync protocol needs ids that grow by one per boundary.

  @property
  def notice(self) -> str | None:
    """What arrived (e.g. 'SIGTERM'), or None. Multi-host runs learn it only at a boundary."""
    return self._notice

  def request(self, notice: str = 'a stop request') -> None:
    """Records a notice as the SIGTERM handler does (also for tests and callers' own signals)."""
    self._notice = self._notice or notice

  def __call__(self, step: int) -> bool:
    del step  # The boundary count, not the step, is what the sync protocol needs.
    self._boundaries += 1
    if not self._multihost:
      return self._notice is not None
    # orbax's wrapper of JAX's sync point: False where the service is off or unavailable.
    from orbax.checkpoint import multihost as ocp_multihost  # Only multi-host runs need it.
    reached = ocp_multihost.reached_preemption(self._boundaries)
    if reached:
      self.request('a preemption notice (JAX preemption service)')
    return reached

  def handle_signals(self, signals: tuple[signal.Signals, ...] = (signal.SIGTERM,)
                     ) -> dict[signal.Signals, Any]:
    """Makes ``signals`` record a notice (a second one ends the process at once, as without
    a handler); main thread only. Returns the handlers it replaced, for ``signal.signal``."""

    def handler(signum: int, frame: FrameType | None) -> None:
      del frame
      if self._notice is not None:
        signal.signal(signum, signal.SIG_DFL)
        os.kill(os.getpid(), signum)
      self.request(signal.Signals(signum).name)

    return {sig: signal.signal(sig, handler) for sig in signals}


_INSTALLED: Preemption | None = None


def install(signals: tuple[signal.Signals, ...] = (signal.SIGTERM,)) -> Preemption:
  """The process's ``Preemption``, watching ``signals`` (installed once; later calls return
  the same one). Call it from the main thread after ``jax.distributed.initialize``, if any."""
  global _INSTALLED  # Signal handlers are per process; so is what they record.
  if _INSTALLED is not None:
    return _INSTALLED
  multihost = jax.process_count() > 1
  watch = Preemption(multihost)
  if multihost:
    logging.info('Preemption: JAX preemption service (SIGTERM on any host stops all at one '
                 'step).')
  elif threading.current_thread() is threading.main_thread():
    watch.handle_signals(signals)
  _INSTALLED = watch
  return watch


def installed() -> Preemption | None:
  """The process's ``Preemption`` if ``install`` was called, else None."""
  return _INSTALLED
