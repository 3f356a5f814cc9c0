"""Reptile's outer update (Nichol et al. 2018) as a loss: 0.5 ||theta - stop_gradient(phi)||^2
with phi the mean over the meta-batch of the params after the inner loop, whose gradient
theta - phi is the Reptile direction. With the driver's loss interface the one training loop
meta-trains (outer SGD at rate eps is Reptile's interpolation theta += eps (phi - theta); the
default outer Adam normalises the direction, as Tancik et al.'s Reptile option does).
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import optax

from siren_jax import metrics, training
from siren_jax.meta import inner


def make_reptile_loss(task_loss: training.LossFn,
                      inner_optimizer: optax.GradientTransformation) -> training.LossFn:
  """A loss ``(params, batch, apply_fn) -> (loss, metrics)`` over a meta-batch.

  ``batch``: {'inner': each leaf (B, K, ...), the inner loop's batches of B tasks}; other keys
  (MAML's 'outer') are ignored. Metrics: 'loss_before' / 'psnr_before' (the inner loop's first
  loss: the init's own fit) and 'loss_after' / 'psnr_after' (its last loss, after K - 1 steps),
  task means; PSNRs read the losses as MSEs of [-1, 1] values (``fitting.image_loss``).
  """

  def loss_fn(params: Any, batch: Any, apply_fn: Any) -> tuple[jax.Array, dict]:
    adapted, losses = jax.vmap(
        lambda task: inner.inner_loop(task_loss, apply_fn, params, task, inner_optimizer))(
            batch['inner'])
    target = jax.lax.stop_gradient(jax.tree.map(lambda a: jnp.mean(a, axis=0), adapted))
    distance = jnp.sum(jnp.stack([jnp.sum((p - t) ** 2) for p, t in
                                  zip(jax.tree.leaves(params), jax.tree.leaves(target))]))
    before, after = jnp.mean(losses[:, 0]), jnp.mean(losses[:, -1])
    return 0.5 * distance, {'loss_before': before, 'psnr_before': metrics.psnr_from_mse(before),
                            'loss_after': after, 'psnr_after': metrics.psnr_from_mse(after)}

  return loss_fn
