"""Coordinate-field models (coords -> values) selected by name: SIREN and the Fig. 1 baselines."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from siren_jax import baselines, layers, names

FIELD_MODELS = names.FIELD_MODELS
COMPUTE_DTYPES = names.COMPUTE_DTYPES
# Hyperparameters added after specs were first saved, with the value a spec without them meant.
SPEC_DEFAULTS = {'compute_dtype': 'float32'}


def make_field_model(name: str, *, out_features: int, hidden_features: int = 256,
                     hidden_layers: int = 3, first_omega0: float = layers.DEFAULT_OMEGA0,
                     hidden_omega0: float = layers.DEFAULT_OMEGA0, num_frequencies: int = 6,
                     zero_bias: bool = False, compute_dtype: str = 'float32',
                     sine: str = 'auto') -> nn.Module:
  """Builds a coordinate network; every model maps (..., d) coordinates to (..., out_features).

  Args:
    name: one of ``FIELD_MODELS``.
    out_features: output channels (1 grey, 3 RGB).
    hidden_features: width of the hidden layers.
    hidden_layers: number of hidden (width -> width) layers.
    first_omega0, hidden_omega0, zero_bias: SIREN only.
    num_frequencies: ReLU+PE only: frequencies of the positional encoding.
    compute_dtype: 'float32' or 'bfloat16': the hidden layers' matmuls from bfloat16 operands
      with float32 accumulation (``layers`` module docstring); parameters stay float32.
    sine: SIREN only: how sin is computed ('auto', 'fast_sine', 'jnp';
      ``layers.sine_layer_apply``). Not part of a spec: it changes speed, not the model.
  """
  layers.check_compute_dtype(compute_dtype)
  if name == 'siren':
    return layers.Siren(out_features=out_features, hidden_features=hidden_features,
                        hidden_layers=hidden_layers, first_omega0=first_omega0,
                        hidden_omega0=hidden_omega0, zero_bias=zero_bias,
                        compute_dtype=compute_dtype, sine=sine)
  if name == 'relu':
    return baselines.ReluMLP(out_features, hidden_features, hidden_layers, compute_dtype)
  if name == 'tanh':
    return baselines.TanhMLP(out_features, hidden_features, hidden_layers, compute_dtype)
  if name == 'relu_pe':
    return baselines.ReluPEMLP(out_features, hidden_features, hidden_layers, num_frequencies,
                               compute_dtype)
  raise ValueError(f'unknown model {name!r}; choose from {", ".join(FIELD_MODELS)}')


def field_spec(name: str, *, out_features: int, image_side: int, hidden_features: int,
               hidden_layers: int, first_omega0: float, hidden_omega0: float, zero_bias: bool,
               num_frequencies: int = 0, compute_dtype: str = 'float32') -> dict[str, Any]:
  """The one serialisable description of a field model: ``make_field_model``'s keyword
  arguments, as stored in ``.inr`` files and checkpoint records.

  ``num_frequencies=0`` means the reference's Nyquist rule for an image of ``image_side``
  pixels along its longer side (``baselines.nyquist_num_frequencies``). Raises ValueError for an
  unknown model name (the spec is checked by building the model once).
  """
  spec: dict[str, Any] = {'name': name, 'out_features': int(out_features),
          'hidden_features': int(hidden_features), 'hidden_layers': int(hidden_layers),
          'first_omega0': float(first_omega0), 'hidden_omega0': float(hidden_omega0),
          'zero_bias': bool(zero_bias),
          'num_frequencies': int(num_frequencies or baselines.nyquist_num_frequencies(image_side)),
          'compute_dtype': str(compute_dtype)}
  make_field_model(**spec)
  return spec


def read_spec(spec: Mapping[str, Any]) -> dict[str, Any]:
  """A stored spec (``.inr`` file, run fingerprint) with the hyperparameters older versions did
  not store filled in with what they meant (``SPEC_DEFAULTS``: compute_dtype 'float32')."""
  return {**SPEC_DEFAULTS, **spec}


# The spec fields each model's function depends on besides name, out_features, hidden_features,
# hidden_layers and compute_dtype.
_FUNCTION_FIELDS = {'siren': ('first_omega0', 'hidden_omega0'), 'relu': (), 'tanh': (),
                    'relu_pe': ('num_frequencies',)}
_SHARED_FIELDS = ('name', 'out_features', 'hidden_features', 'hidden_layers', 'compute_dtype')


def function_spec(spec: Mapping[str, Any]) -> dict[str, Any]:
  """The fields of a spec that define the function given parameters compute (what a learned
  init must match): without those the model ignores (a SIREN's ``num_frequencies``, which
  ``field_spec`` fills from the image size; a ReLU's omega0s) and ``zero_bias``, which only
  shapes a random init. An unknown model keeps every field."""
  spec = read_spec(spec)
  kept = _FUNCTION_FIELDS.get(str(spec.get('name')))
  if kept is None:
    return spec
  return {k: v for k, v in spec.items() if k in _SHARED_FIELDS or k in kept}


def init_params(model: nn.Module, key: jax.Array, num_tiles: int = 0) -> Any:
  """Initial params of a field model on 2-D coordinates; ``num_tiles`` > 0: that many
  independent copies (one key each) stacked on a leading axis (``siren_jax.tiling``)."""
  sample = jnp.zeros((1, 2), jnp.float32)
  init = lambda k: model.init(k, sample)['params']  # noqa: E731
  if num_tiles < 0:
    raise ValueError(f'num_tiles must be >= 0, got {num_tiles}')
  return jax.vmap(init)(jax.random.split(key, num_tiles)) if num_tiles else init(key)
