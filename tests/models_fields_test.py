"""siren_jax.models.fields: the model description's defaults, every field model by name, and
the initial params (the reference code's uniform biases, one key per tile)."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

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


def test_function_spec_keeps_only_the_fields_the_model_computes_with():
  shared = {'out_features': 1, 'hidden_features': 8, 'hidden_layers': 1,
            'compute_dtype': 'float32'}
  assert fields.function_spec(_spec('siren')) == {
      'name': 'siren', **shared, 'first_omega0': 30.0, 'hidden_omega0': 30.0}
  assert fields.function_spec(_spec('relu_pe')) == {
      'name': 'relu_pe', **shared, 'num_frequencies': 6}
  assert fields.function_spec(_spec('tanh')) == {'name': 'tanh', **shared}
  # A spec stored before compute_dtype existed meant float32.
  old = {k: v for k, v in _spec('relu').items() if k != 'compute_dtype'}
  assert fields.function_spec(old) == {'name': 'relu', **shared}


@pytest.mark.parametrize('name', fields.FIELD_MODELS)
def test_specs_with_one_function_spec_compute_one_function_from_the_same_params(name):
  """What a learned init relies on: two specs that function_spec calls equal give the same
  outputs from the same params; a field it keeps changes them (or the params' shapes)."""
  base = _spec(name)
  coords = jax.random.uniform(jax.random.PRNGKey(1), (64, 2), minval=-1, maxval=1)
  params = fields.init_params(fields.make_field_model(**base), jax.random.PRNGKey(0))
  base_out = fields.make_field_model(**base).apply({'params': params}, coords)
  for change in ({'zero_bias': True}, {'num_frequencies': 3}, {'first_omega0': 10.0},
                 {'hidden_omega0': 10.0}):
    other = {**base, **change}
    model = fields.make_field_model(**other)
    shapes = jax.tree.map(np.shape, fields.init_params(model, jax.random.PRNGKey(0)))
    same_shapes = shapes == jax.tree.map(np.shape, params)
    out = model.apply({'params': params}, coords) if same_shapes else None
    if fields.function_spec(other) == fields.function_spec(base):
      np.testing.assert_array_equal(out, base_out, err_msg=f'{name} {change}')
    else:
      assert out is None or not np.allclose(out, base_out), f'{name} {change}'


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


@pytest.mark.parametrize('name', fields.FIELD_MODELS)
def test_every_field_model_maps_coordinates_to_channels(name):
  model = fields.make_field_model(name, out_features=3, hidden_features=16, hidden_layers=2)
  x = jnp.zeros((5, 2))
  assert model.apply(model.init(jax.random.PRNGKey(0), x), x).shape == (5, 3)


def test_unknown_field_model_is_a_clear_error():
  with pytest.raises(ValueError, match='unknown model'):
    fields.make_field_model('gelu', out_features=1)
