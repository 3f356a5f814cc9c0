"""Colourisation (the original report): Wallner's conv colouriser with FR/SRS/S130 activation
schedules, or the fully connected SIREN, trained on L -> ab (conv) or grey -> RGB (FC).

Writes to the workdir: figure_{train,val,test}.png (prediction | ground truth | grey input),
loss.png (train and val loss per epoch), metrics.json, model.json (what the checkpoints hold),
TensorBoard scalars under tb/ and checkpoints under checkpoints/.

"train loss" in the curves and metrics is the loss on fixed centre crops of (up to
max_eval_examples) training examples, measured at every evaluation, so it is comparable across
models and epochs; the noisy minibatch loss goes to the progress log and TensorBoard.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax
from absl import logging
from etils import epath

from experiments import common, figures
from siren_jax import checkpoints as ckpt
from siren_jax import colour, data, metrics, sharding, training
from siren_jax.models import colorizers

MODELS = ('FR', 'SRS', 'S130', 'FC')
# Config fields that define the network (checked against model.json before reusing a workdir).
ARCHITECTURE_FIELDS = ('model', 'image_size', 'width_scale', 'sine_init', 'first_omega0',
                       'hidden_omega0', 'fusion', 'fc_sine_layers', 'fc_first_omega0',
                       'fc_hidden_omega0')


def check_config(config: ml_collections.ConfigDict) -> None:
  """One-line errors for bad config values."""
  if config.model not in MODELS:
    raise ValueError(f'config.model must be one of {", ".join(MODELS)}, got {config.model!r}')
  common.check_positive(config, ('image_size', 'batch_size', 'epochs', 'learning_rate',
                                 'width_scale', 'first_omega0', 'hidden_omega0', 'fc_sine_layers',
                                 'fc_first_omega0', 'fc_hidden_omega0', 'max_eval_examples',
                                 'eval_every_epochs'))
  common.check_non_negative(config, ('checkpoint_every_epochs', 'num_figure_examples'))
  if config.param_sharding not in sharding.PARAM_SHARDINGS:
    raise ValueError(f'config.param_sharding must be one of {", ".join(sharding.PARAM_SHARDINGS)}'
                     f', got {config.param_sharding!r}')
  if config.model != 'FC' and config.image_size % colorizers.DOWNSAMPLING:
    raise ValueError(f'config.image_size={config.image_size} must be a multiple of '
                     f'{colorizers.DOWNSAMPLING} for the conv colouriser')
  try:
    colorizers.fusion_embedding(config.fusion)  # Unknown names and unreadable files fail here.
  except ValueError as e:
    raise ValueError(f'config.fusion: {e}') from None
  if config.fusion and config.model == 'FC':
    raise ValueError('config.fusion applies to the conv colourisers only, not FC')
  if config.sine_init not in colorizers.SINE_INITS:
    raise ValueError(f'config.sine_init must be one of {", ".join(colorizers.SINE_INITS)}, got '
                     f'{config.sine_init!r}')


def architecture(config: ml_collections.ConfigDict) -> dict[str, Any]:
  return {name: config[name] for name in ARCHITECTURE_FIELDS}


def build_model(config: ml_collections.ConfigDict):
  """The colouriser named by config.model."""
  if config.model == 'FC':
    return colorizers.FCColorizer(height=config.image_size, width=config.image_size,
                                  sine_layers=config.fc_sine_layers,
                                  first_omega0=config.fc_first_omega0,
                                  hidden_omega0=config.fc_hidden_omega0)
  embedding = colorizers.fusion_embedding(config.fusion)
  global_features = (colorizers.GLOBAL_FUSION_FEATURES
                     if config.fusion == colorizers.GLOBAL_FUSION else 0)
  return colorizers.Colorizer(schedule=config.model, first_omega0=config.first_omega0,
                              hidden_omega0=config.hidden_omega0, sine_init=config.sine_init,
                              width_scale=config.width_scale,
                              fusion_features=embedding[1] if embedding else 0,
                              global_features=global_features)


def model_inputs(config: ml_collections.ConfigDict, grey: jax.Array,
                 embedding: jax.Array | None = None):
  """What the model takes: grey (B, H, W, 1), or {'grey', 'embedding'} with fusion on
  (``embedding``: precomputed (B, D) vectors, else computed by config.fusion's function)."""
  external = colorizers.fusion_embedding(config.fusion)
  if external is None:  # No fusion, or the global branch inside the model.
    return grey
  if embedding is None:
    embedding = external[0](grey)
  return {'grey': grey, 'embedding': embedding}


def target_key(config: ml_collections.ConfigDict) -> str:
  return 'rgb' if config.model == 'FC' else 'ab'


def make_loss_fn(config: ml_collections.ConfigDict) -> training.LossFn:
  """MSE of ab / 128 (conv) or of RGB in [-1, 1] (FC)."""
  key = target_key(config)

  def loss_fn(params, batch, apply_fn):
    prediction = apply_fn(params, model_inputs(config, batch['grey'], batch.get('embedding')))
    return training.mse(prediction, batch[key]), {}

  return loss_fn


def make_predict_rgb(config: ml_collections.ConfigDict,
                     apply_fn: Callable[..., jax.Array]) -> Callable[[Any, jax.Array], jax.Array]:
  """A jitted (params, grey (B, H, W, 1)) -> (model output, RGB (B, H, W, 3) in [-1, 1])."""

  def predict(params, grey):
    output = apply_fn(params, model_inputs(config, grey))
    if config.model == 'FC':
      return output, jnp.clip(output, -1.0, 1.0)
    return output, colour.scaled_lab_to_rgb(grey, output)

  return jax.jit(predict)


def _in_chunks(fn: Callable, params: Any, grey: np.ndarray, chunk: int) -> tuple[np.ndarray, ...]:
  """fn over ``chunk``-sized slices of grey; the last one is padded so that fn compiles once."""
  n = len(grey)
  padded = np.concatenate([grey, np.repeat(grey[-1:], -n % chunk, axis=0)])
  outputs = [jax.device_get(fn(params, padded[i:i + chunk])) for i in range(0, n, chunk)]
  return tuple(np.concatenate(parts)[:n] for parts in zip(*outputs))


def evaluate_split(config, predict, params, split_data: dict[str, np.ndarray]) -> dict[str, Any]:
  """Loss, PSNR of the colourised RGB and of the grey (ab = 0) baseline on one eval set."""
  output, rgb = _in_chunks(predict, params, split_data['grey'], config.batch_size)
  grey_rgb = colour.grey_baseline_rgb(split_data['grey'])
  return {
      'loss': float(np.mean((output - split_data[target_key(config)]) ** 2)),
      'psnr': float(metrics.psnr(rgb, split_data['rgb'])),
      'grey_psnr': float(metrics.psnr(grey_rgb, split_data['rgb'])),
      'rgb': rgb,
  }


def write_model_json(workdir: str, config: ml_collections.ConfigDict) -> None:
  """Records the architecture in the workdir; a different one there is an error."""
  path = os.path.join(workdir, 'model.json')
  if epath.Path(path).exists():
    check_workdir_model(workdir, config)
  else:
    common.write_json(path, architecture(config))


def check_workdir_model(workdir: str, config: ml_collections.ConfigDict) -> None:
  """Raises ValueError if the workdir's checkpoints belong to another architecture. (FR, SRS and
  S130 have identical parameter shapes, so the checkpoint alone cannot tell them apart.)"""
  path = os.path.join(workdir, 'model.json')
  if not epath.Path(path).exists():
    raise FileNotFoundError(f'{workdir!r} holds no trained colouriser (no model.json)')
  stored = json.loads(epath.Path(path).read_text())
  differences = [f'{k}={stored.get(k)!r} there, {v!r} here'
                 for k, v in architecture(config).items() if stored.get(k) != v]
  if differences:
    raise ValueError(f'{workdir!r} holds a {stored.get("model")} model that differs from '
                     f'config.model={config.model} ({"; ".join(differences)}); use its config '
                     f'or a fresh --workdir')


def make_state(config: ml_collections.ConfigDict) -> training.TrainState:
  model = build_model(config)
  sample = jnp.zeros((1, config.image_size, config.image_size, 1), jnp.float32)
  return training.create_train_state(model, jax.random.PRNGKey(config.seed),
                                     model_inputs(config, sample),
                                     optax.adam(config.learning_rate))


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


def epochs_to_reach(history: list[dict[str, Any]], threshold: float,
                    key: str = 'train_loss') -> float | None:
  """The first evaluated epoch whose ``key`` is <= threshold; None if never."""
  for record in history:
    if record[key] <= threshold:
      return record['epoch']
  return None


def train_and_evaluate(config: ml_collections.ConfigDict, workdir: str) -> dict[str, Any]:
  """Trains config.model; returns the metrics written to metrics.json."""
  check_config(config)
  workdir = common.require_workdir(workdir)
  pipeline = make_pipeline(config)  # Before model.json: a data error leaves the workdir reusable.
  write_model_json(workdir, config)
  steps_per_epoch = pipeline.steps_per_epoch
  num_steps = config.epochs * steps_per_epoch
  tag = config.model
  logging.info('[%s] %s: %d/%d/%d train/val/test examples, %dx%d crops, batch %d, %d steps/epoch, '
               '%d epochs on %s.', tag, config.dataset,
               *(len(pipeline.splits[s]) for s in data.SPLITS), config.image_size,
               config.image_size, config.batch_size, steps_per_epoch, config.epochs,
               jax.devices()[0].platform)

  state = make_state(config)
  # Data parallel over all devices; the pipeline yields this process's rows of each batch.
  train_step = training.make_train_step(
      make_loss_fn(config), mesh=sharding.make_mesh(), param_sharding=config.param_sharding,
      process_local_batches=config.shard_data_by_process)
  predict = make_predict_rgb(config, state.apply_fn)
  keys = ('grey', target_key(config))
  writer = common.ScalarWriter(os.path.join(workdir, 'tb'))
  clock = {'time': time.perf_counter(), 'step': 0}

  def batch_fn(step: int) -> dict[str, np.ndarray]:
    batch = pipeline.train_batch(step)
    return {k: batch[k] for k in keys}

  def log_fn(step: int, scalars: dict[str, float]) -> None:
    now = time.perf_counter()
    images_per_second = ((step - clock['step']) * config.batch_size /
                         max(now - clock['time'], 1e-9))
    clock.update(time=now, step=step)
    scalars = {**scalars, 'images_per_s': images_per_second}
    common.log_progress(f'{tag} epoch {step / steps_per_epoch:g}/{config.epochs}', step,
                        num_steps, scalars)
    writer.write(step, scalars, prefix='train/')

  def eval_fn(state: training.TrainState) -> dict[str, float]:
    params = sharding.to_host(state.params)  # Every process evaluates on its first device.
    train = evaluate_split(config, predict, params, pipeline.eval_set('train'))
    val = evaluate_split(config, predict, params, pipeline.eval_set('val'))
    scalars = {'epoch': int(state.step) / steps_per_epoch, 'train_loss': train['loss'],
               'val_loss': val['loss'], 'val_psnr': val['psnr']}
    writer.write(int(state.step), scalars, prefix='eval/')
    logging.info('[%s] epoch %g/%d  train_loss=%.5f  val_loss=%.5f  val_psnr=%.2f', tag,
                 scalars['epoch'], config.epochs, train['loss'], val['loss'], val['psnr'])
    return scalars

  manager = ckpt.make_manager(os.path.join(workdir, 'checkpoints'))
  try:
    result = training.train_loop(
        state, train_step, batch_fn, num_steps=num_steps,
        eval_every=config.eval_every_epochs * steps_per_epoch, eval_fn=eval_fn,
        log_every=steps_per_epoch, log_fn=log_fn, checkpoint_manager=manager,
        checkpoint_every=config.checkpoint_every_epochs * steps_per_epoch)
  finally:
    manager.close()
    writer.close()
  state = result.state

  summary: dict[str, Any] = {}
  rows: dict[str, list] = {}
  for split in data.SPLITS:
    split_data = pipeline.eval_set(split)
    evaluated = evaluate_split(config, predict, sharding.to_host(state.params), split_data)
    summary[split] = {k: evaluated[k] for k in ('loss', 'psnr', 'grey_psnr')}
    summary[split]['examples'] = int(len(split_data['grey']))
    rows[split] = [
        [('prediction', figures.to_unit(evaluated['rgb'][i])),
         ('ground truth', figures.to_unit(split_data['rgb'][i])),
         ('grey input', figures.to_unit(split_data['grey'][i]))]
        for i in range(min(config.num_figure_examples, len(split_data['grey'])))]
  history = result.history
  output = {
      'model': config.model,
      'dataset': config.dataset,
      'examples': {s: int(len(pipeline.splits[s])) for s in data.SPLITS},
      'epochs': int(state.step) // steps_per_epoch,
      'steps_per_epoch': steps_per_epoch,
      'final_train_loss': history[-1]['train_loss'],
      'final_val_loss': history[-1]['val_loss'],
      'splits': summary,
      'loss_threshold': config.loss_threshold,
      'epochs_to_threshold': epochs_to_reach(history, config.loss_threshold),
      'seconds_per_epoch': result.seconds_per_step * steps_per_epoch,
      'resumed_from_step': result.resumed_from,
      'history': history,
      'device': jax.devices()[0].device_kind,
      'config': config.to_dict(),
  }
  logging.info('[%s] test PSNR %.2f dB (grey baseline %.2f dB), %.3f s/epoch', tag,
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
                   title=f'{config.model} on {config.dataset} {config.image_size}x'
                         f'{config.image_size}')
    common.write_json(os.path.join(workdir, 'metrics.json'), output)
  return output
