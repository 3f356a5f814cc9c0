"""Train step, multi-step dispatch, the shared loop and checkpoint resume."""

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
