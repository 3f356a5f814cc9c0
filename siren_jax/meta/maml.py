"""MAML's outer loss (Finn et al. 2017; Tancik et al. 2021 for coordinate networks): the loss
of the adapted parameters, differentiated through the inner loop (second order), or with the
inner updates held constant (first-order MAML).

The returned function has the driver's loss interface, so the one training loop meta-trains:
the train state's params are the init, its optimiser the outer optimiser.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import optax

from siren_jax import metrics as metrics_lib
from siren_jax import training
from siren_jax.meta import inner


def make_maml_loss(task_loss: training.LossFn, inner_optimizer: optax.GradientTransformation,
                   *, first_order: bool = False) -> training.LossFn:
  """A loss ``(params, batch, apply_fn) -> (loss, metrics)`` over a meta-batch.

  ``batch``: {'inner': the inner loop's batches, each leaf (B, K, ...) (``inner.inner_loop``),
  'outer': the post-adaptation batch, each leaf (B, ...)} for B tasks. The loss is the mean
  over tasks of ``task_loss`` at the adapted params on 'outer'; its gradient flows through the
  K inner steps unless ``first_order`` (then d loss / d adapted params, the FOMAML direction).

  Metrics: the tasks' mean ``task_loss`` metrics after adaptation (e.g. 'psnr'), and
  'loss_before' / 'psnr_before', the inner loop's first loss (the init's own fit; the PSNR
  reads it as an MSE of [-1, 1] values, as ``fitting.image_loss`` is).
  """

  def one_task(params: Any, task: Any, apply_fn: Any) -> tuple[jax.Array, Any]:
    adapted, losses = inner.inner_loop(task_loss, apply_fn, params, task['inner'],
                                       inner_optimizer)
    if first_order:
      adapted = jax.tree.map(lambda p, a: p + jax.lax.stop_gradient(a - p), params, adapted)
    loss, metrics = task_loss(adapted, task['outer'], apply_fn)
    return loss, (metrics, losses[0])

  def loss_fn(params: Any, batch: Any, apply_fn: Any) -> tuple[jax.Array, dict]:
    losses, (metrics, before) = jax.vmap(one_task, in_axes=(None, 0, None))(
        params, batch, apply_fn)
    loss_before = jnp.mean(before)
    return jnp.mean(losses), {**jax.tree.map(jnp.mean, metrics), 'loss_before': loss_before,
                              'psnr_before': metrics_lib.psnr_from_mse(loss_before)}

  return loss_fn
