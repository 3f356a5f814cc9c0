"""SIREN layers as ``flax.nnx`` modules, on the same initialisers and parameter layout as ``layers``.

``SineLinear`` and ``Siren`` are the NNX twins of ``layers.SineDense`` and ``layers.Siren``: each
layer is initialised by ``layers.sine_layer_init`` (or, for a linear last layer, ``nnx.Linear``
with ``layers.siren_hidden_init`` and the same bias initialiser, as the Linen ``Siren`` does) and
evaluated by ``layers.sine_layer_apply``. A ``Siren``'s ``nnx.Param`` state is therefore
``{'layer_0': {'kernel': (in, hidden), 'bias': (hidden,)}, ..., 'layer_{L-1}': ...}``, exactly
the Linen ``Siren``'s ``params`` dict, and ``nnx_params_to_list`` / ``list_params_to_nnx`` convert
losslessly to and from the pure list layout of ``layers.siren_init``.

NNX modules are eager, so the input width is a constructor argument (Linen infers it).
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
from flax import nnx

from siren_jax import layers

Array = jax.Array
DEFAULT_OMEGA0 = layers.DEFAULT_OMEGA0


class SineLinear(nnx.Module):
  """A linear layer followed by sin(omega0 * .); x: (..., in_features) -> (..., out_features).

  Params ``kernel: (in_features, out_features)`` and ``bias: (out_features,)``, initialised by
  ``layers.sine_layer_init`` (first-layer bound when ``is_first``, else the hidden bound).
  """

  def __init__(self, in_features: int, out_features: int, *, omega0: float = DEFAULT_OMEGA0,
               is_first: bool = False, zero_bias: bool = False, sine: str = 'auto',
               param_dtype: Any = jnp.float32, rngs: nnx.Rngs):
    params = layers.sine_layer_init(rngs.params(), in_features, out_features, omega0=omega0,
                                    is_first=is_first, zero_bias=zero_bias, dtype=param_dtype)
    self.kernel = nnx.Param(params['kernel'])
    self.bias = nnx.Param(params['bias'])
    self.omega0 = omega0
    self.sine = sine  # How sin is computed (``layers.sine_layer_apply``).

  def __call__(self, x: Array) -> Array:
    return layers.sine_layer_apply({'kernel': self.kernel[...], 'bias': self.bias[...]}, x,
                                   self.omega0, sine=self.sine)


class Siren(nnx.Module):
  """SIREN MLP: first sine layer, ``hidden_layers`` sine layers, last layer linear or sine.

  x: (..., in_features) coordinates in [-1, 1] -> (..., out_features). Submodules are
  ``layer_0 ... layer_{hidden_layers + 1}``, the Linen ``Siren``'s names.
  """

  def __init__(self, in_features: int, out_features: int = 1, hidden_features: int = 256,
               hidden_layers: int = 3, *, first_omega0: float = DEFAULT_OMEGA0,
               hidden_omega0: float = DEFAULT_OMEGA0, outermost_linear: bool = True,
               zero_bias: bool = False, sine: str = 'auto', param_dtype: Any = jnp.float32,
               rngs: nnx.Rngs):
    if min(in_features, out_features, hidden_features) < 1 or hidden_layers < 0:
      raise ValueError('Siren needs positive widths and hidden_layers >= 0, got '
                       f'in={in_features} out={out_features} hidden={hidden_features} '
                       f'hidden_layers={hidden_layers}')
    self.num_layers = hidden_layers + 2
    self.layer_0 = SineLinear(in_features, hidden_features, omega0=first_omega0, is_first=True,
                              zero_bias=zero_bias, sine=sine, param_dtype=param_dtype, rngs=rngs)
    for i in range(1, hidden_layers + 1):
      setattr(self, f'layer_{i}', SineLinear(
          hidden_features, hidden_features, omega0=hidden_omega0, zero_bias=zero_bias,
          sine=sine, param_dtype=param_dtype, rngs=rngs))
    last: nnx.Module
    if outermost_linear:
      bias_init = (jax.nn.initializers.zeros if zero_bias
                   else layers.uniform_bias_init(hidden_features))
      last = nnx.Linear(hidden_features, out_features,
                        kernel_init=layers.siren_hidden_init(hidden_omega0), bias_init=bias_init,
                        param_dtype=param_dtype, rngs=rngs)
    else:
      last = SineLinear(hidden_features, out_features, omega0=hidden_omega0,
                        zero_bias=zero_bias, sine=sine, param_dtype=param_dtype, rngs=rngs)
    setattr(self, f'layer_{hidden_layers + 1}', last)

  def __call__(self, x: Array) -> Array:
    for i in range(self.num_layers):
      x = getattr(self, f'layer_{i}')(x)
    return x


def nnx_params_to_list(model: Siren) -> layers.MLPParams:
  """An NNX ``Siren``'s params -> the list layout of ``layers.siren_init`` (arrays shared)."""
  return layers.flax_params_to_list(nnx.state(model, nnx.Param).to_pure_dict())


def list_params_to_nnx(params: layers.MLPParams, *, first_omega0: float = DEFAULT_OMEGA0,
                       hidden_omega0: float = DEFAULT_OMEGA0,
                       outermost_linear: bool = True) -> Siren:
  """An NNX ``Siren`` holding ``params`` (list layout, e.g. from ``siren_init``).

  The widths come from the kernels' shapes; the omegas and ``outermost_linear`` are not stored
  in params, so pass the ones the params were trained with. Use
  ``layers.flax_params_to_list`` first to load a Linen ``Siren``'s params.
  """
  if len(params) < 2:
    raise ValueError(f'a Siren has at least 2 layers, got {len(params)}')
  kernels = [layer['kernel'] for layer in params]
  in_features, hidden = kernels[0].shape
  out_features = kernels[-1].shape[1]
  dtype = kernels[0].dtype
  abstract = nnx.eval_shape(lambda: Siren(
      in_features, out_features, hidden, len(params) - 2, first_omega0=first_omega0,
      hidden_omega0=hidden_omega0, outermost_linear=outermost_linear, param_dtype=dtype,
      rngs=nnx.Rngs(0)))
  state = nnx.state(abstract, nnx.Param)
  expected = layers.flax_params_to_list(state.to_pure_dict())
  for i, (want, got) in enumerate(zip(expected, params)):
    for name in ('kernel', 'bias'):
      if tuple(want[name].shape) != tuple(got[name].shape):
        raise ValueError(f'layer {i} {name} has shape {tuple(got[name].shape)}, expected '
                         f'{tuple(want[name].shape)} for a Siren of widths '
                         f'{in_features}->{hidden}x{len(params) - 1}->{out_features}')
  state.replace_by_pure_dict(layers.list_params_to_flax(params))
  nnx.update(abstract, state)
  return abstract
