"""PSNR against test-time steps: how fast a fit from a given init (learned or random) converges,
for the validation curves of meta-training. A full-image fit with the test-time optimiser
(Adam 1e-4 by default, the paper's image fit), one jitted scan."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import optax

from siren_jax import fitting, metrics
from siren_jax.meta import inner


@functools.partial(jax.jit, static_argnames=('apply_fn', 'optimizer', 'steps'))
def psnr_curve(apply_fn: Callable[..., jax.Array], params: Any, coords: jax.Array,
               values: jax.Array, optimizer: optax.GradientTransformation,
               steps: int) -> jax.Array:
  """PSNR (dB, values in [-1, 1]) of the field on (coords (N, 2), values (N, C)) after 0, 1, ...,
  ``steps`` full-batch steps of ``optimizer`` from ``params``: (steps + 1,)."""
  batch = {'coords': coords, 'values': values}
  adapted, losses = inner.inner_loop(fitting.image_loss, apply_fn, params, batch, optimizer,
                                     steps=steps)
  final, _ = fitting.image_loss(adapted, batch, apply_fn)
  return metrics.psnr_from_mse(jnp.append(losses, final))


def steps_to_reach(curve: Any, target: float) -> int | None:
  """The first step at which ``curve`` (PSNR after 0, 1, ... steps) reaches ``target``; None if
  it never does."""
  reached = [i for i, value in enumerate(curve) if value >= target]
  return reached[0] if reached else None
