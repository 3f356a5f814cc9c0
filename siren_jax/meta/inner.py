"""The inner loop of meta-learning: k optimiser steps of a field model on one task.

Pure and jit-able; differentiable through every step (MAML's second-order gradient), so the
optimiser must be too: ``optax.sgd`` is, Adam needs ``eps_root > 0`` (``make_inner_optimizer``
sets it) or the derivative of sqrt(v) at v = 0 is infinite.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import optax

from siren_jax import training

INNER_OPTIMIZERS = ('sgd', 'adam')
# Adam's eps_root inside a differentiated loop (optax's advice for meta-learning).
ADAM_EPS_ROOT = 1e-12


def make_inner_optimizer(name: str, learning_rate: float) -> optax.GradientTransformation:
  """The inner loop's optimiser: 'sgd' (Tancik et al.: lr 1e-2) or 'adam' (the test-time fit's
  optimiser; differentiable at zero gradients through ``ADAM_EPS_ROOT``).

  Raises:
    ValueError: naming ``name`` or ``learning_rate``.
  """
  if name not in INNER_OPTIMIZERS:
    raise ValueError(f'name must be one of {", ".join(INNER_OPTIMIZERS)}, got {name!r}')
  if not learning_rate > 0:
    raise ValueError(f'learning_rate must be > 0, got {learning_rate!r}')
  if name == 'sgd':
    return optax.sgd(learning_rate)
  return optax.adam(learning_rate, eps_root=ADAM_EPS_ROOT)


def inner_loop(loss_fn: training.LossFn, apply_fn: Callable[..., jax.Array], params: Any,
               batch: Any, optimizer: optax.GradientTransformation,
               steps: int | None = None) -> tuple[Any, jax.Array]:
  """Adapts ``params`` to one task with ``optimizer`` from a fresh optimiser state.

  Args:
    loss_fn: ``(params, batch, apply_fn) -> (loss, metrics)`` (e.g. ``fitting.image_loss``).
    apply_fn: the field, ``(params, coords (N, 2)) -> (N, C)``.
    params: the starting point (the meta-learned init).
    batch: with ``steps=None``, one batch per step stacked on a leading axis K (e.g. coords
      (K, N, 2), values (K, N, C): a fresh pixel subset per step); with ``steps``, one batch
      used at every step (e.g. the full image).
    optimizer: any optax transformation.
    steps: number of steps when ``batch`` has no step axis.

  Returns:
    (params after the K steps, losses (K,): the loss at the start of each step).
  """
  grad_fn = jax.value_and_grad(loss_fn, has_aux=True)

  def step(carry, step_batch):
    p, state = carry
    (loss, _), grads = grad_fn(p, batch if steps is not None else step_batch, apply_fn)
    updates, state = optimizer.update(grads, state, p)
    return (optax.apply_updates(p, updates), state), loss

  if steps is not None and steps < 0:
    raise ValueError(f'steps must be >= 0, got {steps}')
  (params, _), losses = jax.lax.scan(step, (params, optimizer.init(params)),
                                     None if steps is not None else batch, length=steps)
  return params, jnp.asarray(losses)
