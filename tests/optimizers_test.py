"""The optimiser builder: its default is optax.adam itself, its schedules match hand-worked
learning rates, clipping matches a hand-worked Adam step, bad settings name the argument."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from siren_jax import optimizers


def _updates(optimizer, gradients):
  """The updates ``optimizer`` makes for a sequence of gradients of one parameter vector."""
  params = jnp.zeros_like(gradients[0])
  state = optimizer.init(params)
  updates = []
  for gradient in gradients:
    update, state = optimizer.update(gradient, state, params)
    updates.append(np.asarray(update))
  return np.stack(updates)


def test_default_is_optax_adam_bit_for_bit():
  params = {'w': jax.random.normal(jax.random.PRNGKey(0), (3, 4)), 'b': jnp.zeros(4)}
  gradients = [jax.tree.map(lambda p, i=i: jnp.sin(p + i) + 0.1 * i, params) for i in range(5)]
  ours, reference = optimizers.make_optimizer(learning_rate=3e-4), optax.adam(3e-4)
  state, reference_state = ours.init(params), reference.init(params)
  # The same state tree: checkpoints of optax.adam runs restore into the builder's default.
  assert jax.tree.structure(state) == jax.tree.structure(reference_state)
  for gradient in gradients:
    update, state = ours.update(gradient, state, params)
    expected, reference_state = reference.update(gradient, reference_state, params)
    for x, y in zip(jax.tree.leaves((update, state)), jax.tree.leaves((expected, reference_state))):
      np.testing.assert_array_equal(np.asarray(x), np.asarray(y))


@pytest.mark.parametrize('settings, expected', [
    # Warm-up over W = 4 updates from 0, then constant: lr * t / 4 for t = 0..3.
    ({'warmup_steps': 4}, [0.0, 0.25, 0.5, 0.75, 1.0, 1.0, 1.0]),
    # Cosine over D = 10: (1 + cos(pi t / 10)) / 2 at t = 0, 2, 5 (cos(pi/5) = 0.809017,
    # cos(pi/2) = 0), 10 and after (0).
    ({'schedule': 'cosine', 'decay_steps': 10}, {0: 1.0, 2: 0.9045085, 5: 0.5, 10: 0.0, 25: 0.0}),
    # Warm-up 2, then cosine over 10: t = 2 is the peak, t = 5 is s = 3 (cos(0.3 pi) = 0.587785).
    ({'schedule': 'cosine', 'warmup_steps': 2, 'decay_steps': 10},
     {0: 0.0, 1: 0.5, 2: 1.0, 5: 0.7938926, 12: 0.0}),
    # Step: x0.5 every 3 updates.
    ({'schedule': 'step', 'decay_steps': 3, 'decay_rate': 0.5},
     [1.0, 1.0, 1.0, 0.5, 0.5, 0.5, 0.25, 0.25, 0.25, 0.125]),
    # Warm-up 4, then x0.1 every 2 updates (counted from the end of the warm-up).
    ({'schedule': 'step', 'warmup_steps': 4, 'decay_steps': 2},
     {0: 0.0, 2: 0.5, 4: 1.0, 5: 1.0, 6: 0.1, 8: 0.01}),
])
def test_schedules_match_hand_worked_learning_rates(settings, expected):
  lr = 2e-3
  schedule = optimizers.learning_rate_schedule(lr, **settings)
  expected = dict(enumerate(expected)) if isinstance(expected, list) else expected
  for step, fraction in expected.items():
    np.testing.assert_allclose(float(schedule(step)), lr * fraction, rtol=1e-6, atol=1e-12,
                               err_msg=f'update {step}')


def test_adam_follows_the_schedule():
  # With a constant gradient of 1, Adam's bias-corrected m / sqrt(v) is 1, so each update is
  # -lr_t / (1 + 1e-8): the warm-up then step schedule, read off the updates (to float32's
  # rounding of Adam's 1 - 0.999^t, ~1e-5 relative).
  optimizer = optimizers.make_optimizer(learning_rate=1e-2, schedule='step', warmup_steps=2,
                                        decay_steps=2, decay_rate=0.5)
  updates = _updates(optimizer, [jnp.ones(1)] * 7)[:, 0]
  np.testing.assert_allclose(updates, -1e-2 * np.array([0, 0.5, 1, 1, 0.5, 0.5, 0.25]),
                             rtol=1e-4)


def test_clipping_matches_a_hand_worked_adam_step():
  # Gradients g1 = 5u, g2 = 0.5u with u = (0.6, 0.8) (|u| = 1). Clipped to norm 1: g1 -> u.
  # Adam (b1 0.9, b2 0.999), second update per coordinate, in units of lr:
  #   clipped:   m2 = 0.09 + 0.05 = 0.14, v2 = 0.000999 + 0.00025 = 0.001249 (x u_i, u_i^2);
  #              (0.14 / 0.19) / sqrt(0.001249 / 0.001999) = 0.7368421 / 0.7904507 = 0.9321796
  #   unclipped: m2 = 0.45 + 0.05 = 0.5, v2 = 0.024975 + 0.00025 = 0.025225;
  #              (0.5 / 0.19) / sqrt(0.025225 / 0.001999) = 2.6315789 / 3.5522972 = 0.7408106
  # (to float32's rounding of 1 - 0.999^t, ~1e-5 relative).
  u = jnp.array([0.6, 0.8])
  gradients = [5.0 * u, 0.5 * u]
  clipped = _updates(optimizers.make_optimizer(learning_rate=1e-3, clip_norm=1.0), gradients)
  unclipped = _updates(optimizers.make_optimizer(learning_rate=1e-3), gradients)
  np.testing.assert_allclose(clipped[1], -1e-3 * 0.9321796, rtol=1e-4)
  np.testing.assert_allclose(unclipped[1], -1e-3 * 0.7408106, rtol=1e-4)


@pytest.mark.parametrize('settings, message', [
    ({'name': 'sgd'}, "name must be one of adam, got 'sgd'"),
    ({'learning_rate': 0.0}, 'learning_rate must be a positive number, got 0.0'),
    ({'learning_rate': float('inf')}, 'learning_rate must be a positive number, got inf'),
    ({'schedule': 'linear'}, "schedule must be one of constant, cosine, step, got 'linear'"),
    ({'warmup_steps': -1}, 'warmup_steps must be an integer >= 0'),
    ({'schedule': 'cosine'}, "decay_steps must be an integer >= 1 for schedule 'cosine', got 0"),
    ({'schedule': 'step', 'decay_steps': 2.5},
     "decay_steps must be an integer >= 1 for schedule 'step', got 2.5"),
    ({'decay_rate': 1.5}, r'decay_rate must be in \(0, 1\]'),
    ({'clip_norm': -1.0}, 'clip_norm must be a number >= 0, got -1.0'),
])
def test_bad_settings_name_the_argument(settings, message):
  with pytest.raises(ValueError, match=message):
    optimizers.make_optimizer(**settings)
