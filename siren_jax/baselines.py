"""Baseline coordinate networks of the paper's Fig. 1: ReLU, tanh and ReLU + positional encoding.

Initialisation follows the reference code: He-normal kernels for ReLU, Glorot-normal for tanh,
PyTorch-default uniform biases (``layers.uniform_bias_init``) for both.

``compute_dtype`` is the precision policy of ``layers`` (module docstring there): 'bfloat16'
computes the hidden (width -> width) matmuls from bfloat16 operands with float32 accumulation
(``layers.mixed_dot_general``); the first layer, the last layer and the encoding stay float32.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import flax.linen as nn
import jax
import jax.numpy as jnp

from siren_jax import layers

Array = jax.Array


def nyquist_num_frequencies(samples: int) -> int:
  """Frequencies of the reference's NeRF encoding for ``samples`` pixels per axis: log2(n/4)."""
  if samples < 8:
    return 1
  return max(1, int(math.floor(math.log2(samples / 4))))


def positional_encoding(x: Array, num_frequencies: int) -> Array:
  """NeRF-style encoding [x, sin(2^k pi x), cos(2^k pi x)] for k < num_frequencies.

  x: (..., d) coordinates in [-1, 1] -> (..., d * (1 + 2 * num_frequencies)).
  """
  freqs = (2.0 ** jnp.arange(num_frequencies, dtype=x.dtype)) * jnp.pi  # (L,)
  angles = x[..., None, :] * freqs[:, None]  # (..., L, d)
  features = jnp.stack([jnp.sin(angles), jnp.cos(angles)], axis=-2)  # (..., L, 2, d)
  return jnp.concatenate([x, features.reshape(*x.shape[:-1], -1)], axis=-1)


class _ActivationMLP(nn.Module):
  """Dense layers with a fixed activation between them and a linear last layer."""

  out_features: int
  hidden_features: int
  hidden_layers: int
  activation: Callable[[Array], Array]
  kernel_init: Callable
  compute_dtype: str = 'float32'

  @nn.compact
  def __call__(self, x: Array) -> Array:
    layers.check_compute_dtype(self.compute_dtype)
    mixed = self.compute_dtype == 'bfloat16'
    for i in range(self.hidden_layers + 1):
      # nn.Dense's own dtype='bfloat16' would also round its output to bfloat16; a dot_general
      # with a float32 preferred type keeps the accumulation and the result in float32.
      dot = layers.mixed_dot_general if mixed and i > 0 else jax.lax.dot_general
      x = nn.Dense(self.hidden_features, kernel_init=self.kernel_init,
                   bias_init=layers.uniform_bias_init(x.shape[-1]), dot_general=dot,
                   name=f'layer_{i}')(x)
      x = self.activation(x)
    return nn.Dense(self.out_features, kernel_init=self.kernel_init,
                    bias_init=layers.uniform_bias_init(x.shape[-1]),
                    name=f'layer_{self.hidden_layers + 1}')(x)


class ReluMLP(nn.Module):
  """ReLU MLP, same depth convention as ``layers.Siren``; (..., in) -> (..., out)."""

  out_features: int = 1
  hidden_features: int = 256
  hidden_layers: int = 3
  compute_dtype: str = 'float32'

  @nn.compact
  def __call__(self, x: Array) -> Array:
    return _ActivationMLP(self.out_features, self.hidden_features, self.hidden_layers,
                          nn.relu, nn.initializers.he_normal(), self.compute_dtype, name='mlp')(x)


class TanhMLP(nn.Module):
  """tanh MLP, same depth convention as ``layers.Siren``; (..., in) -> (..., out)."""

  out_features: int = 1
  hidden_features: int = 256
  hidden_layers: int = 3
  compute_dtype: str = 'float32'

  @nn.compact
  def __call__(self, x: Array) -> Array:
    return _ActivationMLP(self.out_features, self.hidden_features, self.hidden_layers,
                          jnp.tanh, nn.initializers.glorot_normal(), self.compute_dtype, name='mlp')(x)


class ReluPEMLP(nn.Module):
  """ReLU MLP on a positional (Fourier) encoding of the coordinates; (..., in) -> (..., out)."""

  out_features: int = 1
  hidden_features: int = 256
  hidden_layers: int = 3
  num_frequencies: int = 6
  compute_dtype: str = 'float32'

  @nn.compact
  def __call__(self, x: Array) -> Array:
    return ReluMLP(self.out_features, self.hidden_features, self.hidden_layers,
                   self.compute_dtype, name='relu')(positional_encoding(x, self.num_frequencies))
