"""siren_jax.layers: the pure functions and Flax modules against the paper's reference code.

Initialisation bounds and statistics of the reference code (first layer U(+-1/fan_in),
hidden and last layers U(+-sqrt(6/fan_in)/omega0), biases U(+-1/sqrt(fan_in))), a float64
NumPy forward pass, the Flax / pure agreement and the initialisers on Conv kernels.
"""

import math

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import optimize

from siren_jax import layers


def _bound_is_tight(values, bound):
  values = np.asarray(values)
  assert np.abs(values).max() <= bound
  assert np.abs(values).max() > 0.98 * bound  # Uses the whole range: uniform, not smaller.
  np.testing.assert_allclose(values.std(), bound / math.sqrt(3), rtol=0.05)


@pytest.mark.parametrize('omega0', [30.0, 1.0, 1.0 / 30.0])
def test_siren_init_matches_paper_bounds_per_layer(omega0):
  sizes = [2, 256, 256, 256, 1]
  params = layers.siren_init(jax.random.PRNGKey(0), sizes, hidden_omega0=omega0)
  assert [p['kernel'].shape for p in params] == [(2, 256), (256, 256), (256, 256), (256, 1)]
  _bound_is_tight(params[0]['kernel'], 1.0 / 2)
  for layer in params[1:3]:
    _bound_is_tight(layer['kernel'], math.sqrt(6.0 / 256) / omega0)
    _bound_is_tight(layer['bias'], 1.0 / math.sqrt(256))  # PyTorch's nn.Linear default.
  assert np.abs(params[3]['kernel']).max() <= math.sqrt(6.0 / 256) / omega0


def test_zero_bias_switch():
  params = layers.siren_init(jax.random.PRNGKey(0), [2, 8, 1], zero_bias=True)
  assert all(float(jnp.abs(p['bias']).max()) == 0.0 for p in params)


@pytest.mark.parametrize('bad', [0.0, -1.0])
def test_non_positive_omega0_is_rejected(bad):
  with pytest.raises(ValueError, match='omega0'):
    layers.siren_hidden_init(bad)


def _stationary_preactivation_std(bias_variance: float) -> float:
  """Fixed point of the pre-activation variance v of a deep SIREN layer.

  With pre-activations z ~ N(0, v), sin(z) has variance (1 - exp(-2v)) / 2; the hidden init
  gives omega0 * W x a variance fan_in * Var(sin) * 2 / fan_in = 1 - exp(-2v); the bias adds
  omega0^2 / (3 fan_in).
  """
  v = optimize.brentq(lambda v: 1 - math.exp(-2 * v) + bias_variance - v, 0.1, 10.0)
  return math.sqrt(v)


@pytest.mark.parametrize('zero_bias', [True, False])
def test_hidden_preactivations_stay_normal_like_at_depth(zero_bias):
  width, depth, omega0 = 256, 8, 30.0
  params = layers.siren_init(jax.random.PRNGKey(0), [2] + [width] * depth + [1],
                             zero_bias=zero_bias)
  x = jax.random.uniform(jax.random.PRNGKey(1), (8192, 2), minval=-1.0, maxval=1.0)
  h = layers.sine_layer_apply(params[0], x, omega0)
  expected = _stationary_preactivation_std(0.0 if zero_bias else omega0**2 / (3 * width))
  stds = []
  for layer in params[1:-1]:
    z = np.asarray(omega0 * (h @ layer['kernel'] + layer['bias']))
    stds.append(z.std())
    assert abs(z.mean()) < 0.2
    # Normal-like over the inputs (each unit centred on its own bias offset): kurtosis near 3
    # and ~68% of the mass within one standard deviation.
    centred = z - z.mean(axis=0)
    standardised = centred / centred.std()
    assert 2.5 < np.mean(standardised**4) < 3.5
    assert 0.62 < np.mean(np.abs(standardised) < 1) < 0.74
    h = jnp.sin(z)
  np.testing.assert_allclose(stds[2:], expected, rtol=0.1)  # No drift with depth.
  if zero_bias:
    assert 0.8 < expected < 1.0  # ~N(0, 1) as in the paper (the arcsine idealisation gives 1).


def test_flax_siren_and_pure_functions_agree():
  model = layers.Siren(out_features=3, hidden_features=32, hidden_layers=2, first_omega0=20.0,
                       hidden_omega0=10.0)
  x = jax.random.uniform(jax.random.PRNGKey(2), (17, 2), minval=-1, maxval=1)
  params = model.init(jax.random.PRNGKey(0), x)['params']
  as_list = layers.flax_params_to_list(params)
  assert [p['kernel'].shape for p in as_list] == [(2, 32), (32, 32), (32, 32), (32, 3)]
  pure = layers.siren_apply(as_list, x, first_omega0=20.0, hidden_omega0=10.0)
  np.testing.assert_allclose(model.apply({'params': params}, x), pure, rtol=1e-5, atol=1e-6)
  round_trip = layers.list_params_to_flax(as_list)
  np.testing.assert_allclose(model.apply({'params': round_trip}, x), pure, rtol=1e-5, atol=1e-6)
  # Same initialisers as the pure path: the Flax first layer obeys the 1/fan_in bound.
  assert float(jnp.abs(params['layer_0']['kernel']).max()) <= 0.5


def test_initialisers_work_on_conv_kernels():
  omega0 = 1.0 / 30.0
  conv = nn.Conv(8, (3, 3), kernel_init=layers.siren_hidden_init(omega0),
                 bias_init=layers.uniform_bias_init(3 * 3 * 4))
  params = conv.init(jax.random.PRNGKey(0), jnp.zeros((1, 16, 16, 4)))['params']
  kernel = params['kernel']
  assert kernel.shape == (3, 3, 4, 8)
  assert float(jnp.abs(kernel).max()) <= math.sqrt(6.0 / 36) / omega0
  first = nn.Conv(8, (3, 3), kernel_init=layers.siren_first_layer_init())
  k = first.init(jax.random.PRNGKey(1), jnp.zeros((1, 8, 8, 4)))['params']['kernel']
  assert float(jnp.abs(k).max()) <= 1.0 / 36


def test_sine_layer_init_defaults_to_a_hidden_layer_with_uniform_biases():
  # Reference code: a layer that is not the first has W ~ U(+-sqrt(6/fan_in)/omega0) with
  # omega0 = 30, i.e. sqrt(6/64)/30 = 0.0102 here (the first-layer bound would be 1/64 = 0.0156),
  # and PyTorch's default bias U(+-1/sqrt(fan_in)) = U(+-1/8).
  params = layers.sine_layer_init(jax.random.PRNGKey(0), 64, 256)
  kernel, bias = np.abs(np.asarray(params['kernel'])), np.abs(np.asarray(params['bias']))
  bound = math.sqrt(6.0 / 64) / 30.0
  assert 0.98 * bound < kernel.max() <= bound  # 16384 draws: the bound is reached.
  assert 0.98 / 8 < bias.max() <= 1 / 8
  assert params['kernel'].dtype == jnp.float32 and params['kernel'].shape == (64, 256)


def test_siren_kernel_init_defaults_to_a_hidden_layer():
  # sqrt(6/64)/30 = 0.0102 for a hidden layer; a first layer's bound would be 1/64 = 0.0156.
  kernel = np.abs(np.asarray(layers.siren_kernel_init()(jax.random.PRNGKey(1), (64, 256))))
  bound = math.sqrt(6.0 / 64) / 30.0
  assert 0.98 * bound < kernel.max() <= bound


def test_uniform_bias_init_takes_a_fan_in_of_one_and_refuses_zero():
  bias = np.abs(np.asarray(layers.uniform_bias_init(1)(jax.random.PRNGKey(2), (4096,))))
  assert 0.98 < bias.max() <= 1.0  # U(-1, 1): 1/sqrt(1).
  with pytest.raises(ValueError, match='fan_in must be >= 1, got 0'):
    layers.uniform_bias_init(0)


def test_siren_init_takes_a_single_layer_and_refuses_fewer_or_empty_widths():
  (layer,) = layers.siren_init(jax.random.PRNGKey(3), [2, 1])  # One linear layer, the first.
  assert layer['kernel'].shape == (2, 1)
  assert np.abs(np.asarray(layer['kernel'])).max() <= 1 / 2  # First-layer bound 1/fan_in.
  for sizes in ([2], [2, 0, 1]):
    with pytest.raises(ValueError, match='at least 2 positive widths'):
      layers.siren_init(jax.random.PRNGKey(3), sizes)


def test_sine_dense_fan_in_is_the_last_input_axis_for_any_leading_axes():
  x = jnp.ones((2, 5, 3))  # (batch, points, in): the fan-in is 3, not 5.
  params = layers.SineDense(4).init(jax.random.PRNGKey(4), x)
  assert params['params']['kernel'].shape == (3, 4)
  assert layers.SineDense(4).apply(params, x).shape == (2, 5, 4)


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
