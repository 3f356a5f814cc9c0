"""Image fitting (paper Fig. 1): SIREN vs ReLU, ReLU+PE and tanh MLPs on one image.

Writes to the workdir: figure.png (fits with autodiff |grad| and Laplacian, next to the ground
truth's finite differences), psnr.png (PSNR vs step), metrics.json, TensorBoard scalars under
tb/ and checkpoints under checkpoints/<model>/.
"""

from __future__ import annotations

import os

import jax
import ml_collections
import numpy as np
from absl import logging

from experiments import common, field_training, figures
from siren_jax import finite_differences, fitting, grids, images, metrics, sharding
from siren_jax.models import fields


def check_config(config: ml_collections.ConfigDict) -> list[str]:
  """Validates the config; returns the model names."""
  names = common.split_names(config.models)
  if not names:
    raise ValueError('config.models is empty; list one or more of ' + ', '.join(fields.FIELD_MODELS))
  for name in names:
    if name not in fields.FIELD_MODELS:
      raise ValueError(f'config.models: unknown model {name!r}; choose from '
                       f'{", ".join(fields.FIELD_MODELS)}')
  if len(set(names)) != len(names):
    raise ValueError(f'config.models lists a model twice: {config.models!r}')
  common.check_positive(config, ('steps',))
  common.check_non_negative(config, ('image_size',))
  if config.mode not in images.MODES:
    raise ValueError(f'config.mode must be one of {", ".join(images.MODES)}, got {config.mode!r}')
  field_training.check_model_fields(config)
  return names


def display_derivatives(grad: np.ndarray, lap: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
  """(H, W, C, 2) gradient and (H, W, C) Laplacian -> |grad| and Laplacian display images,
  channels averaged."""
  return (images.magnitude_to_rgb(grad.mean(axis=2)),
          images.laplacian_to_rgb(lap.mean(axis=2)))


def train_and_evaluate(config: ml_collections.ConfigDict, workdir: str) -> dict:
  """Fits every model in ``config.models``; returns the metrics written to metrics.json."""
  names = check_config(config)
  workdir = common.require_workdir(workdir)
  image = images.load_image(config.image, mode=config.mode, size=config.image_size or None)
  height, width, channels = image.shape
  coords, values = grids.image_to_samples(image)
  batch = {'coords': coords, 'values': values}
  logging.info('Fitting %s (%dx%dx%d) with %s for %d steps on %d %s device(s), %d process(es).',
               config.image, height, width, channels, ', '.join(names), config.steps,
               jax.device_count(), jax.devices()[0].platform, jax.process_count())

  gt_grad = finite_differences.sobel_gradient(image)
  gt_lap = finite_differences.laplacian(image)
  rows = [[('ground truth', figures.to_unit(image)),
           *zip(('|grad| (Sobel)', 'Laplacian (FD)'), display_derivatives(gt_grad, gt_lap))]]
  curves, summary = {}, {}
  writer = common.ScalarWriter(os.path.join(workdir, 'tb'))
  try:
    for name in names:
      def eval_fn(state):
        # Host copy of the (replicated or sharded, possibly multi-host) params: every process
        # evaluates the whole image on its own first device.
        params = sharding.to_host(state.params)
        prediction = fitting.evaluate(state.apply_fn, params, coords, config.chunk_size)
        return {'psnr': float(metrics.psnr(prediction, values))}

      result = field_training.train_field(
          config, workdir, tag=name, model_name=name, out_features=channels,
          image_side=max(height, width), loss_fn=fitting.image_loss, batch=batch,
          eval_fn=eval_fn, writer=writer)
      state = result.state
      params = sharding.to_host(state.params)
      fit = np.asarray(fitting.render(state.apply_fn, params, height, width, config.chunk_size))
      grad, lap = jax.device_get(fitting.derivatives(state.apply_fn, params, coords,
                                                     config.chunk_size))
      grad = np.asarray(grad).reshape(height, width, channels, 2)
      lap = np.asarray(lap).reshape(height, width, channels)
      psnr = float(metrics.psnr(fit, image))
      rows.append([(f'{name}: {psnr:.1f} dB', figures.to_unit(fit)),
                   *zip(('|grad| (autodiff)', 'Laplacian (autodiff)'),
                        display_derivatives(grad, lap))])
      curves[name] = ([r['step'] for r in result.history], [r['psnr'] for r in result.history])
      summary[name] = {
          'psnr': psnr,
          'ssim': metrics.ssim(fit, image),
          'steps': int(state.step),
          'seconds_per_step': result.seconds_per_step,
          'resumed_from_step': result.resumed_from,
          'psnr_history': result.history,
      }
      if common.is_main_process():
        logging.info('[%s] final PSNR %.2f dB, %.4f s/step', name, psnr,
                     result.seconds_per_step)
  finally:
    writer.close()

  output = {'image': config.image, 'height': height, 'width': width, 'channels': channels,
            'device': jax.devices()[0].device_kind, 'num_devices': jax.device_count(),
            'num_processes': jax.process_count(), 'models': summary,
            'config': config.to_dict()}
  if common.is_main_process():
    figures.image_grid(os.path.join(workdir, 'figure.png'), rows)
    figures.curves(os.path.join(workdir, 'psnr.png'), curves, xlabel='step', ylabel='PSNR (dB)',
                   title=f'{config.image} {height}x{width}, lr {config.learning_rate:g}')
    common.write_json(os.path.join(workdir, 'metrics.json'), output)
  return output
