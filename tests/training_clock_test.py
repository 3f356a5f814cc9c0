"""training.train_loop's timings, logged metrics and stop rule, on a fake clock.

The loop reads the time only through ``time.perf_counter``; here that clock moves only when
``batch_fn`` is called (step s costs s + 1 seconds) or ``eval_fn`` runs (10 s, which must not
count as training time), so every number the loop reports can be worked out by hand.
"""

import numpy as np
import pytest

from siren_jax import checkpoints, fitting, training
from tests.training_loop_test import _tiny

EVAL_SECONDS = 10.0


class _Clock:
  """Stands in for the ``time`` module inside ``siren_jax.training``."""

  def __init__(self):
    self.now = 100.0

  def perf_counter(self) -> float:
    return self.now


@pytest.fixture
def clock(monkeypatch):
  fake = _Clock()
  monkeypatch.setattr(training, 'time', fake)
  return fake


def _timed_fns(clock, batch):
  def batch_fn(step):
    clock.now += step + 1.0
    return batch

  def eval_fn(state):
    clock.now += EVAL_SECONDS
    return {'seen': float(state.step)}

  return batch_fn, eval_fn


# 8 steps, evaluation and logging every 2: the intervals between host syncs cost 1 + 2 = 3,
# 3 + 4 = 7, 5 + 6 = 11 and 7 + 8 = 15 s for 2 steps each, i.e. 1.5, 3.5, 5.5, 7.5 s per step.
# Stepping time at the evaluations (steps 0, 2, 4, 6, 8): 0, 3, 10, 21, 36 s.
TRAIN_SECONDS = [0.0, 3.0, 10.0, 21.0, 36.0]
PER_STEP = [1.5, 3.5, 5.5, 7.5]


def test_timings_count_stepping_only_and_the_median_skips_the_first_interval(clock):
  state, batch = _tiny()
  batch_fn, eval_fn = _timed_fns(clock, batch)
  logged = []
  result = training.train_loop(state, training.make_train_step(fitting.image_loss), batch_fn,
                               num_steps=8, eval_every=2, eval_fn=eval_fn, log_every=2,
                               log_fn=lambda s, m: logged.append((s, m)))
  assert [r['step'] for r in result.history] == [0, 2, 4, 6, 8]
  assert [r['seen'] for r in result.history] == [0.0, 2.0, 4.0, 6.0, 8.0]
  np.testing.assert_allclose(result.train_seconds, TRAIN_SECONDS)
  # Median of the intervals after the first (which holds the compilation): of 3.5, 5.5, 7.5.
  assert result.seconds_per_step == pytest.approx(5.5)
  assert [s for s, _ in logged] == [2, 4, 6, 8]
  np.testing.assert_allclose([m['steps_per_sec'] for _, m in logged],
                             [1.0 / t for t in PER_STEP])
  # The step's own metrics are logged, the divergence guard's bookkeeping is not.
  for _, metrics in logged:
    assert set(metrics) == {'loss', 'psnr', 'steps_per_sec'}
    assert np.isfinite(metrics['loss']) and metrics['loss'] > 0


class _Crash(Exception):
  pass


def test_a_resumed_run_carries_its_training_time_on(clock, tmp_path):
  _, batch = _tiny()
  batch_fn, eval_fn = _timed_fns(clock, batch)

  def crash_at_6(step, metrics):
    if step == 6:
      raise _Crash()

  def run(log_fn=None):
    manager = checkpoints.make_manager(str(tmp_path))
    try:
      return training.train_loop(_tiny()[0], training.make_train_step(fitting.image_loss),
                                 batch_fn, num_steps=8, eval_every=2, eval_fn=eval_fn,
                                 log_every=2 if log_fn else 0, log_fn=log_fn,
                                 checkpoint_manager=manager, checkpoint_every=4)
    finally:
      manager.wait_until_finished()
      manager.close()

  with pytest.raises(_Crash):
    run(crash_at_6)  # Saved at step 4 with the records of steps 0, 2, 4.
  clock.now = 5000.0  # A new process: its clock has nothing to do with the first one's.
  resumed = run()
  assert resumed.resumed_from == 4
  assert [r['step'] for r in resumed.history] == [0, 2, 4, 6, 8]
  # Steps 4..7 cost 5 + 6 = 11 and 7 + 8 = 15 s on top of the 10 s restored at step 4.
  np.testing.assert_allclose(resumed.train_seconds, TRAIN_SECONDS)


def test_stop_fn_stops_at_the_first_evaluation_that_asks_and_a_rerun_stays_stopped(
    clock, tmp_path):
  _, batch = _tiny()
  batch_fn, eval_fn = _timed_fns(clock, batch)

  def run():
    manager = checkpoints.make_manager(str(tmp_path))
    try:
      return training.train_loop(_tiny()[0], training.make_train_step(fitting.image_loss),
                                 batch_fn, num_steps=10, eval_every=2, eval_fn=eval_fn,
                                 checkpoint_manager=manager,
                                 stop_fn=lambda record: record['seen'] >= 4)
    finally:
      manager.close()

  first = run()
  assert [r['step'] for r in first.history] == [0, 2, 4]
  assert int(first.state.step) == 4
  again = run()
  assert again.resumed_from == 4 and int(again.state.step) == 4
  assert [r['step'] for r in again.history] == [0, 2, 4]
