"""siren_jax.training: the train step, multi-step dispatch, checkpoint resume, and train_loop's
schedule (when it evaluates, logs and saves, counted by hand) and timings.

The timing tests run on a fake clock: the loop reads the time only through
``time.perf_counter``; here that clock moves only when ``batch_fn`` is called (step s costs
s + 1 seconds) or ``eval_fn`` runs (10 s, which must not count as training time), so every
number the loop reports can be worked out by hand.
"""

import os

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from siren_jax import checkpoints, fitting, grids, images, layers, training


def _setup(steps_per_call=1):
  image = images.load_image('camera', size=16)
  coords, values = grids.image_to_samples(image)
  model = layers.Siren(out_features=1, hidden_features=32, hidden_layers=2)
  state = training.create_train_state(model, jax.random.PRNGKey(0), coords[:1],
                                      optax.adam(1e-3))
  step = training.make_train_step(fitting.image_loss, steps_per_call=steps_per_call)
  return state, step, {'coords': coords, 'values': values}


def _params_equal(a, b):
  for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)):
    np.testing.assert_array_equal(np.asarray(x), np.asarray(y))


def test_train_step_lowers_the_loss():
  state, step, batch = _setup()
  losses = []
  for _ in range(30):
    state, metrics = step(state, batch)
    losses.append(float(metrics['loss']))
  assert losses[-1] < 0.5 * losses[0]
  assert int(state.step) == 30 and 'psnr' in metrics


def test_several_steps_per_call_equal_single_steps():
  state1, step1, batch = _setup()
  state4, step4, _ = _setup(steps_per_call=4)
  for _ in range(8):
    state1, m1 = step1(state1, batch)
  for _ in range(2):
    state4, m4 = step4(state4, batch)
  assert int(state4.step) == 8
  for x, y in zip(jax.tree.leaves(state1.params), jax.tree.leaves(state4.params)):
    np.testing.assert_allclose(x, y, rtol=1e-5, atol=1e-6)
  np.testing.assert_allclose(m1['loss'], m4['loss'], rtol=1e-5)


def test_step_donates_the_old_state():
  state, step, batch = _setup()
  old_kernel = state.params['layer_0']['kernel']
  step(state, batch)
  assert old_kernel.is_deleted()


def _eval(state, batch):
  prediction = state.apply_fn(state.params, batch['coords'])
  return {'mse': float(jnp.mean((prediction - batch['values']) ** 2))}


class _Crash(Exception):
  pass


def test_loop_resumes_after_a_crash_and_matches_an_uninterrupted_run(tmp_path):
  state, step, batch = _setup()
  reference = training.train_loop(state, step, lambda s: batch, num_steps=20, eval_every=5,
                                  eval_fn=lambda st: _eval(st, batch))

  def crash_at_15(step_number, metrics):
    if step_number == 15:
      raise _Crash()

  manager = checkpoints.make_manager(str(tmp_path / 'ckpt'))
  state, _, batch = _setup()  # The same jitted step (pure) serves all three runs.
  with pytest.raises(_Crash):
    training.train_loop(state, step, lambda s: batch, num_steps=20, eval_every=5,
                        eval_fn=lambda st: _eval(st, batch), log_every=5, log_fn=crash_at_15,
                        checkpoint_manager=manager, checkpoint_every=10)
  manager.wait_until_finished()
  manager.close()

  manager = checkpoints.make_manager(str(tmp_path / 'ckpt'))
  state, _, batch = _setup()
  resumed = training.train_loop(state, step, lambda s: batch, num_steps=20, eval_every=5,
                                eval_fn=lambda st: _eval(st, batch),
                                checkpoint_manager=manager, checkpoint_every=10)
  manager.close()
  assert resumed.resumed_from == 10
  assert int(resumed.state.step) == 20
  _params_equal(resumed.state.params, reference.state.params)
  _params_equal(resumed.state.opt_state, reference.state.opt_state)
  assert [r['step'] for r in resumed.history] == [0, 5, 10, 15, 20]
  assert resumed.history == reference.history


def test_restoring_a_different_model_is_a_clear_error(tmp_path):
  state, step, batch = _setup()
  manager = checkpoints.make_manager(str(tmp_path))
  training.train_loop(state, step, lambda s: batch, num_steps=2, checkpoint_manager=manager)
  manager.close()
  other = layers.Siren(out_features=1, hidden_features=8, hidden_layers=1)
  other_state = training.create_train_state(other, jax.random.PRNGKey(0), batch['coords'][:1],
                                            optax.adam(1e-3))
  manager = checkpoints.make_manager(str(tmp_path))
  with pytest.raises(ValueError, match='does not match'):
    checkpoints.restore_latest(manager, other_state)
  manager.close()


def test_intervals_must_divide_by_steps_per_call():
  state, step, batch = _setup(steps_per_call=4)
  with pytest.raises(ValueError, match='multiple of steps_per_call'):
    training.train_loop(state, step, lambda s: batch, num_steps=10)


def test_rerunning_a_finished_run_restores_it_without_saving_again(tmp_path):
  state, step, batch = _setup()

  def run():
    manager = checkpoints.make_manager(str(tmp_path))
    try:
      return training.train_loop(state, step, lambda s: batch, num_steps=3,
                                 checkpoint_manager=manager, checkpoint_every=0)
    finally:
      manager.close()

  first = run()
  state, step, batch = _setup()
  again = run()  # orbax refuses to save an existing step: the loop must not try.
  assert first.resumed_from is None and again.resumed_from == 3
  assert int(again.state.step) == 3


def test_a_checkpoint_past_num_steps_is_refused_not_returned_as_this_run(tmp_path):
  state, step, batch = _setup()
  manager = checkpoints.make_manager(str(tmp_path))
  training.train_loop(state, step, lambda s: batch, num_steps=4, checkpoint_manager=manager)
  manager.close()
  manager = checkpoints.make_manager(str(tmp_path))
  with pytest.raises(ValueError, match='step 4, past num_steps=3'):
    training.train_loop(state, step, lambda s: batch, num_steps=3, checkpoint_manager=manager)
  manager.close()


def _tiny():
  coords = np.array([[-0.5, -0.5], [-0.5, 0.5], [0.5, -0.5], [0.5, 0.5]], np.float32)
  values = np.array([[0.1], [-0.2], [0.3], [0.0]], np.float32)
  model = layers.Siren(out_features=1, hidden_features=8, hidden_layers=1)
  state = training.create_train_state(model, jax.random.PRNGKey(0), coords[:1], optax.sgd(1e-3))
  return state, {'coords': coords, 'values': values}


def test_without_eval_every_the_loop_evaluates_once_at_the_end():
  state, batch = _tiny()
  step = training.make_train_step(fitting.image_loss)
  result = training.train_loop(state, step, lambda s: batch, num_steps=5,
                               eval_fn=lambda st: {'n': 1.0})
  assert [r['step'] for r in result.history] == [5]
  assert result.resumed_from is None and int(result.state.step) == 5


def test_eval_log_and_checkpoint_steps(tmp_path):
  # 6 steps, 2 per call: evaluation at 0 and every 4 steps plus the end -> 0, 4, 6; logs every 2
  # -> 2, 4, 6; checkpoints every 2 before the end plus the end -> 2, 4, 6, of which the
  # manager keeps the last two.
  state, batch = _tiny()
  step = training.make_train_step(fitting.image_loss, steps_per_call=2)
  logged = []
  manager = checkpoints.make_manager(str(tmp_path))
  result = training.train_loop(
      state, step, lambda s: batch, num_steps=6, eval_every=4,
      eval_fn=lambda st: {'step_seen': float(st.step)},
      log_every=2, log_fn=lambda s, m: logged.append((s, m['steps_per_sec'] > 0)),
      checkpoint_manager=manager, checkpoint_every=2)
  manager.close()
  assert [(r['step'], r['step_seen']) for r in result.history] == [(0, 0.0), (4, 4.0), (6, 6.0)]
  assert logged == [(2, True), (4, True), (6, True)]
  manager = checkpoints.make_manager(str(tmp_path))
  assert list(manager.all_steps()) == [4, 6]
  manager.close()
  assert result.seconds_per_step is not None and result.seconds_per_step > 0


def test_checkpoints_only_at_multiples_of_checkpoint_every_and_the_end(tmp_path):
  # Evaluating every 3 steps and logging every step syncs with the host at every step; saves
  # must still happen only at 4 and 8 (checkpoint_every) and at the end, 9.
  state, batch = _tiny()
  manager = checkpoints.make_manager(str(tmp_path), max_to_keep=None)
  training.train_loop(state, training.make_train_step(fitting.image_loss), lambda s: batch,
                      num_steps=9, eval_every=3, eval_fn=lambda st: {'n': 1.0}, log_every=1,
                      log_fn=lambda s, m: None, checkpoint_manager=manager, checkpoint_every=4)
  manager.close()
  manager = checkpoints.make_manager(str(tmp_path), max_to_keep=None)
  assert list(manager.all_steps()) == [4, 8, 9]
  manager.close()


def test_logs_only_at_multiples_of_log_every_whatever_else_syncs():
  # Logging every 2 and evaluating every 3 steps syncs at 2, 3, 4 and 6: logs at 2, 4 and 6 only.
  state, batch = _tiny()
  logged = []
  training.train_loop(state, training.make_train_step(fitting.image_loss), lambda s: batch,
                      num_steps=6, eval_every=3, eval_fn=lambda st: {'n': 1.0}, log_every=2,
                      log_fn=lambda s, m: logged.append(s))
  assert logged == [2, 4, 6]


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


def test_profile_steps_write_one_jax_profiler_trace(tmp_path):
  state, batch = _tiny()
  training.train_loop(state, training.make_train_step(fitting.image_loss), lambda s: batch,
                      num_steps=5, profile_steps=(1, 3), profile_dir=str(tmp_path))
  traces = [n for _, _, names in os.walk(tmp_path) for n in names if n.endswith('.xplane.pb')]
  assert len(traces) == 1


def test_profile_steps_must_be_increasing_and_need_a_directory():
  state, batch = _tiny()
  step = training.make_train_step(fitting.image_loss)
  with pytest.raises(ValueError, match=r'two integers FIRST < LAST, FIRST >= 0, got \(5, 2\)'):
    training.train_loop(state, step, lambda s: batch, num_steps=5, profile_steps=(5, 2),
                        profile_dir='/tmp')
  with pytest.raises(ValueError, match='profile_steps needs a profile_dir'):
    training.train_loop(state, step, lambda s: batch, num_steps=5, profile_steps=(1, 2))
