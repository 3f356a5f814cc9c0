"""siren_jax.models.fields: defaults of the model description and of the initial params, and
the baselines' parameter layout and initialisers (PyTorch's nn.Linear bias default, as the
reference code leaves it)."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from siren_jax import baselines
from siren_jax.models import fields


def _spec(name='relu_pe', **overrides):
  kwargs = dict(out_features=1, image_side=256, hidden_features=8, hidden_layers=1,
                first_omega0=30.0, hidden_omega0=30.0, zero_bias=False)
  kwargs.update(overrides)
  return fields.field_spec(name, **kwargs)


def test_field_spec_takes_the_nyquist_rule_unless_frequencies_are_given():
  assert _spec()['num_frequencies'] == 6  # floor(log2(256 / 4)) = 6.
  assert _spec(image_side=512)['num_frequencies'] == 7
  assert _spec(num_frequencies=3)['num_frequencies'] == 3


def test_a_siren_field_keeps_the_reference_uniform_biases_by_default():
  model = fields.make_field_model('siren', out_features=1, hidden_features=256, hidden_layers=1)
  params = fields.init_params(model, jax.random.PRNGKey(0))
  bias = np.asarray(params['layer_0']['bias'])  # fan_in 2: U(-1/sqrt(2), 1/sqrt(2)).
  bound = 1 / math.sqrt(2)
  # 256 draws: the largest |b| is within 2% of the bound with probability 1 - 0.98^256 > 0.99.
  assert bound * 0.98 < np.abs(bias).max() <= bound


def test_init_params_stacks_independent_copies_only_when_asked():
  model = fields.make_field_model('siren', out_features=3, hidden_features=8, hidden_layers=1)
  key = jax.random.PRNGKey(0)
  one = fields.init_params(model, key)
  assert one['layer_0']['kernel'].shape == (2, 8)  # 2-D coordinates in.
  assert one['layer_2']['kernel'].shape == (8, 3)
  # Exactly the parameters of model.init with the same key.
  eager = model.init(key, jnp.zeros((1, 2)))['params']
  for got, want in zip(jax.tree.leaves(one), jax.tree.leaves(eager)):
    np.testing.assert_array_equal(np.asarray(got), np.asarray(want))
  stacked = fields.init_params(model, key, num_tiles=3)
  assert stacked['layer_0']['kernel'].shape == (3, 2, 8)
  kernels = np.asarray(stacked['layer_0']['kernel'])
  assert not np.array_equal(kernels[0], kernels[1])  # One key per tile.
  # Tile t holds the parameters of model.init with the t-th of split(key, 3).
  third = model.init(jax.random.split(key, 3)[2], jnp.zeros((1, 2)))['params']
  np.testing.assert_array_equal(kernels[2], np.asarray(third['layer_0']['kernel']))
  with pytest.raises(ValueError, match='num_tiles must be >= 0'):
    fields.init_params(model, key, num_tiles=-1)


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
