"""Coordinate-field models (coords -> values) selected by name: SIREN and the Fig. 1 baselines."""

from __future__ import annotations

import flax.linen as nn

from siren_jax import baselines, layers

FIELD_MODELS = ('siren', 'relu', 'tanh', 'relu_pe')


def make_field_model(name: str, *, out_features: int, hidden_features: int = 256,
                     hidden_layers: int = 3, first_omega0: float = layers.DEFAULT_OMEGA0,
                     hidden_omega0: float = layers.DEFAULT_OMEGA0, num_frequencies: int = 6,
                     zero_bias: bool = False) -> nn.Module:
  """Builds a coordinate network; every model maps (..., d) coordinates to (..., out_features).

  Args:
    name: one of ``FIELD_MODELS``.
    out_features: output channels (1 grey, 3 RGB).
    hidden_features: width of the hidden layers.
    hidden_layers: number of hidden (width -> width) layers.
    first_omega0, hidden_omega0, zero_bias: SIREN only.
    num_frequencies: ReLU+PE only: frequencies of the positional encoding.
  """
  if name == 'siren':
    return layers.Siren(out_features=out_features, hidden_features=hidden_features,
                        hidden_layers=hidden_layers, first_omega0=first_omega0,
                        hidden_omega0=hidden_omega0, zero_bias=zero_bias)
  if name == 'relu':
    return baselines.ReluMLP(out_features, hidden_features, hidden_layers)
  if name == 'tanh':
    return baselines.TanhMLP(out_features, hidden_features, hidden_layers)
  if name == 'relu_pe':
    return baselines.ReluPEMLP(out_features, hidden_features, hidden_layers, num_frequencies)
  raise ValueError(f'unknown model {name!r}; choose from {", ".join(FIELD_MODELS)}')
