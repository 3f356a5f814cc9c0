"""Trains the learned resizer (``siren_jax.sr.liif``) on random patches of the corpus's train
photos at random scales (``siren_jax.sr.patches``), through the one driver; or evaluates a
trained model file (``experiments.sr.evaluate``).

Writes to the workdir: the model file (``config.model_file``, default model.sr), metrics.json
(validation PSNR history, training time, parameter count), TensorBoard scalars under tb/ and
checkpoints under checkpoints/.
"""

from __future__ import annotations

import os
import time
from typing import Any

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
from absl import logging

from experiments import common, driver
from experiments.configs.sr import TASKS
from siren_jax import metrics, optimizers, training
from siren_jax.data import crops
from siren_jax.sr import liif, model_file, patches, upscale

VAL_SCALES = (2, 4)


def check_config(config: ml_collections.ConfigDict) -> None:
  """One-line errors for bad config values."""
  common.check_choice(config, 'task', TASKS)
  common.check_positive(config, ('batch_size', 'input_size', 'queries', 'scale_min',
                                 'scale_max', 'val_size', 'eval_size'))
  common.check_non_negative(config, ('steps', 'log_every', 'eval_every', 'checkpoint_every',
                                     'tile_size'))
  driver.check_run_fields(config)
  driver.check_optimizer(config)
  if not 1 <= config.scale_min <= config.scale_max:
    raise ValueError(f'config.scale_min={config.scale_min} and scale_max={config.scale_max} '
                     f'must satisfy 1 <= scale_min <= scale_max')
  if config.queries > config.input_size ** 2:
    raise ValueError(f'config.queries={config.queries} exceeds config.input_size ** 2 = '
                     f'{config.input_size ** 2}')
  if config.task == 'evaluate' and not config.model_file:
    raise ValueError('config.model_file is empty: give a model file written by the train task')
  if config.task == 'train':
    kind, _, split = config.dataset.partition(':')
    if kind.startswith('corpus') and split == 'test':
      raise ValueError(f'config.dataset={config.dataset!r} is a test split: never train on it')
    spec(config)


def spec(config: ml_collections.ConfigDict) -> liif.Spec:
  """The model spec of ``config.model`` (one-line error naming a bad field)."""
  try:
    return liif.Spec(**config.model.to_dict())
  except (TypeError, ValueError) as e:
    raise ValueError(f'config.model: {e}') from None


def open_photos(config: ml_collections.ConfigDict, dataset: str) -> Any:
  return crops.open_photos(dataset, data_dir=config.data_dir or None)


def centre_crop(photo: np.ndarray, side: int) -> np.ndarray:
  """The centred side x side square of (H, W, C) ``photo``."""
  h, w = photo.shape[:2]
  top, left = (h - side) // 2, (w - side) // 2
  return photo[top:top + side, left:left + side]


def to_signed(photo: np.ndarray) -> np.ndarray:
  """uint8 (H, W, 3) -> float32 in [-1, 1]."""
  return photo.astype(np.float32) / 127.5 - 1.0


def make_loss_fn() -> training.LossFn:
  """L1 between predicted and true colours of the sampled target pixels (LIIF's loss); the
  state's apply_fn is the model's ``apply``."""

  def loss_fn(params, batch, apply_fn):
    prediction = apply_fn({'params': params}, batch['lr'], batch['coords'], batch['cell'])
    return jnp.mean(jnp.abs(prediction - batch['rgb'])), {
        'psnr': metrics.psnr(jnp.clip(prediction, -1, 1), batch['rgb'])}

  return loss_fn


def validation_set(config: ml_collections.ConfigDict) -> list[tuple[np.ndarray, np.ndarray, int]]:
  """(low-res input, ground truth, scale) for each validation photo's centre crop at each of
  VAL_SCALES; inputs by PIL bicubic, as in training."""
  photos = open_photos(config, config.val_dataset)
  out = []
  for i in range(len(photos)):
    photo = np.asarray(photos[i])
    side = min(config.val_size, *photo.shape[:2]) // 4 * 4
    truth = to_signed(centre_crop(photo, side))
    for s in VAL_SCALES:
      out.append((patches.pil_resize(truth, side // s, side // s), truth, s))
  return out


def make_eval_fn(config: ml_collections.ConfigDict, model_spec: liif.Spec
                 ) -> driver.EvalFn:
  """Mean validation PSNR (RGB, [-1, 1] data range 2) at each of VAL_SCALES: 'psnr_x2', ..."""
  examples = validation_set(config)

  def eval_fn(state: training.TrainState) -> dict[str, float]:
    scores: dict[int, list[float]] = {s: [] for s in VAL_SCALES}
    for low, truth, s in examples:
      if min(low.shape[:2]) < model_spec.min_input_side:
        continue
      out = upscale.upscale(model_spec, state.params, low, *truth.shape[:2], tile_size=0)
      scores[s].append(float(metrics.psnr(np.clip(out, -1, 1), truth)))
    result = {f'psnr_x{s}': float(np.mean(v)) for s, v in scores.items() if v}
    if result:
      result['psnr'] = float(np.mean(list(result.values())))
      logging.info('step %d validation: %s', int(state.step),
                   '  '.join(f'{k}={v:.2f}' for k, v in result.items()))
    return result

  return eval_fn


def train(config: ml_collections.ConfigDict, workdir: str) -> dict[str, Any]:
  """Trains the model; returns what it writes to metrics.json."""
  model_spec = spec(config)
  source = open_photos(config, config.dataset)  # Data errors before the workdir.
  stream = patches.Patches(source, batch_size=config.batch_size, input_size=config.input_size,
                           queries=config.queries, scale=(config.scale_min, config.scale_max),
                           seed=config.seed)
  eval_fn = make_eval_fn(config, model_spec)
  workdir = common.require_workdir(workdir, config)
  model = liif.LIIF(model_spec)
  params = liif.init_params(model_spec, jax.random.PRNGKey(config.seed))
  state = training.TrainState.create(apply_fn=model.apply, params=params,
                                     tx=optimizers.make_optimizer(**config.optimizer))
  tag = f'liif_{model_spec.activation}'
  logging.info('[%s] %d parameters, %d train photos, batch %d of %dx%d inputs, %d queries.',
               tag, liif.num_params(params), len(source), config.batch_size,
               config.input_size, config.input_size, config.queries)
  fingerprint = {'model': model_spec.to_dict(), 'optimizer': config.optimizer.to_dict(),
                 'seed': config.seed, 'dataset': config.dataset,
                 'data': [config.batch_size, config.input_size, config.queries,
                          config.scale_min, config.scale_max]}
  writer = common.ScalarWriter(os.path.join(workdir, 'tb'))
  start = time.perf_counter()
  try:
    result = driver.run(
        state, make_loss_fn(), workdir=workdir, tag=tag, writer=writer,
        schedule=driver.Schedule(config.steps, log_every=config.log_every,
                                 eval_every=config.eval_every,
                                 checkpoint_every=config.checkpoint_every),
        batch_fn=stream.batch, eval_fn=eval_fn, fingerprint=fingerprint,
        resume=config.resume, nan_policy=config.nan_policy)
  finally:
    writer.close()
  seconds = time.perf_counter() - start
  path = config.model_file or os.path.join(workdir, 'model.sr')
  steps = int(result.state.step)
  size = model_file.save(path, result.params, model_spec, extra={
      'steps': steps, 'dataset': config.dataset, 'seed': config.seed,
      'train_seconds': seconds})
  output = {'task': 'train', 'model_file': path, 'model_bytes': size, 'steps': steps,
            'parameters': liif.num_params(result.params), 'wall_seconds': seconds,
            'seconds_per_step': result.seconds_per_step, 'history': result.history,
            'train_seconds': result.train_seconds, 'resumed_from_step': result.resumed_from,
            'device': jax.devices()[0].device_kind, 'config': config.to_dict()}
  common.write_json(os.path.join(workdir, 'metrics.json'), output)
  logging.info('[%s] %d steps in %.0f s; wrote %s (%d bytes).', tag, steps, seconds, path, size)
  return output
