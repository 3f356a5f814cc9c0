"""The Flax SIREN modules and the positional encoding against references written out here.

Each test pins a number to something independent of the module under test: the init bounds of
the paper's reference code, a float64 NumPy forward pass, or values worked by hand.
"""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from siren_jax import baselines, layers


def _uniform_with_bound(values, bound):
  """values look like U(-bound, bound): inside it, reaching it, with its standard deviation."""
  values = np.asarray(values, np.float64).ravel()
  assert np.abs(values).max() <= bound
  assert np.abs(values).max() > 0.9 * bound  # Uses the whole range, not a smaller one.
  np.testing.assert_allclose(values.std(), bound / math.sqrt(3), rtol=0.1)


def test_flax_siren_initialises_every_layer_as_the_reference_code():
  # Wide enough (64 x 64 kernels, 64 biases) for the bounds to be measured, not just obeyed.
  fan_in0, width, out, w0_first, w0_hidden = 3, 64, 64, 20.0, 10.0
  model = layers.Siren(out_features=out, hidden_features=width, hidden_layers=2,
                       first_omega0=w0_first, hidden_omega0=w0_hidden)
  params = model.init(jax.random.PRNGKey(0), jnp.zeros((1, fan_in0)))['params']
  assert sorted(params) == ['layer_0', 'layer_1', 'layer_2', 'layer_3']
  # First layer: U(+-1/fan_in), whatever omega0.
  _uniform_with_bound(params['layer_0']['kernel'], 1.0 / fan_in0)
  # Hidden AND last (linear) layer: U(+-sqrt(6/fan_in)/omega0_hidden) = sqrt(6/64)/10.
  for name in ('layer_1', 'layer_2', 'layer_3'):
    _uniform_with_bound(params[name]['kernel'], math.sqrt(6.0 / width) / w0_hidden)
  # Biases: PyTorch's nn.Linear default U(+-1/sqrt(fan_in)) with the layer's own fan-in.
  _uniform_with_bound(params['layer_0']['bias'], 1.0 / math.sqrt(fan_in0))
  for name in ('layer_1', 'layer_2', 'layer_3'):
    _uniform_with_bound(params[name]['bias'], 1.0 / math.sqrt(width))


def test_sine_dense_bias_bound_comes_from_the_fan_in_not_the_fan_out():
  fan_in, features = 16, 1024  # Fan-out bound would be 1/32 instead of 1/4.
  params = layers.SineDense(features).init(jax.random.PRNGKey(1), jnp.zeros((1, fan_in)))
  _uniform_with_bound(params['params']['bias'], 1.0 / math.sqrt(fan_in))
  zero = layers.SineDense(features, zero_bias=True).init(jax.random.PRNGKey(1),
                                                         jnp.zeros((1, fan_in)))
  np.testing.assert_array_equal(zero['params']['bias'], 0.0)


def _numpy_siren(params, x, first_omega0, hidden_omega0, outermost_linear):
  """float64 forward pass written from the paper: sin(omega0 (x W + b)) per layer."""
  h = np.asarray(x, np.float64)
  names = sorted(params, key=lambda n: int(n.split('_')[1]))
  for i, name in enumerate(names):
    kernel = np.asarray(params[name]['kernel'], np.float64)
    bias = np.asarray(params[name]['bias'], np.float64)
    z = h @ kernel + bias
    if i == len(names) - 1 and outermost_linear:
      return z
    h = np.sin((first_omega0 if i == 0 else hidden_omega0) * z)
  return h


@pytest.mark.parametrize('outermost_linear', [True, False])
def test_flax_siren_matches_a_numpy_forward_pass(outermost_linear):
  model = layers.Siren(out_features=3, hidden_features=24, hidden_layers=2, first_omega0=20.0,
                       hidden_omega0=5.0, outermost_linear=outermost_linear)
  x = jax.random.uniform(jax.random.PRNGKey(2), (33, 2), minval=-1, maxval=1)
  params = model.init(jax.random.PRNGKey(0), x)['params']
  expected = _numpy_siren(params, x, 20.0, 5.0, outermost_linear)
  np.testing.assert_allclose(model.apply({'params': params}, x), expected, atol=2e-5)
  pure = layers.siren_apply(layers.flax_params_to_list(params), x, first_omega0=20.0,
                            hidden_omega0=5.0, outermost_linear=outermost_linear)
  np.testing.assert_allclose(pure, expected, atol=2e-5)
  if not outermost_linear:
    # A sine last layer: the linear output would leave [-1, 1] for these weights.
    linear = _numpy_siren(params, x, 20.0, 5.0, True)
    assert np.abs(linear - expected).max() > 0.1


def test_positional_encoding_values_worked_by_hand():
  # x = (0.5, -0.25), 2 frequencies; layout [x, (sin, cos) of 2^k pi x for k = 0, 1]:
  #   k=0: sin(pi/2) = 1, sin(-pi/4) = -r, cos(pi/2) = 0, cos(-pi/4) = r     (r = sqrt(2)/2)
  #   k=1: sin(pi) = 0,   sin(-pi/2) = -1, cos(pi) = -1,  cos(-pi/2) = 0
  r = math.sqrt(2) / 2
  expected = [0.5, -0.25, 1, -r, 0, r, 0, -1, -1, 0]
  enc = baselines.positional_encoding(jnp.array([[0.5, -0.25]]), 2)
  np.testing.assert_allclose(enc[0], expected, atol=1e-6)


@pytest.mark.parametrize('samples, expected', [(4, 1), (8, 1), (16, 2), (255, 5), (256, 6),
                                               (512, 7)])
def test_nyquist_frequencies_are_floor_log2_of_a_quarter_of_the_samples(samples, expected):
  # floor(log2(n / 4)): 16 -> 2, 255 -> floor(5.99) = 5, 256 -> 6; under 8 samples -> 1.
  assert baselines.nyquist_num_frequencies(samples) == expected
