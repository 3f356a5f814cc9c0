"""Pieces of fitting a coordinate field to an image: the loss and the field's derivatives
(rendering is ``siren_jax.render``).

A *field* here is ``apply_fn(params, coords: (..., 2)) -> (..., C)`` on the ``grids``
convention; its image is the field sampled at pixel centres.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import jax

from siren_jax import diffops, grids, metrics

Array = jax.Array
ApplyFn = Callable[[Any, Array], Array]


def image_loss(params: Any, batch: dict[str, Array], apply_fn: ApplyFn) -> tuple[Array, dict]:
  """MSE between the field at ``batch['coords']`` (N, 2) and ``batch['values']`` (N, C), plus
  its PSNR (values in [-1, 1])."""
  loss = metrics.mse(apply_fn(params, batch['coords']), batch['values'])
  return loss, {'psnr': metrics.psnr_from_mse(loss)}


@functools.partial(jax.jit, static_argnames=('apply_fn', 'chunk_size'))
def derivatives(apply_fn: ApplyFn, params: Any, coords: Array,
                chunk_size: int = 16384) -> tuple[Array, Array]:
  """Autodiff gradient (N, C, 2) as (d/dy, d/dx) and Laplacian (N, C) of the field at coords."""
  fn = diffops.pointwise(apply_fn, params)
  return grids.evaluate_in_chunks(lambda c: diffops.gradient_and_laplacian(fn, c), coords,
                                  chunk_size)
