"""SIREN layers: initialisation statistics from the paper, Flax/pure agreement, reuse on Conv."""

import math

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import optimize

from siren_jax import baselines, layers
from siren_jax.models import fields


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


def test_positional_encoding_layout():
  x = jnp.array([[0.5, -0.25]])
  enc = baselines.positional_encoding(x, 3)
  assert enc.shape == (1, 2 * (1 + 2 * 3))
  np.testing.assert_allclose(enc[0, 2:4], jnp.sin(jnp.pi * x[0]), atol=1e-6)
  assert baselines.nyquist_num_frequencies(256) == 6


@pytest.mark.parametrize('name', fields.FIELD_MODELS)
def test_every_field_model_maps_coordinates_to_channels(name):
  model = fields.make_field_model(name, out_features=3, hidden_features=16, hidden_layers=2)
  x = jnp.zeros((5, 2))
  assert model.apply(model.init(jax.random.PRNGKey(0), x), x).shape == (5, 3)


def test_unknown_field_model_is_a_clear_error():
  with pytest.raises(ValueError, match='unknown model'):
    fields.make_field_model('gelu', out_features=1)
