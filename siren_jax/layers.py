"""SIREN layers: initialisers, pure ``init``/``apply`` functions and Flax modules.

A sine layer computes ``sin(omega0 * (x @ kernel + bias))``; omega0 multiplies the whole
pre-activation, bias included, as in the reference code (Sitzmann et al. 2020).

Initialisation (paper Sec. 3.2 and reference code):
  * first layer kernel  ~ U(-1/fan_in, 1/fan_in)
  * other layer kernels ~ U(-sqrt(6/fan_in)/omega0, sqrt(6/fan_in)/omega0)
  * biases              ~ U(-1/sqrt(fan_in), 1/sqrt(fan_in))  (PyTorch's nn.Linear default,
    which the reference keeps), or zeros when ``zero_bias=True``.

The kernel initialisers are ordinary Flax/JAX initialisers ``(key, shape, dtype) -> Array`` and
compute fan_in from all but the last kernel axis, so they work unchanged on ``nn.Dense``
(``(in, out)``) and ``nn.Conv`` (``(kh, kw, in, out)``) kernels.

The pure functions and the Flax modules use the same parameter layout: a layer is
``{'kernel': (fan_in, fan_out), 'bias': (fan_out,)}``; the pure MLP is a list of layers and the
Flax ``Siren`` stores them as ``params['layer_0'] ... params['layer_{L-1}']``.

Precision policy (``compute_dtype``): 'float32' computes everything in float32. 'bfloat16' is
mixed precision for the matrix units: the hidden layers' matmuls round their operands to
bfloat16 and accumulate and return float32 (``matmul``); the first layer (omega0 times the
coordinates: a rounded coordinate is a phase error), the last layer, the bias, omega0, the sine
and everything outside the model (loss, optimiser state) stay float32, and so do the parameters.
Autodiff goes through the same casts: forward-mode tangents (``diffops``) are float32-accumulated
bfloat16 products at every order. Reverse mode gets the gradients of the rounded network; JAX
transposes each hidden product into two products of the float32 cotangent with a bfloat16
operand (XLA:CPU computes them in float32) and rounds their results, the hidden kernels' and
inputs' gradients, to bfloat16 (the transpose of a cast is a cast). A backward pass all in
bfloat16 would need a ``custom_vjp``, which the forward-mode derivatives could not go through.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from siren_jax import fast_sine, names

Array = jax.Array
# (key, shape, dtype) -> Array, as Flax's kernel_init/bias_init take it (jax's Initializer
# protocol also requires an out_sharding argument these do not need).
Initializer = Callable[..., Array]
LayerParams = dict[str, Array]
MLPParams = list[LayerParams]

DEFAULT_OMEGA0 = 30.0
COMPUTE_DTYPES = names.COMPUTE_DTYPES


def _fan_in(shape: Sequence[int]) -> int:
  """Number of inputs of a kernel: every axis but the last (Dense and Conv layouts)."""
  if len(shape) < 2:
    raise ValueError(f'a kernel needs at least 2 dimensions, got shape {tuple(shape)}')
  return int(np.prod(shape[:-1]))


def _check_omega0(omega0: float) -> None:
  if not omega0 > 0:
    raise ValueError(f'omega0 must be positive, got {omega0}')


def _uniform(key: Array, shape: Sequence[int], dtype: Any, bound: float) -> Array:
  return jax.random.uniform(key, shape, dtype, minval=-bound, maxval=bound)


def siren_first_layer_init() -> Initializer:
  """Kernel initialiser of a SIREN's first layer: U(-1/fan_in, 1/fan_in)."""

  def init(key: Array, shape: Sequence[int], dtype: Any = jnp.float32) -> Array:
    return _uniform(key, shape, dtype, 1.0 / _fan_in(shape))

  return init


def siren_hidden_init(omega0: float = DEFAULT_OMEGA0) -> Initializer:
  """Kernel initialiser of a SIREN's hidden/last layers: U(+-sqrt(6/fan_in)/omega0).

  With this bound, omega0 * (W x) is ~ U-distributed with unit variance when the inputs are
  arcsine-distributed sines, which keeps every layer's pre-activations ~N(0, 1)-like at depth.
  """
  _check_omega0(omega0)

  def init(key: Array, shape: Sequence[int], dtype: Any = jnp.float32) -> Array:
    return _uniform(key, shape, dtype, math.sqrt(6.0 / _fan_in(shape)) / omega0)

  return init


def siren_kernel_init(omega0: float = DEFAULT_OMEGA0, is_first: bool = False) -> Initializer:
  """The SIREN kernel initialiser for a first (``is_first``) or any later layer."""
  return siren_first_layer_init() if is_first else siren_hidden_init(omega0)


def uniform_bias_init(fan_in: int) -> Initializer:
  """Bias initialiser U(-1/sqrt(fan_in), 1/sqrt(fan_in)), PyTorch's nn.Linear default.

  Flax bias initialisers only see the bias shape, so the fan-in is bound here.
  """
  if fan_in < 1:
    raise ValueError(f'fan_in must be >= 1, got {fan_in}')

  def init(key: Array, shape: Sequence[int], dtype: Any = jnp.float32) -> Array:
    return _uniform(key, shape, dtype, 1.0 / math.sqrt(fan_in))

  return init


def _bias_init(fan_in: int, zero_bias: bool) -> Initializer:
  return jax.nn.initializers.zeros if zero_bias else uniform_bias_init(fan_in)


def check_compute_dtype(compute_dtype: str) -> None:
  """Raises ValueError unless ``compute_dtype`` is one of ``COMPUTE_DTYPES``."""
  if compute_dtype not in COMPUTE_DTYPES:
    raise ValueError(f'compute_dtype must be one of {", ".join(COMPUTE_DTYPES)}, got '
                     f'{compute_dtype!r}')


def mixed_dot_general(lhs: Array, rhs: Array, dimension_numbers: Any,
                      precision: Any = None, preferred_element_type: Any = None) -> Array:
  """``jax.lax.dot_general`` on operands rounded to bfloat16, accumulated and returned in float32.

  Takes ``jax.lax.dot_general``'s arguments, so Flax's ``nn.Dense(dot_general=...)`` can use it;
  ``preferred_element_type`` is always float32 (the point of the policy), whatever is passed.
  """
  del preferred_element_type
  return jax.lax.dot_general(lhs.astype(jnp.bfloat16), rhs.astype(jnp.bfloat16),
                             dimension_numbers, precision=precision,
                             preferred_element_type=jnp.float32)


def matmul(x: Array, kernel: Array, compute_dtype: str = 'float32') -> Array:
  """``x @ kernel`` under a compute dtype; x: (..., in), kernel: (in, out) -> (..., out) float32.

  'float32': the plain float32 product. 'bfloat16': both operands rounded to bfloat16 (8
  significant bits, relative rounding <= 2^-9), products accumulated in float32 and the result
  returned in float32 (``mixed_dot_general``), so only the operands lose precision.
  """
  check_compute_dtype(compute_dtype)
  if compute_dtype == 'float32':
    return x @ kernel
  return mixed_dot_general(x, kernel, (((x.ndim - 1,), (0,)), ((), ())))


# --------------------------------------------------------------------------------------------
# Pure functions.


def sine_layer_init(key: Array, fan_in: int, fan_out: int, *, omega0: float = DEFAULT_OMEGA0,
                    is_first: bool = False, zero_bias: bool = False,
                    dtype: Any = jnp.float32) -> LayerParams:
  """Parameters of one layer: {'kernel': (fan_in, fan_out), 'bias': (fan_out,)}."""
  kernel_key, bias_key = jax.random.split(key)
  return {
      'kernel': siren_kernel_init(omega0, is_first)(kernel_key, (fan_in, fan_out), dtype),
      'bias': _bias_init(fan_in, zero_bias)(bias_key, (fan_out,), dtype),
  }


def sine_layer_apply(params: LayerParams, x: Array, omega0: float = DEFAULT_OMEGA0,
                     compute_dtype: str = 'float32', sine: str = 'auto') -> Array:
  """sin(omega0 * (x @ kernel + bias)); x: (..., fan_in) -> (..., fan_out) in [-1, 1].

  ``sine`` picks how sin is computed (``fast_sine.sine``): 'auto' is ``fast_sine.sin`` (a
  float32 polynomial XLA vectorises, several times faster in a CPU train step) on the CPU and
  ``jnp.sin`` on other platforms; 'fast_sine' or 'jnp' force either. Derivatives are exact.
  ``compute_dtype`` applies to the matmul only (``matmul``); bias, omega0 and sine are float32.
  """
  return fast_sine.sine(
      omega0 * (matmul(x, params['kernel'], compute_dtype) + params['bias']), sine)


def siren_init(key: Array, sizes: Sequence[int], *, hidden_omega0: float = DEFAULT_OMEGA0,
               zero_bias: bool = False, dtype: Any = jnp.float32) -> MLPParams:
  """Parameters of a SIREN MLP with layer widths ``sizes``.

  Args:
    key: PRNG key.
    sizes: ``[in, hidden, ..., out]``; ``len(sizes) - 1`` linear layers. The paper's image network
      is ``[2, 256, 256, 256, 256, 1]`` (3 hidden layers, 5 linear layers).
    hidden_omega0: omega0 of every layer after the first (sets their init bound). The first
      layer's init does not depend on omega0.
    zero_bias: zero biases instead of PyTorch's default uniform ones.
    dtype: parameter dtype.

  Returns:
    A list of ``{'kernel', 'bias'}`` dicts, one per linear layer.
  """
  sizes = [int(s) for s in sizes]
  if len(sizes) < 2 or min(sizes) < 1:
    raise ValueError(f'sizes must list at least 2 positive widths, got {sizes}')
  keys = jax.random.split(key, len(sizes) - 1)
  return [
      sine_layer_init(k, fan_in, fan_out, omega0=hidden_omega0, is_first=(i == 0),
                      zero_bias=zero_bias, dtype=dtype)
      for i, (k, fan_in, fan_out) in enumerate(zip(keys, sizes[:-1], sizes[1:]))
  ]


def siren_apply(params: MLPParams, x: Array, *, first_omega0: float = DEFAULT_OMEGA0,
                hidden_omega0: float = DEFAULT_OMEGA0, outermost_linear: bool = True,
                compute_dtype: str = 'float32', sine: str = 'auto') -> Array:
  """Evaluates a SIREN MLP.

  Args:
    params: from ``siren_init``.
    x: (..., in) inputs, e.g. coordinates in [-1, 1].
    first_omega0: omega0 of the first layer.
    hidden_omega0: omega0 of the hidden layers (and of the last one if it is a sine layer).
    outermost_linear: the last layer is linear (images) instead of a sine layer.
    compute_dtype: of the hidden layers' matmuls (module docstring); the first and the last
      layer compute in float32.
    sine: how sin is computed (``sine_layer_apply``): 'auto', 'fast_sine' or 'jnp'.

  Returns:
    (..., out) outputs, float32.
  """
  check_compute_dtype(compute_dtype)
  for i, layer in enumerate(params):
    is_last = i == len(params) - 1
    if is_last and outermost_linear:
      return x @ layer['kernel'] + layer['bias']
    hidden = 0 < i and not is_last
    x = sine_layer_apply(layer, x, first_omega0 if i == 0 else hidden_omega0,
                         compute_dtype=compute_dtype if hidden else 'float32', sine=sine)
  return x


# --------------------------------------------------------------------------------------------
# Flax modules: thin wrappers around the same initialisers and parameter layout.


class SineDense(nn.Module):
  """A Dense layer followed by sin(omega0 * .); x: (..., in) -> (..., features) in [-1, 1]."""

  features: int
  omega0: float = DEFAULT_OMEGA0
  is_first: bool = False
  zero_bias: bool = False
  compute_dtype: str = 'float32'  # Of the matmul (``matmul``); parameters are float32.
  sine: str = 'auto'  # How sin is computed (``sine_layer_apply``).

  @nn.compact
  def __call__(self, x: Array) -> Array:
    fan_in = x.shape[-1]
    kernel = self.param('kernel', siren_kernel_init(self.omega0, self.is_first),
                        (fan_in, self.features))
    bias = self.param('bias', _bias_init(fan_in, self.zero_bias), (self.features,))
    return sine_layer_apply({'kernel': kernel, 'bias': bias}, x, self.omega0,
                            compute_dtype=self.compute_dtype, sine=self.sine)


class Siren(nn.Module):
  """SIREN MLP: first sine layer, ``hidden_layers`` sine layers, last layer linear or sine.

  x: (..., in_features) coordinates in [-1, 1] -> (..., out_features). ``compute_dtype`` applies
  to the hidden layers' matmuls only (``siren_apply``).
  """

  out_features: int = 1
  hidden_features: int = 256
  hidden_layers: int = 3
  first_omega0: float = DEFAULT_OMEGA0
  hidden_omega0: float = DEFAULT_OMEGA0
  outermost_linear: bool = True
  zero_bias: bool = False
  compute_dtype: str = 'float32'
  sine: str = 'auto'  # How sin is computed (``sine_layer_apply``): 'auto', 'fast_sine', 'jnp'.

  @nn.compact
  def __call__(self, x: Array) -> Array:
    check_compute_dtype(self.compute_dtype)
    x = SineDense(self.hidden_features, self.first_omega0, is_first=True,
                  zero_bias=self.zero_bias, sine=self.sine, name='layer_0')(x)
    for i in range(1, self.hidden_layers + 1):
      x = SineDense(self.hidden_features, self.hidden_omega0, zero_bias=self.zero_bias,
                    compute_dtype=self.compute_dtype, sine=self.sine, name=f'layer_{i}')(x)
    last = f'layer_{self.hidden_layers + 1}'
    if not self.outermost_linear:
      return SineDense(self.out_features, self.hidden_omega0, zero_bias=self.zero_bias,
                       sine=self.sine, name=last)(x)
    return nn.Dense(self.out_features, kernel_init=siren_hidden_init(self.hidden_omega0),
                    bias_init=_bias_init(self.hidden_features, self.zero_bias), name=last)(x)


def flax_params_to_list(params: dict[str, Any]) -> MLPParams:
  """Flax ``Siren`` params (``{'layer_i': ...}``, without the 'params' level) -> list layout."""
  return [dict(params[f'layer_{i}']) for i in range(len(params))]


def list_params_to_flax(params: MLPParams) -> dict[str, Any]:
  """List layout (``siren_init``) -> Flax ``Siren`` params (``{'layer_i': ...}``)."""
  return {f'layer_{i}': dict(layer) for i, layer in enumerate(params)}
