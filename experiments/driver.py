"""The one training driver of every experiment: state -> step -> checkpoints -> logs/TensorBoard
-> ``siren_jax.training.train_loop``.

``run`` wires a train state and a loss to the shared loop (checkpoints under
``WORKDIR/checkpoints/<tag>``, progress logs and TensorBoard scalars under ``tag``, data
parallel over all devices); ``train_field`` builds a field model (or T tiles of it, fitted
together) from a config's model fields and runs it. Fit_image, poisson, resize and the
colourisers all train through here.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable
from typing import Any

import jax
import ml_collections
import optax

from experiments import common
from siren_jax import checkpoints as ckpt
from siren_jax import metrics, models, render, sharding, tiling, training
from siren_jax.models import fields

EvalFn = Callable[[training.TrainState], dict[str, float]]


@dataclasses.dataclass(frozen=True)
class Schedule:
  """Steps of a run; every interval a multiple of ``steps_per_call`` (0: never / only at the
  end for checkpoints)."""
  num_steps: int
  steps_per_call: int = 1
  log_every: int = 0
  eval_every: int = 0
  checkpoint_every: int = 0

  @classmethod
  def from_config(cls, config: ml_collections.ConfigDict) -> Schedule:
    """From a field config's steps, steps_per_call, log_every, eval_every, checkpoint_every."""
    return cls(config.steps, config.steps_per_call, config.log_every, config.eval_every,
               config.checkpoint_every)


def checkpoint_dir(workdir: str, tag: str) -> str:
  """Where ``run`` keeps the checkpoints of run ``tag``."""
  return os.path.join(workdir, 'checkpoints', tag)


def run(state: training.TrainState, loss_fn: training.LossFn, *, workdir: str, tag: str,
        schedule: Schedule, writer: common.ScalarWriter,
        batch: Any = None, batch_fn: Callable[[int], Any] | None = None,
        eval_fn: EvalFn | None = None, param_sharding: str = 'replicate',
        process_local_batches: bool = True,
        progress: Callable[[int], str] | None = None) -> training.LoopResult:
  """Trains ``state`` under ``loss_fn`` to ``schedule.num_steps``, resuming from
  ``workdir/checkpoints/<tag>`` when a checkpoint is there.

  Args:
    state: the initial train state (template for restoring).
    loss_fn: ``(params, batch, apply_fn) -> (loss, metrics)``.
    workdir, tag: checkpoints go to ``workdir/checkpoints/<tag>``; logs and TensorBoard
      scalars are labelled ``tag``.
    schedule: steps and intervals.
    writer: TensorBoard writer (``<tag>/train/*`` and ``<tag>/eval/*`` scalars).
    batch: a fixed global batch (rows along axis 0), placed on the devices once; or
    batch_fn: step -> batch (this process's rows when ``process_local_batches``).
    eval_fn: host-params state -> scalars, at every evaluation.
    param_sharding: 'replicate' or 'shard_kernels' (``siren_jax.sharding``).
    process_local_batches: host batches hold only this process's rows.
    progress: step -> the label of a progress log line (default ``tag``).
  """
  if (batch is None) == (batch_fn is None):
    raise ValueError('give exactly one of batch and batch_fn')
  step_fn = training.make_train_step(loss_fn, steps_per_call=schedule.steps_per_call,
                                     param_sharding=param_sharding,
                                     process_local_batches=process_local_batches)
  if batch is not None:
    rows = sharding.process_slice(len(jax.tree.leaves(batch)[0]))
    placed = step_fn.place_batch(  # Once, not every step.
        jax.tree.map(lambda x: x[rows], batch) if process_local_batches else batch)
    batch_fn = lambda step: placed  # noqa: E731

  def log_fn(step: int, scalars: dict[str, float]) -> None:
    common.log_progress(progress(step) if progress else tag, step, schedule.num_steps, scalars)
    writer.write(step, scalars, prefix=f'{tag}/train/')

  def eval_and_write(state: training.TrainState) -> dict[str, float]:
    scalars = eval_fn(state)
    writer.write(int(state.step), scalars, prefix=f'{tag}/eval/')
    return scalars

  manager = ckpt.make_manager(checkpoint_dir(workdir, tag))
  try:
    return training.train_loop(
        state, step_fn, batch_fn, num_steps=schedule.num_steps,
        eval_every=schedule.eval_every, eval_fn=eval_and_write if eval_fn else None,
        log_every=schedule.log_every, log_fn=log_fn, checkpoint_manager=manager,
        checkpoint_every=schedule.checkpoint_every)
  finally:
    manager.close()


# Field models (fit_image, poisson, resize).

def check_model_fields(config: ml_collections.ConfigDict, field: str = 'model') -> list[str]:
  """One-line errors naming the bad model/optimiser/schedule field of a field config; returns
  the model names in ``config[field]`` (one name, or a comma-separated list)."""
  model_names = common.split_names(config[field])
  if not model_names:
    raise ValueError(f'config.{field} is empty; give one or more of '
                     f'{", ".join(fields.FIELD_MODELS)}')
  for name in model_names:
    if name not in fields.FIELD_MODELS:
      raise ValueError(f'config.{field}: unknown model {name!r}; choose from '
                       f'{", ".join(fields.FIELD_MODELS)}')
  if len(set(model_names)) != len(model_names):
    raise ValueError(f'config.{field} lists a model twice: {config[field]!r}')
  common.check_positive(config, ('steps', 'hidden_features', 'learning_rate', 'first_omega0',
                                 'hidden_omega0', 'steps_per_call', 'render_chunk_points',
                                 'derivative_chunk_points'))
  common.check_non_negative(config, ('hidden_layers', 'num_frequencies', 'log_every',
                                     'eval_every', 'checkpoint_every'))
  common.check_choice(config, 'param_sharding', sharding.PARAM_SHARDINGS)
  for name in ('log_every', 'eval_every', 'checkpoint_every', 'steps'):
    if config[name] % config.steps_per_call:
      raise ValueError(f'config.{name}={config[name]} must be a multiple of '
                       f'config.steps_per_call={config.steps_per_call}')
  return model_names


def model_spec(config: ml_collections.ConfigDict, name: str, out_features: int,
               image_side: int) -> dict[str, Any]:
  """The config's field model ``name`` as a serialisable spec (``fields.field_spec``)."""
  return fields.field_spec(name, out_features=out_features, image_side=image_side,
                           **{k: config[k] for k in fields.HYPERPARAMETERS})


def field_state(config: ml_collections.ConfigDict, spec: dict[str, Any],
                num_tiles: int = 0) -> training.TrainState:
  """Initial state of the spec's model (``num_tiles`` > 0: that many stacked copies)."""
  model = fields.make_field_model(**spec)
  apply_fn = models.apply_fn(model)
  return training.TrainState.create(
      apply_fn=tiling.stacked_apply(apply_fn) if num_tiles else apply_fn,
      params=fields.init_params(model, jax.random.PRNGKey(config.seed), num_tiles),
      tx=optax.adam(config.learning_rate))


def train_field(config: ml_collections.ConfigDict, workdir: str, *, tag: str,
                spec: dict[str, Any], loss_fn: training.LossFn, batch: Any,
                eval_fn: EvalFn | None, writer: common.ScalarWriter,
                num_tiles: int = 0) -> training.LoopResult:
  """Fits the spec's model to ``loss_fn`` on a fixed full ``batch`` (rows along axis 0) for
  ``config.steps`` steps (``num_tiles`` > 0: a tiled fit, see ``siren_jax.tiling``)."""
  return run(field_state(config, spec, num_tiles), loss_fn, workdir=workdir, tag=tag,
             schedule=Schedule.from_config(config), writer=writer, batch=batch,
             eval_fn=eval_fn, param_sharding=config.param_sharding)


def image_fit_eval(config: ml_collections.ConfigDict, image: Any,
                   field: Callable[[Any, Any], jax.Array] | None = None) -> EvalFn:
  """An eval_fn: PSNR of the rendered field (default the state's own) vs ``image`` (H, W, C)."""
  def eval_fn(state: training.TrainState) -> dict[str, float]:
    rendered = render.render(field or state.apply_fn, state.params, *image.shape[:2],
                             max_chunk_points=config.render_chunk_points, max_pixels=None)
    return {'psnr': float(metrics.psnr(rendered, image))}

  return eval_fn

