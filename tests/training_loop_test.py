"""training.train_loop's schedule: when it evaluates, logs and saves (counted by hand)."""

import os

import jax
import numpy as np
import optax
import pytest

from siren_jax import checkpoints, fitting, layers, training


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
