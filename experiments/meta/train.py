"""Meta-trains the initial weights of a field model (MAML or Reptile, ``siren_jax.meta``) on
random crops of config.dataset through the one driver (checkpoints, resume with a fingerprint,
TensorBoard, preemption; the meta-batch is split over the devices), with validation curves --
PSNR against test-time steps of the normal fit, learned vs random init -- on config.val_dataset.

Writes to the workdir: init_<colour>.init (``siren_jax.init_file``, with what it was trained on),
curves.json and curves.png (the validation curves of the final init), metrics.json, TensorBoard
scalars under tb/ and checkpoints under checkpoints/<algorithm>_<model>_<colour>/.
"""

from __future__ import annotations

import os
import time
from typing import Any

import jax
import ml_collections
import numpy as np
from absl import logging

from experiments import common, driver, figures
from experiments.configs.meta import ALGORITHMS, COLOURS, INNER_OPTIMIZERS, SUPERVISIONS, TASKS
from siren_jax import fitting, grids, init_file, models, optimizers, training
from siren_jax.data import crops
from siren_jax.meta import curves, inner, maml, reptile, tasks
from siren_jax.models import fields

# 'synthetic:SPLIT' photos: (count, generator seed); every photo SYNTHETIC_SIDE pixels a side.
SYNTHETIC = {'train': (32, 1), 'validation': (2, 2), 'test': (4, 3)}
SYNTHETIC_SIDE = 64


def int_list(config: ml_collections.ConfigDict, name: str, minimum: int = 1) -> list[int]:
  """A comma-separated config field of integers >= ``minimum`` (one-line error otherwise)."""
  try:
    values = [int(v) for v in str(config[name]).split(',') if v.strip()]
  except ValueError:
    values = []
  if not values or min(values) < minimum:
    raise ValueError(f'config.{name} must be comma-separated integers >= {minimum}, got '
                     f'{config[name]!r}')
  return values


def check_config(config: ml_collections.ConfigDict) -> None:
  """One-line errors for bad config values, before anything is read or written."""
  common.check_choice(config, 'task', TASKS)
  common.check_choice(config, 'colour', COLOURS)
  common.check_choice(config, 'meta.algorithm', ALGORITHMS)
  common.check_choice(config, 'inner.name', INNER_OPTIMIZERS)
  common.check_choice(config, 'fit.supervision', SUPERVISIONS)
  common.check_positive(config, ('image_size', 'meta.meta_batch', 'inner.steps',
                                 'inner.learning_rate', 'fit.steps', 'meta.crop_scale_min'))
  common.check_non_negative(config, ('meta.inner_pixels', 'meta.outer_pixels', 'max_photos'))
  if not isinstance(config.meta.first_order, bool):
    raise ValueError(f'config.meta.first_order must be True or False, got '
                     f'{config.meta.first_order!r}')
  if not 0 < config.meta.crop_scale_min <= config.meta.crop_scale_max <= 1:
    raise ValueError(f'config.meta.crop_scale_min={config.meta.crop_scale_min} and '
                     f'crop_scale_max={config.meta.crop_scale_max} must satisfy 0 < min <= max '
                     f'<= 1 (fractions of the photo\'s short side)')
  driver.check_model_fields(config)
  driver.check_data_fields(config)
  try:
    optimizers.make_optimizer(**config.fit.optimizer)
  except ValueError as e:
    raise ValueError(f'config.fit.optimizer.{e}') from None
  sizes = int_list(config, 'meta.crop_sizes', minimum=2)
  for name in ('eval_steps', 'fit.report_steps'):
    int_list(config, name)
  int_list(config, 'seeds', minimum=0)
  for name in ('meta.inner_pixels', 'meta.outer_pixels'):
    if config[name] > min(sizes) ** 2 or (config[name] == 0 and len(set(sizes)) > 1):
      raise ValueError(f'config.{name}={config[name]} must be at most the smallest crop side '
                       f'squared ({min(sizes) ** 2}), or 0 (every pixel) with one crop side')
  if config.task == 'train' and config.meta.meta_batch % jax.device_count():
    raise ValueError(f'config.meta.meta_batch={config.meta.meta_batch} must be a multiple of the '
                     f'{jax.device_count()} devices (the tasks are split over them)')
  if config.task == 'train' and config.dataset.partition(':')[2] == 'test':
    raise ValueError(f'config.dataset={config.dataset!r} is a test split: never meta-train on it')
  if config.task == 'evaluate' and not config.init:
    raise ValueError('config.init is empty: give a learned-init file written by the train task')
  if config.task == 'combine' and not common.split_names(config.evaluations):
    raise ValueError('config.evaluations is empty: give the workdirs of finished evaluations, '
                     'comma-separated')
  model_spec(config)


def channels(config: ml_collections.ConfigDict) -> int:
  return 1 if config.colour == 'grey' else 3


def model_spec(config: ml_collections.ConfigDict) -> dict[str, Any]:
  """The field model's spec for config.image_size images of config.colour (one-line error
  naming a bad field)."""
  try:
    return driver.model_spec(config, config.model.name, channels(config), config.image_size)
  except (TypeError, ValueError) as e:
    raise ValueError(f'config.model: {e}') from None


def open_photos(config: ml_collections.ConfigDict, dataset: str) -> Any:
  """The photos of ``dataset``: 'synthetic[:SPLIT]' (``SYNTHETIC``) or any
  ``crops.open_photos`` source."""
  kind, _, split = dataset.partition(':')
  if kind == 'synthetic':
    if (split or 'train') not in SYNTHETIC:
      raise ValueError(f'unknown synthetic split {split!r}; choose from '
                       f'{", ".join(SYNTHETIC)}')
    count, seed = SYNTHETIC[split or 'train']
    return tasks.SinusoidPhotos(count, SYNTHETIC_SIDE, seed=seed)
  return crops.open_photos(dataset, data_dir=config.data_dir or None)


def photo_name(photos: Any, index: int) -> str:
  """Photo ``index``'s name (every source here has ``names``: its file or record names)."""
  return str(photos.names[index])


def views(config: ml_collections.ConfigDict, photos: Any, indices: list[int] | None = None
          ) -> list[tuple[str, np.ndarray]]:
  """(name, centre square at config.image_size as the config.colour view) for the photos at
  ``indices`` (None: every photo)."""
  if indices is None:
    indices = list(range(len(photos)))
  return [(photo_name(photos, i), tasks.centre_view(np.asarray(photos[i]), config.image_size,
                                                    config.colour)) for i in indices]


def make_loss_fn(config: ml_collections.ConfigDict) -> training.LossFn:
  """The outer loss of config.meta.algorithm with config.inner's inner loop, on image MSE."""
  inner_optimizer = inner.make_inner_optimizer(config.inner.name, config.inner.learning_rate)
  if config.meta.algorithm == 'reptile':
    return reptile.make_reptile_loss(fitting.image_loss, inner_optimizer)
  return maml.make_maml_loss(fitting.image_loss, inner_optimizer,
                             first_order=config.meta.first_order)


def make_tasks(config: ml_collections.ConfigDict, photos: Any) -> tasks.PixelTasks:
  return tasks.PixelTasks(
      photos, sizes=tuple(int_list(config, 'meta.crop_sizes', minimum=2)),
      meta_batch=config.meta.meta_batch, inner_steps=config.inner.steps,
      inner_pixels=config.meta.inner_pixels, outer_pixels=config.meta.outer_pixels,
      colour=config.colour, seed=config.seed,
      scale=(config.meta.crop_scale_min, config.meta.crop_scale_max), grid=config.data.grid)


class ValidationCurves:
  """PSNR after 0..max(config.eval_steps) steps of the normal fit (config.fit.optimizer, full
  image) on each validation image, from given params and from the random init the meta-training
  started at (computed once)."""

  def __init__(self, config: ml_collections.ConfigDict, spec: dict[str, Any],
               images: list[tuple[str, np.ndarray]]):
    model = fields.make_field_model(**spec, sine=config.sine)
    self.apply_fn = models.apply_fn(model)
    self.random_params = fields.init_params(model, jax.random.PRNGKey(config.seed))
    self.optimizer = optimizers.make_optimizer(**config.fit.optimizer)
    self.report = int_list(config, 'eval_steps')
    self.steps = max(self.report)
    self.names = [name for name, _ in images]
    self.samples = [grids.image_to_samples(image, config.data.grid) for _, image in images]
    self._random: np.ndarray | None = None
    self.latest: tuple[int, np.ndarray] | None = None

  def curves(self, params: Any) -> np.ndarray:
    """(images, steps + 1) PSNR in dB."""
    return np.stack([np.asarray(curves.psnr_curve(self.apply_fn, params, c, v, self.optimizer,
                                                  self.steps)) for c, v in self.samples])

  @property
  def random(self) -> np.ndarray:
    if self._random is None:
      self._random = self.curves(self.random_params)
    return self._random

  def __call__(self, state: training.TrainState) -> dict[str, float]:
    learned = self.curves(state.params)
    self.latest = (int(state.step), learned)
    scalars = {}
    for s in self.report:
      scalars[f'psnr_after_{s}'] = float(learned[:, s].mean())
      scalars[f'random_psnr_after_{s}'] = float(self.random[:, s].mean())
    scalars['psnr'] = scalars[f'psnr_after_{self.steps}']
    logging.info('step %d validation, learned vs random init: %s', int(state.step), '  '.join(
        f'{s} steps {scalars[f"psnr_after_{s}"]:.2f} vs {scalars[f"random_psnr_after_{s}"]:.2f}'
        for s in self.report))
    return scalars

  def final(self, params: Any, step: int) -> np.ndarray:
    """The learned curves at ``step`` (the last evaluation's, if it was at this step)."""
    if self.latest is not None and self.latest[0] == step:
      return self.latest[1]
    return self.curves(params)


def write_curves(workdir: str, validation: ValidationCurves, learned: np.ndarray,
                 title: str) -> dict[str, Any]:
  """curves.json (per image and mean, learned and random) and curves.png (the means)."""
  steps = list(range(validation.steps + 1))
  record = {'steps': steps,
            'learned': dict(zip(validation.names, learned.tolist())),
            'random': dict(zip(validation.names, validation.random.tolist())),
            'learned_mean': learned.mean(axis=0).tolist(),
            'random_mean': validation.random.mean(axis=0).tolist()}
  if common.is_main_process():
    common.write_json(os.path.join(workdir, 'curves.json'), record)
    figures.curves(os.path.join(workdir, 'curves.png'),
                   {'learned init': (steps, record['learned_mean']),
                    'random init': (steps, record['random_mean'])},
                   xlabel='test-time steps (Adam, full image)', ylabel='validation PSNR (dB)',
                   title=title)
  return record


def train(config: ml_collections.ConfigDict, workdir: str) -> dict[str, Any]:
  """Meta-trains the init; returns what it writes to metrics.json."""
  spec = model_spec(config)
  photos = open_photos(config, config.dataset)  # Data errors before the workdir.
  stream = make_tasks(config, photos)
  validation = ValidationCurves(config, spec, views(config, open_photos(config,
                                                                        config.val_dataset)))
  workdir = common.require_workdir(workdir, config)
  tag = f'{config.meta.algorithm}_{config.model.name}_{config.colour}'
  logging.info('[%s] %d train photos, meta-batch %d of crops %s px, %d inner %s steps (lr %g) on '
               '%s pixels, %d outer steps.', tag, len(photos), config.meta.meta_batch,
               config.meta.crop_sizes, config.inner.steps, config.inner.name,
               config.inner.learning_rate, config.meta.inner_pixels or 'all', config.steps)
  fingerprint = {'model': spec, 'optimizer': config.optimizer.to_dict(), 'seed': config.seed,
                 'meta': config.meta.to_dict(), 'inner': config.inner.to_dict(),
                 'dataset': config.dataset, 'colour': config.colour, 'grid': config.data.grid}
  writer = common.ScalarWriter(os.path.join(workdir, 'tb'))
  start = time.perf_counter()
  try:
    result = driver.run(
        driver.field_state(config, spec), make_loss_fn(config), workdir=workdir, tag=tag,
        schedule=driver.Schedule(config.steps, log_every=config.log_every,
                                 eval_every=config.eval_every,
                                 checkpoint_every=config.checkpoint_every),
        writer=writer, batch_fn=stream.batch, eval_fn=validation,
        param_sharding=config.param_sharding, fingerprint=fingerprint, resume=config.resume,
        nan_policy=config.nan_policy, profile_steps=config.profile_steps)
  finally:
    writer.close()
  seconds = time.perf_counter() - start
  steps = int(result.state.step)
  trained_on = {'dataset': config.dataset, 'colour': config.colour,
                'crop_sizes': int_list(config, 'meta.crop_sizes', minimum=2),
                'crop_scale': [config.meta.crop_scale_min, config.meta.crop_scale_max],
                'algorithm': config.meta.algorithm, 'first_order': config.meta.first_order,
                'meta_batch': config.meta.meta_batch, 'inner': config.inner.to_dict(),
                'inner_pixels': config.meta.inner_pixels,
                'outer_pixels': config.meta.outer_pixels,
                'outer_optimizer': config.optimizer.to_dict(), 'steps': steps,
                'seed': config.seed}
  path = os.path.join(workdir, f'init_{config.colour}.init')
  size = 0
  if common.is_main_process():
    size = init_file.save(path, result.params, model=spec, grid=config.data.grid,
                          trained_on=trained_on)
  record = write_curves(workdir, validation, validation.final(result.params, steps),
                        f'{tag}, {steps} outer steps, {config.image_size}^2')
  output = {'task': 'train', 'init_file': path, 'init_bytes': size, 'steps': steps,
            'wall_seconds': seconds, 'seconds_per_step': result.seconds_per_step,
            'history': result.history, 'train_seconds': result.train_seconds,
            'resumed_from_step': result.resumed_from, 'curves': record,
            'device': jax.devices()[0].device_kind, 'machine': common.machine(),
            'config': config.to_dict()}
  if common.is_main_process():
    common.write_json(os.path.join(workdir, 'metrics.json'), output)
  logging.info('[%s] %d outer steps in %.0f s; wrote %s (%d bytes).', tag, steps, seconds, path,
               size)
  return output
