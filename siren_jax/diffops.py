"""Differential operators of coordinate fields by autodiff, over a batch of points.

A *point function* maps one coordinate vector to the field's value there: ``fn: (d,) -> (c,)`` (or
``()`` for a scalar field). Every operator here evaluates at ``coords: (N, d)`` by ``vmap``, so the
network's matmuls stay batched. Second derivatives use nested forward-mode (``jvp`` of ``jvp``)
along each coordinate axis: memory is a few activations per point, never a d x d Hessian per
channel, and d is small (2 for images). All functions are jit-able and differentiable with
respect to anything ``fn`` closes over (e.g. network parameters), so they can sit inside a loss.

Use ``pointwise`` to turn a batched ``apply(params, x)`` into a point function.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp

Array = jax.Array
PointFn = Callable[[Array], Array]


def pointwise(apply_fn: Callable[..., Array], params: Any) -> PointFn:
  """Point function x: (d,) -> (c,) from a batched ``apply_fn(params, x: (..., d))``."""
  return lambda x: apply_fn(params, x)


def _check_coords(coords: Array) -> None:
  if coords.ndim != 2:
    raise ValueError(f'coords must have shape (N, d), got {coords.shape}')


def jacobian(fn: PointFn, coords: Array) -> Array:
  """Jacobian d fn_i / d x_j at each point: (N, d) -> (N, c, d) (or (N, d) for scalar fields).

  Forward mode: d jvps per point, the cheap direction when d (coordinates) is small.
  """
  _check_coords(coords)
  return jax.vmap(jax.jacfwd(fn))(coords)


def gradient(fn: PointFn, coords: Array) -> Array:
  """Spatial gradient: (N, d) for a scalar field, (N, c, d) for a c-channel field.

  Axis order of the last dimension follows the coordinates (``grids``: [..., 0] = y, 1 = x).
  """
  return jacobian(fn, coords)


def divergence(fn: PointFn, coords: Array) -> Array:
  """Divergence sum_i d fn_i / d x_i of a vector field fn: (d,) -> (d,); returns (N,)."""
  _check_coords(coords)
  d = coords.shape[-1]
  basis = jnp.eye(d, dtype=coords.dtype)

  def at_point(x: Array) -> Array:
    out = jax.eval_shape(fn, x)
    if out.shape != (d,):
      raise ValueError(f'divergence needs a field R^{d} -> R^{d}, got output shape {out.shape}')
    directional = jax.vmap(lambda v: jax.jvp(fn, (x,), (v,))[1])(basis)  # (d, d): row i = J e_i
    return jnp.trace(directional)

  return jax.vmap(at_point)(coords)


def second_directional_derivative(fn: PointFn, x: Array, v: Array) -> Array:
  """d^2/dt^2 fn(x + t v) at t = 0 for one point x: (d,), v: (d,); shape of fn(x)."""
  first = lambda y: jax.jvp(fn, (y,), (v,))[1]
  return jax.jvp(first, (x,), (v,))[1]


def laplacian(fn: PointFn, coords: Array) -> Array:
  """Laplacian sum_i d^2 fn / d x_i^2 per channel: (N,) for scalar fields, else (N, c)."""
  _check_coords(coords)
  basis = jnp.eye(coords.shape[-1], dtype=coords.dtype)

  def at_point(x: Array) -> Array:
    return jax.vmap(lambda v: second_directional_derivative(fn, x, v))(basis).sum(axis=0)

  return jax.vmap(at_point)(coords)


def gradient_and_laplacian(fn: PointFn, coords: Array) -> tuple[Array, Array]:
  """``(gradient(fn, coords), laplacian(fn, coords))`` from one nested jvp per axis.

  The outer jvp of the Laplacian's nested jvp along e_i returns d fn / d x_i as its primal, so
  the gradient costs nothing extra (computing the two apart repeats every first-order jvp).
  """
  _check_coords(coords)
  basis = jnp.eye(coords.shape[-1], dtype=coords.dtype)

  def at_point(x: Array) -> tuple[Array, Array]:
    def along(v: Array) -> tuple[Array, Array]:
      first = lambda y: jax.jvp(fn, (y,), (v,))[1]
      return jax.jvp(first, (x,), (v,))  # (d fn / dv, d^2 fn / dv^2)

    first, second = jax.vmap(along)(basis)  # (d, ...) each.
    return jnp.moveaxis(first, 0, -1), second.sum(axis=0)

  return jax.vmap(at_point)(coords)
