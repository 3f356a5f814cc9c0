"""siren_jax.fitting: the image loss and the field's derivatives against values worked by hand."""

import math

import jax.numpy as jnp
import numpy as np
import pytest

from siren_jax import fitting


def _plane(params, coords):
  """The field y w_y + x w_x: (N, 2) coords, params (2, 1) -> (N, 1)."""
  return coords @ params


def test_image_loss_is_the_mse_and_its_psnr_worked_by_hand():
  # Field y + 2x at (0.5, 0), (0, 0.5), (-0.5, -0.5), (0, 0): 0.5, 1.0, -1.5, 0.0. Against
  # 0.5, 0.0, -1.0, 1.0 the errors are 0, 1, -0.5, -1: MSE (0 + 1 + 0.25 + 1) / 4 = 0.5625.
  # PSNR with data range 2 ([-1, 1]): 10 log10(4 / 0.5625) = 8.5194 dB.
  coords = jnp.array([[0.5, 0.0], [0.0, 0.5], [-0.5, -0.5], [0.0, 0.0]])
  values = jnp.array([[0.5], [0.0], [-1.0], [1.0]])
  loss, aux = fitting.image_loss(jnp.array([[1.0], [2.0]]), {'coords': coords, 'values': values},
                                 _plane)
  assert float(loss) == pytest.approx(0.5625, rel=1e-6)
  assert float(aux['psnr']) == pytest.approx(10 * math.log10(4 / 0.5625), rel=1e-5)


def _two_channels(params, coords):
  """a (y^2 x, sin y + x^3) for coords (..., 2) = (y, x) and params a (scalar)."""
  y, x = coords[..., 0], coords[..., 1]
  return params * jnp.stack([y**2 * x, jnp.sin(y) + x**3], axis=-1)


@pytest.mark.parametrize('chunk_size', [3, 7, 16384])  # 7 points: 3 chunks, one, one.
def test_derivatives_are_the_closed_form_gradient_and_laplacian(chunk_size):
  # d/dy, d/dx of y^2 x: 2 y x, y^2; Laplacian 2 x. Of sin y + x^3: cos y, 3 x^2; Laplacian
  # -sin y + 6 x. All times a = 1.5.
  a = 1.5
  coords = np.random.default_rng(0).uniform(-1, 1, size=(7, 2)).astype(np.float32)
  y, x = coords[:, 0].astype(np.float64), coords[:, 1].astype(np.float64)
  grad, lap = fitting.derivatives(_two_channels, jnp.float32(a), jnp.asarray(coords),
                                  chunk_size=chunk_size)
  assert grad.shape == (7, 2, 2) and lap.shape == (7, 2)
  expected_grad = a * np.stack([np.stack([2 * y * x, y**2], -1),
                                np.stack([np.cos(y), 3 * x**2], -1)], axis=1)
  expected_lap = a * np.stack([2 * x, -np.sin(y) + 6 * x], -1)
  np.testing.assert_allclose(grad, expected_grad, atol=1e-5)
  np.testing.assert_allclose(lap, expected_lap, atol=1e-5)
