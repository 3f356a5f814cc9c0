"""sin and cos for float32 as fused polynomials, with exact derivative rules.

Why: XLA:CPU lowers ``jnp.sin`` to a slow elementwise routine; on a CPU a SIREN's train step
spent most of its time in sines, not matmuls (measured in ``bench/``: 75 ms for 4M sines against
23 ms for the layer's matmul). A range reduction plus an odd/even polynomial is a few fused
multiply-adds that XLA vectorises, and is as accurate as float32 allows for SIREN inputs
(|x| up to ~1e4: max error ~2e-7, while one float32 ulp of x = 200 is already 1.5e-5).

``sin``/``cos`` carry ``custom_jvp`` rules (d sin = cos, d cos = -sin), so gradients, Laplacians
and any higher derivative are the derivatives of sine, not of the polynomial. Other dtypes
(float64, bfloat16, ...) fall back to ``jnp.sin``/``jnp.cos`` unchanged.

Per platform (``sine``, what the SIREN layers call): the polynomial was measured faster only on
the CPU (bench/RESULTS.md), where XLA's own sine is a slow routine; GPUs and TPUs have fast
hardware sines, so ``'auto'`` picks the polynomial on the CPU and ``jnp.sin`` elsewhere, at
lowering time (``jax.lax.platform_dependent``: one jitted function serves every backend).
``'fast_sine'`` and ``'jnp'`` force either.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from siren_jax import names

Array = jax.Array
SINES = names.SINES

# Cody-Waite split of pi: PI_A has 8 significant bits, so k * PI_A is exact for |k| < 2^16.
_PI_A = np.float32(3.140625)
_PI_B = np.float32(np.pi - 3.140625)
_INV_PI = np.float32(1.0 / np.pi)
# Taylor coefficients on |r| <= pi/2: truncation errors 7e-10 (sin, r^15) and 6e-9 (cos, r^14).
_SIN = [np.float32((-1) ** i / np.prod(np.arange(1, 2 * i + 2, dtype=np.float64)))
        for i in range(7)]
_COS = [np.float32((-1) ** i / np.prod(np.arange(1, 2 * i + 1, dtype=np.float64)))
        for i in range(7)]


def _reduce(x: Array) -> tuple[Array, Array]:
  """x = k pi + r with |r| <= pi/2; returns r and whether k is odd (then sin, cos flip sign)."""
  k = jnp.round(x * _INV_PI)
  r = (x - k * _PI_A) - k * _PI_B
  odd = (k - 2.0 * jnp.floor(k * 0.5)) > 0.5
  return r, odd


def _horner(coefficients: list[np.float32], r2: Array) -> Array:
  p = jnp.full_like(r2, coefficients[-1])
  for c in coefficients[-2::-1]:
    p = p * r2 + c
  return p


def _is_float32(x: Array) -> bool:
  return jnp.asarray(x).dtype == jnp.float32


@jax.custom_jvp
def sin(x: Array) -> Array:
  """Elementwise sine; float32 via a vectorisable polynomial, other dtypes via ``jnp.sin``."""
  if not _is_float32(x):
    return jnp.sin(x)
  r, odd = _reduce(x)
  s = r * _horner(_SIN, r * r)
  return jnp.where(odd, -s, s)


@jax.custom_jvp
def cos(x: Array) -> Array:
  """Elementwise cosine; float32 via a vectorisable polynomial, other dtypes via ``jnp.cos``."""
  if not _is_float32(x):
    return jnp.cos(x)
  r, odd = _reduce(x)
  c = _horner(_COS, r * r)
  return jnp.where(odd, -c, c)


@sin.defjvp
def _sin_jvp(primals: tuple[Array], tangents: tuple[Array]) -> tuple[Array, Array]:
  (x,), (t,) = primals, tangents
  return sin(x), cos(x) * t


@cos.defjvp
def _cos_jvp(primals: tuple[Array], tangents: tuple[Array]) -> tuple[Array, Array]:
  (x,), (t,) = primals, tangents
  return cos(x), -sin(x) * t


def sine(x: Array, impl: str = 'auto') -> Array:
  """Elementwise sine by ``impl``: 'auto' (``sin`` above on the CPU, ``jnp.sin`` on every other
  platform, chosen when the computation is lowered), 'fast_sine' (``sin`` above everywhere) or
  'jnp' (``jnp.sin`` everywhere). Derivatives are those of sine in every case."""
  if impl == 'auto':
    return jax.lax.platform_dependent(x, cpu=sin, default=jnp.sin)
  if impl == 'fast_sine':
    return sin(x)
  if impl == 'jnp':
    return jnp.sin(x)
  raise ValueError(f'unknown sine {impl!r}; choose from {", ".join(SINES)}')
