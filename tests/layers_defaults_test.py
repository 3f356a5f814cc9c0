"""The pure SIREN layer functions' defaults, against the paper's reference init bounds."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from siren_jax import layers


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
