"""The inner loop: k optimiser steps against hand-worked updates of a linear field."""

import jax.numpy as jnp
import numpy as np
import optax
import pytest

from siren_jax import fitting
from siren_jax.meta import inner


def linear_field(params, coords):
  return coords @ params['w']


def _task():
  rng = np.random.default_rng(0)
  coords = rng.normal(size=(8, 2)).astype(np.float32)
  values = rng.normal(size=(8, 1)).astype(np.float32)
  return {'coords': coords, 'values': values}


def test_sgd_steps_match_the_closed_form_gradient_of_the_mse():
  batch = _task()
  x, y = batch['coords'].astype(np.float64), batch['values'].astype(np.float64)
  w = np.array([[0.3], [-0.2]])
  lr = 0.1
  expected, losses = w.copy(), []
  for _ in range(2):  # mse = mean((x w - y)^2): gradient 2 / n x^T (x w - y).
    residual = x @ expected - y
    losses.append(np.mean(residual ** 2))
    expected = expected - lr * 2.0 / len(x) * x.T @ residual
  adapted, got_losses = inner.inner_loop(fitting.image_loss, linear_field,
                                         {'w': jnp.asarray(w, jnp.float32)}, batch,
                                         optax.sgd(lr), steps=2)
  np.testing.assert_allclose(adapted['w'], expected, rtol=1e-5)
  np.testing.assert_allclose(got_losses, losses, rtol=1e-5)


def test_per_step_batches_are_used_in_order():
  first, second = _task(), {k: v[::-1] * 2 for k, v in _task().items()}
  stacked = {k: np.stack([first[k], second[k]]) for k in first}
  params = {'w': jnp.array([[0.3], [-0.2]])}
  optimizer = optax.sgd(0.1)
  adapted, _ = inner.inner_loop(fitting.image_loss, linear_field, params, stacked, optimizer)
  one, _ = inner.inner_loop(fitting.image_loss, linear_field, params, first, optimizer, steps=1)
  two, _ = inner.inner_loop(fitting.image_loss, linear_field, one, second, optimizer, steps=1)
  np.testing.assert_allclose(adapted['w'], two['w'], rtol=1e-6)


def test_first_adam_step_moves_every_weight_by_the_learning_rate_against_its_gradient():
  # Adam's first update is -lr * g / (|g| + eps): the sign of the gradient, times lr.
  batch = _task()
  w = np.array([[0.3], [-0.2]], np.float32)
  gradient = 2.0 / 8 * batch['coords'].T @ (batch['coords'] @ w - batch['values'])
  adapted, _ = inner.inner_loop(fitting.image_loss, linear_field, {'w': jnp.asarray(w)}, batch,
                                inner.make_inner_optimizer('adam', 1e-3), steps=1)
  np.testing.assert_allclose(adapted['w'], w - 1e-3 * np.sign(gradient), atol=1e-7)


def test_bad_inner_optimizer_settings_name_the_argument():
  with pytest.raises(ValueError, match='^name must be one of sgd, adam'):
    inner.make_inner_optimizer('lamb', 1e-2)
  with pytest.raises(ValueError, match='^learning_rate must be > 0'):
    inner.make_inner_optimizer('sgd', 0.0)
