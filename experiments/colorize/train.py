"""Colourisation (the original report): Wallner's conv colouriser with FR/SRS/S130 activation
schedules, or the fully connected SIREN, trained on L -> ab (conv) or grey -> RGB (FC).

Writes to the workdir: figure_{train,val,test}.png (prediction | ground truth | grey input),
loss.png (train and val loss per epoch), metrics.json, TensorBoard scalars under tb/ and
checkpoints under checkpoints/<config.model.name>/, beside the run's fingerprint (run.json:
``run_fingerprint``, which colorize_photo checks too).

"train loss" in the curves and metrics is the loss on fixed centre crops of (up to
max_eval_examples) training examples, measured at every evaluation, so it is comparable across
models and epochs; the noisy minibatch loss goes to the progress log and TensorBoard.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
from absl import logging

from experiments import common, driver, figures
from experiments.configs.colorize import MODELS
from siren_jax import data, grids, metrics, optimizers, sharding, training
from siren_jax.colorize import colorizers, colour

# With the architecture (config.model, image_size) and config.optimizer, the config fields that
# change what training computes (the run's fingerprint, driver.claim_checkpoints); epochs and
# eval/checkpoint cadence are not among them.
RUN_FIELDS = ('seed', 'batch_size', 'dataset', 'image_key', 'val_fraction', 'test_fraction',
              'split_seed')


def check_config(config: ml_collections.ConfigDict) -> None:
  """One-line errors for bad config values."""
  common.check_choice(config, 'model.name', MODELS)
  common.check_positive(config, ('image_size', 'batch_size', 'epochs', 'model.width_scale',
                                 'model.first_omega0', 'model.hidden_omega0',
                                 'model.fc_sine_layers', 'model.fc_first_omega0',
                                 'model.fc_hidden_omega0', 'max_eval_examples',
                                 'eval_every_epochs'))
  common.check_non_negative(config, ('checkpoint_every_epochs', 'num_figure_examples'))
  common.check_choice(config, 'param_sharding', sharding.PARAM_SHARDINGS)
  common.check_image_size(config)
  if config.model.name != 'FC' and config.image_size % colorizers.DOWNSAMPLING:
    raise ValueError(f'config.image_size={config.image_size} must be a multiple of '
                     f'{colorizers.DOWNSAMPLING} for the conv colouriser')
  try:
    colorizers.fusion_embedding(config.model.fusion)  # Unknown names, unreadable files fail here.
  except ValueError as e:
    raise ValueError(f'config.model.fusion: {e}') from None
  if config.model.fusion and config.model.name == 'FC':
    raise ValueError('config.model.fusion applies to the conv colourisers only, not FC')
  if config.model.hint_inputs and config.model.name == 'FC':
    raise ValueError('config.model.hint_inputs applies to the conv colourisers only, not FC')
  common.check_choice(config, 'model.sine_init', colorizers.SINE_INITS)
  driver.check_optimizer(config)
  driver.check_run_fields(config)
  # Every batch is split over all devices: say so before any data is read or file written.
  if config.batch_size % jax.device_count():
    raise ValueError(f'config.batch_size={config.batch_size} does not split over the '
                     f'{jax.device_count()} devices; use a multiple of {jax.device_count()}')


def architecture(config: ml_collections.ConfigDict) -> dict[str, Any]:
  """What defines the network: config.model (whole) and the crop size. hint_inputs is left out
  when off, so runs from before the field existed keep their fingerprint."""
  model = config.model.to_dict()
  if not model.get('hint_inputs'):
    model.pop('hint_inputs', None)
  return {'model': model, 'image_size': config.image_size}


def build_model(config: ml_collections.ConfigDict):
  """The colouriser config.model describes (config.model.name: FR, SRS, S130 or FC)."""
  model = config.model
  if model.name == 'FC':
    return colorizers.FCColorizer(height=config.image_size, width=config.image_size,
                                  sine_layers=model.fc_sine_layers,
                                  first_omega0=model.fc_first_omega0,
                                  hidden_omega0=model.fc_hidden_omega0, sine=config.sine)
  embedding = colorizers.fusion_embedding(model.fusion)
  global_features = (colorizers.GLOBAL_FUSION_FEATURES
                     if model.fusion == colorizers.GLOBAL_FUSION else 0)
  return colorizers.Colorizer(schedule=model.name, first_omega0=model.first_omega0,
                              hidden_omega0=model.hidden_omega0, sine_init=model.sine_init,
                              width_scale=model.width_scale,
                              fusion_features=embedding[1] if embedding else 0,
                              global_features=global_features, sine=config.sine,
                              hint_inputs=model.hint_inputs)


def model_inputs(config: ml_collections.ConfigDict, grey: jax.Array,
                 embedding: jax.Array | None = None, hints: jax.Array | None = None):
  """What the model takes: grey (B, H, W, 1), or a dict {'grey', 'embedding' (with fusion on:
  ``embedding``, precomputed (B, D) vectors, else computed by config.model.fusion's function),
  'hints' (with config.model.hint_inputs: ``hints`` (B, H, W, 3), else none: zeros)}."""
  external = colorizers.fusion_embedding(config.model.fusion)
  inputs = {'grey': grey}
  if external is not None:  # Not for no fusion, nor for the global branch inside the model.
    inputs['embedding'] = external[0](grey) if embedding is None else embedding
  if config.model.hint_inputs:
    inputs['hints'] = jnp.zeros(grey.shape[:3] + (3,), grey.dtype) if hints is None else hints
  return inputs if len(inputs) > 1 else grey


def target_key(config: ml_collections.ConfigDict) -> str:
  return 'rgb' if config.model.name == 'FC' else 'ab'


def make_loss_fn(config: ml_collections.ConfigDict) -> training.LossFn:
  """MSE of ab / 128 (conv) or of RGB in [-1, 1] (FC)."""
  key = target_key(config)

  def loss_fn(params, batch, apply_fn):
    prediction = apply_fn(params, model_inputs(config, batch['grey'], batch.get('embedding'),
                                               batch.get('hints')))
    return metrics.mse(prediction, batch[key]), {}

  return loss_fn


def make_predict_rgb(config: ml_collections.ConfigDict,
                     apply_fn: Callable[..., jax.Array]) -> Callable[[Any, jax.Array], jax.Array]:
  """A jitted (params, grey (B, H, W, 1)) -> (model output, RGB (B, H, W, 3) in [-1, 1]),
  ``config.batch_size`` images at a time (``grids.evaluate_in_chunks``)."""

  def predict_chunk(params, grey):
    output = apply_fn(params, model_inputs(config, grey))
    if config.model.name == 'FC':
      return output, jnp.clip(output, -1.0, 1.0)
    return output, colour.scaled_lab_to_rgb(grey, output)

  @jax.jit
  def predict(params, grey):
    return grids.evaluate_in_chunks(functools.partial(predict_chunk, params), grey,
                                    config.batch_size)

  return predict


def evaluate_split(config, predict, params, split_data: dict[str, np.ndarray]) -> dict[str, Any]:
  """Loss, PSNR of the colourised RGB and of the grey (ab = 0) baseline on one eval set."""
  output, rgb = jax.device_get(predict(params, split_data['grey']))
  grey_rgb = colour.grey_baseline_rgb(split_data['grey'])
  return {
      'loss': float(np.mean((output - split_data[target_key(config)]) ** 2)),
      'psnr': float(metrics.psnr(rgb, split_data['rgb'])),
      'grey_psnr': float(metrics.psnr(grey_rgb, split_data['rgb'])),
      'rgb': rgb,
  }


def check_workdir_model(workdir: str, config: ml_collections.ConfigDict) -> None:
  """Raises unless ``workdir`` holds a trained config.model.name whose architecture and
  optimiser (the train state's shape), as its run's fingerprint records them
  (``run_fingerprint``, the driver's run.json), are the config's. (FR, SRS and S130 have
  identical parameter shapes: the checkpoint cannot tell them apart.)"""
  name = config.model.name
  stored = driver.stored_fingerprint(workdir, name)
  if stored is None:
    raise FileNotFoundError(f'{workdir!r} holds no trained colouriser {name} (no checkpoints/'
                            f'{name}/{driver.RUN_FILE})')
  current = {**architecture(config), 'optimizer': config.optimizer.to_dict()}
  differences = driver.fingerprint_differences({k: stored.get(k) for k in current}, current)
  if differences:
    raise ValueError(f'{workdir!r} holds a {name} model that differs from this config '
                     f'({"; ".join(differences)}); use its config or a fresh --workdir')


def make_state(config: ml_collections.ConfigDict) -> training.TrainState:
  model = build_model(config)
  sample = jnp.zeros((1, config.image_size, config.image_size, 1), jnp.float32)
  return training.create_train_state(model, jax.random.PRNGKey(config.seed),
                                     model_inputs(config, sample),
                                     optimizers.make_optimizer(**config.optimizer))


def make_pipeline(config: ml_collections.ConfigDict) -> data.Pipeline:
  shard = config.shard_data_by_process
  return data.Pipeline(
      config.dataset, image_size=config.image_size, batch_size=config.batch_size,
      seed=config.seed, data_dir=config.data_dir or None, image_key=config.image_key,
      val_fraction=config.val_fraction, test_fraction=config.test_fraction,
      split_seed=config.split_seed, max_eval_examples=config.max_eval_examples,
      photo_side=config.photo_side,
      process_index=jax.process_index() if shard else 0,
      process_count=jax.process_count() if shard else 1)


def run_fingerprint(config: ml_collections.ConfigDict,
                    pipeline: data.Pipeline) -> dict[str, Any]:
  """What defines a colourisation run: architecture, optimiser, data fields and a content hash
  of the first training examples (the same on every process)."""
  first = [pipeline.source[int(i)] for i in pipeline.splits['train'][:8]]
  return {**architecture(config), 'optimizer': config.optimizer.to_dict(),
          **{k: config[k] for k in RUN_FIELDS},
          'train_examples': int(len(pipeline.splits['train'])),
          'data_sha256': driver.content_hash(first)}


def epochs_to_reach(history: list[dict[str, Any]], threshold: float,
                    key: str = 'train_loss') -> float | None:
  """The first evaluated epoch whose ``key`` is <= threshold; None if never."""
  for record in history:
    if record[key] <= threshold:
      return record['epoch']
  return None


def train_and_evaluate(config: ml_collections.ConfigDict, workdir: str) -> dict[str, Any]:
  """Trains the colouriser of config.model; returns the metrics written to metrics.json."""
  check_config(config)
  pipeline = make_pipeline(config)  # Before the workdir: a data error writes nothing.
  workdir = common.require_workdir(workdir, config)
  steps_per_epoch = pipeline.steps_per_epoch
  num_steps = config.epochs * steps_per_epoch
  tag = config.model.name
  logging.info('[%s] %s: %d/%d/%d train/val/test examples, %dx%d crops, batch %d, %d steps/epoch, '
               '%d epochs on %s.', tag, config.dataset,
               *(len(pipeline.splits[s]) for s in data.SPLITS), config.image_size,
               config.image_size, config.batch_size, steps_per_epoch, config.epochs,
               jax.devices()[0].platform)

  keys = ('grey', target_key(config))
  state = make_state(config)
  predict = make_predict_rgb(config, state.apply_fn)
  writer = common.ScalarWriter(os.path.join(workdir, 'tb'))

  def batch_fn(step: int) -> dict[str, np.ndarray]:
    batch = pipeline.train_batch(step)
    return {k: batch[k] for k in keys}

  def eval_fn(state: training.TrainState) -> dict[str, float]:
    train = evaluate_split(config, predict, state.params, pipeline.eval_set('train'))
    val = evaluate_split(config, predict, state.params, pipeline.eval_set('val'))
    scalars = {'epoch': int(state.step) / steps_per_epoch, 'train_loss': train['loss'],
               'val_loss': val['loss'], 'val_psnr': val['psnr']}
    logging.info('[%s] epoch %g/%d  train_loss=%.5f  val_loss=%.5f  val_psnr=%.2f', tag,
                 scalars['epoch'], config.epochs, train['loss'], val['loss'], val['psnr'])
    return scalars

  try:
    # Data parallel over all devices; the pipeline yields this process's rows of each batch.
    result = driver.run(
        state, make_loss_fn(config), workdir=workdir, tag=tag, writer=writer,
        schedule=driver.Schedule(
            num_steps, log_every=steps_per_epoch,
            eval_every=config.eval_every_epochs * steps_per_epoch,
            checkpoint_every=config.checkpoint_every_epochs * steps_per_epoch),
        batch_fn=batch_fn, eval_fn=eval_fn, param_sharding=config.param_sharding,
        process_local_batches=config.shard_data_by_process,
        progress=lambda step: f'{tag} epoch {step / steps_per_epoch:g}/{config.epochs}',
        fingerprint=run_fingerprint(config, pipeline), resume=config.resume,
        nan_policy=config.nan_policy, profile_steps=config.profile_steps)
  finally:
    writer.close()
  params = result.params

  summary: dict[str, Any] = {}
  rows: dict[str, list] = {}
  for split in data.SPLITS:
    split_data = pipeline.eval_set(split)
    evaluated = evaluate_split(config, predict, params, split_data)
    summary[split] = {k: evaluated[k] for k in ('loss', 'psnr', 'grey_psnr')}
    summary[split]['examples'] = int(len(split_data['grey']))
    rows[split] = [
        [('prediction', figures.to_unit(evaluated['rgb'][i])),
         ('ground truth', figures.to_unit(split_data['rgb'][i])),
         ('grey input', figures.to_unit(split_data['grey'][i]))]
        for i in range(min(config.num_figure_examples, len(split_data['grey'])))]
  history = result.history
  output = {
      'model': config.model.name,
      'dataset': config.dataset,
      'examples': {s: int(len(pipeline.splits[s])) for s in data.SPLITS},
      'epochs': int(result.state.step) // steps_per_epoch,
      'steps_per_epoch': steps_per_epoch,
      'final_train_loss': history[-1]['train_loss'],
      'final_val_loss': history[-1]['val_loss'],
      'splits': summary,
      'loss_threshold': config.loss_threshold,
      'epochs_to_threshold': epochs_to_reach(history, config.loss_threshold),
      'seconds_per_epoch': (None if result.seconds_per_step is None
                            else result.seconds_per_step * steps_per_epoch),
      'resumed_from_step': result.resumed_from,
      'history': history,
      'device': jax.devices()[0].device_kind,
      'config': config.to_dict(),
  }
  logging.info('[%s] test PSNR %.2f dB (grey baseline %.2f dB), %s s/epoch', tag,
               summary['test']['psnr'], summary['test']['grey_psnr'], output['seconds_per_epoch'])
  if common.is_main_process():
    for split in data.SPLITS:
      if rows[split]:
        figures.image_grid(os.path.join(workdir, f'figure_{split}.png'), rows[split])
    epochs = [r['epoch'] for r in history]
    figures.curves(os.path.join(workdir, 'loss.png'),
                   {'train': (epochs, [r['train_loss'] for r in history]),
                    'val': (epochs, [r['val_loss'] for r in history])},
                   xlabel='epoch', ylabel='MSE', logy=True,
                   title=f'{config.model.name} on {config.dataset} {config.image_size}x'
                         f'{config.image_size}')
    common.write_json(os.path.join(workdir, 'metrics.json'), output)
  return output
