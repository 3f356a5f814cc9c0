"""siren_jax.baselines: the positional encoding worked by hand, its Nyquist rule, and the
ReLU / tanh / ReLU+PE fields' layer layout and PyTorch nn.Linear bias bounds."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from siren_jax import baselines
from siren_jax.models import fields


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


def test_positional_encoding_layout():
  x = jnp.array([[0.5, -0.25]])
  enc = baselines.positional_encoding(x, 3)
  assert enc.shape == (1, 2 * (1 + 2 * 3))
  np.testing.assert_allclose(enc[0, 2:4], jnp.sin(jnp.pi * x[0]), atol=1e-6)
  assert baselines.nyquist_num_frequencies(256) == 6


@pytest.mark.parametrize('name', ['relu', 'tanh', 'relu_pe'])
def test_baselines_have_the_siren_layer_layout_and_pytorch_bias_bounds(name):
  model = fields.make_field_model(name, out_features=256, hidden_features=64, hidden_layers=2)
  params = fields.init_params(model, jax.random.PRNGKey(1))
  (inner,) = params.values()  # One wrapper level: 'mlp' (relu, tanh) or 'relu' -> 'mlp'.
  if name == 'relu_pe':
    (inner,) = inner.values()
  # Same depth convention as layers.Siren: layer_0 .. layer_{hidden_layers + 1}.
  assert sorted(inner) == ['layer_0', 'layer_1', 'layer_2', 'layer_3']
  # The last layer (fan_in 64, 256 outputs): bias ~ U(-1/8, 1/8), tight at 256 draws.
  last = np.abs(np.asarray(inner['layer_3']['bias']))
  assert 0.98 / 8 < last.max() <= 1 / 8
  hidden = np.abs(np.asarray(inner['layer_1']['bias']))  # fan_in 64, 64 draws.
  assert 0.9 / 8 < hidden.max() <= 1 / 8


@pytest.mark.parametrize('name', ['relu', 'tanh', 'relu_pe'])
def test_baselines_map_any_leading_axes_pointwise(name):
  model = fields.make_field_model(name, out_features=2, hidden_features=16, hidden_layers=1)
  params = fields.init_params(model, jax.random.PRNGKey(2))
  x = jax.random.uniform(jax.random.PRNGKey(3), (2, 3, 2), minval=-1, maxval=1)
  flat = model.apply({'params': params}, x.reshape(6, 2))
  np.testing.assert_allclose(model.apply({'params': params}, x), flat.reshape(2, 3, 2),
                             atol=1e-6)
  # Initialised on a (1, 1, 2) sample: the same fan-ins, hence the same parameters.
  again = model.init(jax.random.PRNGKey(2), jnp.zeros((1, 1, 2)))['params']
  jax.tree.map(np.testing.assert_array_equal, again, params)


def test_positional_encoding_of_any_leading_axes_is_pointwise():
  x = jax.random.uniform(jax.random.PRNGKey(4), (2, 3, 2), minval=-1, maxval=1)
  np.testing.assert_allclose(baselines.positional_encoding(x, 3),
                             baselines.positional_encoding(x.reshape(6, 2), 3).reshape(2, 3, -1),
                             atol=1e-6)
