"""The pure SIREN layer functions' defaults, against the paper's reference init bounds."""

import math

import jax
import jax.numpy as jnp
import numpy as np

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
