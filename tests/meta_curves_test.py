"""PSNR against test-time steps: step 0 is the init's own render, later steps follow the
optimiser's updates (SGD on a linear field, worked by hand)."""

import jax.numpy as jnp
import numpy as np
import optax

from siren_jax.meta import curves


def linear_field(params, coords):
  return coords @ params['w']


def test_curve_matches_hand_computed_sgd_fits():
  rng = np.random.default_rng(0)
  x = rng.uniform(-1, 1, (16, 2)).astype(np.float32)
  y = rng.uniform(-0.5, 0.5, (16, 1)).astype(np.float32)
  w = np.zeros((2, 1))
  expected = []
  for _ in range(4):  # PSNR of [-1, 1] values: 10 log10(4 / mse).
    residual = x.astype(np.float64) @ w - y
    expected.append(10 * np.log10(4 / np.mean(residual ** 2)))
    w = w - 0.3 * 2.0 / 16 * x.T @ residual
  curve = curves.psnr_curve(linear_field, {'w': jnp.zeros((2, 1))}, x, y, optax.sgd(0.3), 3)
  np.testing.assert_allclose(curve, expected, rtol=1e-5)


def test_steps_to_reach_is_the_first_step_at_or_above_the_target():
  assert curves.steps_to_reach([10.0, 20.0, 30.0, 25.0], 25.0) == 2
  assert curves.steps_to_reach([10.0, 20.0], 20.0) == 1
  assert curves.steps_to_reach([10.0, 20.0], 21.0) is None
