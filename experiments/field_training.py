"""Training one coordinate-field model under a loss: shared by fit_image, poisson and resize.

Reads the model/optimiser fields of a config (``model_config_fields``), builds the model by
name, and runs ``siren_jax.training.train_loop`` with checkpoints under
``workdir/checkpoints/<tag>`` and progress logs/TensorBoard scalars under ``tag``.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import jax
import ml_collections
import optax

from experiments import common
from siren_jax import baselines, sharding, training
from siren_jax import checkpoints as ckpt
from siren_jax.models import fields


def add_model_fields(config: ml_collections.ConfigDict) -> None:
  """Adds the model and optimiser fields every field-fitting config shares (paper defaults)."""
  config.hidden_features = 256
  config.hidden_layers = 3
  config.first_omega0 = 30.0
  config.hidden_omega0 = 30.0
  config.zero_bias = False
  config.num_frequencies = 0  # ReLU+PE only; 0 = Nyquist rule of the reference for the image.
  config.learning_rate = 1e-4
  config.seed = 0
  config.steps_per_call = 1  # Optimiser steps per jitted call (lax.scan); intervals divide by it.
  config.log_every = 50
  config.eval_every = 25
  config.checkpoint_every = 100
  config.chunk_size = 16384  # Points per chunk when evaluating derivatives of a whole image.
  # Data parallel over all devices; 'shard_kernels' also splits large kernels (siren_jax.sharding).
  config.param_sharding = 'replicate'


def check_model_fields(config: ml_collections.ConfigDict) -> None:
  """One-line errors for bad model/optimiser values."""
  common.check_positive(config, ('hidden_features', 'learning_rate', 'first_omega0',
                                 'hidden_omega0', 'steps_per_call', 'chunk_size'))
  common.check_non_negative(config, ('hidden_layers', 'num_frequencies', 'log_every',
                                     'eval_every', 'checkpoint_every'))
  if config.param_sharding not in sharding.PARAM_SHARDINGS:
    raise ValueError(f'config.param_sharding must be one of {", ".join(sharding.PARAM_SHARDINGS)}'
                     f', got {config.param_sharding!r}')
  for name in ('log_every', 'eval_every', 'checkpoint_every', 'steps'):
    if config[name] % config.steps_per_call:
      raise ValueError(f'config.{name}={config[name]} must be a multiple of '
                       f'config.steps_per_call={config.steps_per_call}')


def build_model(config: ml_collections.ConfigDict, name: str, out_features: int,
                image_side: int):
  """The named field model with the config's widths (PE frequencies from the image size)."""
  return fields.make_field_model(
      name, out_features=out_features, hidden_features=config.hidden_features,
      hidden_layers=config.hidden_layers, first_omega0=config.first_omega0,
      hidden_omega0=config.hidden_omega0, zero_bias=config.zero_bias,
      num_frequencies=config.num_frequencies or baselines.nyquist_num_frequencies(image_side))


def train_field(config: ml_collections.ConfigDict, workdir: str, *, tag: str, model_name: str,
                out_features: int, image_side: int, loss_fn: training.LossFn, batch: Any,
                eval_fn: Callable[[training.TrainState], dict[str, float]] | None,
                writer: common.ScalarWriter) -> training.LoopResult:
  """Fits the named model to ``loss_fn`` on a fixed full ``batch`` for ``config.steps`` steps.

  ``batch`` is the whole (global) batch, rows along axis 0; each process feeds only its slice
  of the rows and the step splits them over all devices (``siren_jax.sharding``). Resumes from
  ``workdir/checkpoints/<tag>`` when a checkpoint is there.
  """
  model = build_model(config, model_name, out_features, image_side)
  sample = jax.numpy.zeros((1, 2), jax.numpy.float32)
  state = training.create_train_state(model, jax.random.PRNGKey(config.seed), sample,
                                      optax.adam(config.learning_rate))
  step_fn = training.make_train_step(loss_fn, steps_per_call=config.steps_per_call,
                                     mesh=sharding.make_mesh(),
                                     param_sharding=config.param_sharding,
                                     process_local_batches=True)
  rows = sharding.process_slice(len(jax.tree.leaves(batch)[0]))
  batch = step_fn.place_batch(jax.tree.map(lambda x: x[rows], batch))  # Once, not every step.
  manager = ckpt.make_manager(os.path.join(workdir, 'checkpoints', tag))

  def log_fn(step: int, scalars: dict[str, float]) -> None:
    common.log_progress(tag, step, config.steps, scalars)
    writer.write(step, scalars, prefix=f'{tag}/train/')

  def eval_and_write(state: training.TrainState) -> dict[str, float]:
    scalars = eval_fn(state)
    writer.write(int(state.step), scalars, prefix=f'{tag}/eval/')
    return scalars

  try:
    return training.train_loop(
        state, step_fn, lambda step: batch, num_steps=config.steps,
        steps_per_call=config.steps_per_call, eval_every=config.eval_every,
        eval_fn=eval_and_write if eval_fn else None, log_every=config.log_every,
        log_fn=log_fn, checkpoint_manager=manager, checkpoint_every=config.checkpoint_every)
  finally:
    manager.close()
