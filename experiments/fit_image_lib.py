"""Image fitting (paper Fig. 1): SIREN vs ReLU, ReLU+PE and tanh MLPs on one image.

Writes to the workdir: config.json (at the start), figure.png (fits with autodiff |grad| and
Laplacian, next to the ground truth's finite differences), <model>.png and <model>.inr (each
model's fitted image and its network, ``siren_jax.inr_file``), psnr.png (PSNR vs step),
psnr_vs_time.png (PSNR vs training time), metrics.json, TensorBoard scalars and images under tb/
and checkpoints under checkpoints/<model>/.

A learned init (``config.init``) starts the model of ``config.models`` it was learned for (its
spec's name, which must be listed); the other models start from their random init, so the run
compares the learned start with the baselines as usual. metrics.json and the ``.inr`` files
record, per model, the init it started from (null: random).
"""

from __future__ import annotations

import os

import jax
import ml_collections
import numpy as np
from absl import logging

from experiments import common, driver, figures
from siren_jax import (finite_differences, fitting, grids, images, init_file, inr_file, metrics,
                       render)


def check_config(config: ml_collections.ConfigDict) -> list[str]:
  """Validates the config; returns the model names."""
  common.check_image_size(config)
  common.check_positive(config, ('figure_max_side',))
  common.check_choice(config, 'mode', images.MODES)
  driver.check_data_fields(config)
  return driver.check_model_fields(config, 'models')


def check_init(config: ml_collections.ConfigDict, names: list[str], specs: dict[str, dict],
               size: tuple[int, int]) -> init_file.LearnedInit | None:
  """``config.init``'s learned init, checked against the spec of the model in ``names`` it is
  for and the (height, width) ``size`` of the fit; None without one. One-line errors for a
  missing or foreign file, a model not in ``config.models`` and a spec that differs."""
  init = driver.load_init(config)
  if init is None:
    return None
  name = init.model['name']
  if name not in names:
    raise ValueError(f'config.init: {config.init!r} is an init for {name} but config.models '
                     f'({config.models!r}) does not list {name}; add it')
  driver.check_init(config, init, specs[name], size)
  return init


def display_derivatives(grad: np.ndarray, lap: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
  """(H, W, C, 2) gradient and (H, W, C) Laplacian -> |grad| and Laplacian display images,
  channels averaged."""
  return (images.magnitude_to_rgb(grad.mean(axis=2)),
          images.laplacian_to_rgb(lap.mean(axis=2)))


def train_and_evaluate(config: ml_collections.ConfigDict, workdir: str) -> dict:
  """Fits every model in ``config.models``; returns the metrics written to metrics.json."""
  names = check_config(config)
  image = images.load_image(config.image, mode=config.mode, size=config.image_size or None,
                            resize_method=config.data.resize)
  driver.check_ssim_size(*image.shape[:2])  # Before anything is written to the workdir.
  height, width, channels = image.shape
  specs = {name: driver.model_spec(config, name, channels, max(height, width)) for name in names}
  init = check_init(config, names, specs, (height, width))
  workdir = common.require_workdir(workdir, config)
  grid = config.data.grid
  coords, values = grids.image_to_samples(image, grid)
  logging.info('Fitting %s (%dx%dx%d) with %s for %d steps on %d %s device(s), %d process(es).',
               config.image, height, width, channels, ', '.join(names), config.steps,
               jax.device_count(), jax.devices()[0].platform, jax.process_count())

  # The figure shows a display-sized copy (at most figure_max_side pixels a side) and the
  # fitted fields' derivatives on that grid, so a 12-megapixel photo needs no full-size
  # derivative arrays; finite differences are in coordinate units, so both grids agree.
  shown = images.shrink(image, config.figure_max_side)
  shown_coords = grids.make_grid(*shown.shape[:2], grid=grid).reshape(-1, 2)
  gt_grad = finite_differences.sobel_gradient(shown, grid=grid)
  gt_lap = finite_differences.laplacian(shown, grid=grid)
  rows = [[('ground truth', figures.to_unit(shown)),
           *zip(('|grad| (Sobel)', 'Laplacian (FD)'), display_derivatives(gt_grad, gt_lap))]]
  curves, summary, results = {}, {}, {}
  writer = common.ScalarWriter(os.path.join(workdir, 'tb'))
  try:
    for name in names:
      spec = specs[name]
      model_init = init if init is not None and init.model['name'] == name else None
      result = driver.train_field(
          config, workdir, tag=name, spec=spec, loss_fn=fitting.image_loss,
          batch={'coords': coords, 'values': values},
          eval_fn=driver.image_fit_eval(config, image), writer=writer, source=config.image,
          image_fn=driver.field_images(config, height, width), init=model_init)
      apply_fn = result.state.apply_fn
      fit = render.render(apply_fn, result.params, height, width,
                          max_chunk_points=config.render_chunk_points, max_pixels=None,
                          grid=grid)
      grad, lap = jax.device_get(fitting.derivatives(apply_fn, result.params, shown_coords,
                                                     config.derivative_chunk_points))
      grad = np.asarray(grad).reshape(*shown.shape, 2)
      lap = np.asarray(lap).reshape(shown.shape)
      psnr = float(metrics.psnr(fit, image))
      if common.is_main_process():
        images.save_png(os.path.join(workdir, f'{name}.png'), fit)
        inr_file.save(os.path.join(workdir, f'{name}.inr'), result.params, model=spec,
                      height=height, width=width, channels=channels,
                      extra={'source': config.image, 'steps': int(result.state.step),
                             'psnr': psnr, 'init': driver.init_record(config, model_init)})
      shown_fit = images.shrink(fit, max(shown.shape[:2]))
      rows.append([(f'{name}: {psnr:.1f} dB', figures.to_unit(shown_fit)),
                   *zip(('|grad| (autodiff)', 'Laplacian (autodiff)'),
                        display_derivatives(grad, lap))])
      curves[name] = ([r['step'] for r in result.history], [r['psnr'] for r in result.history])
      results[name] = result
      summary[name] = {
          'psnr': psnr,
          'ssim': metrics.ssim(fit, image),
          'steps': int(result.state.step),
          'train_seconds': result.train_seconds,
          'seconds_per_step': result.seconds_per_step,
          'resumed_from_step': result.resumed_from,
          'psnr_history': result.history,
          'init': driver.init_record(config, model_init),
      }
      if common.is_main_process():
        logging.info('[%s] final PSNR %.2f dB, %s s/step', name, psnr, result.seconds_per_step)
  finally:
    writer.close()

  output = {'image': config.image, 'height': height, 'width': width, 'channels': channels,
            'device': jax.devices()[0].device_kind, 'num_devices': jax.device_count(),
            'num_processes': jax.process_count(), 'models': summary,
            'config': config.to_dict()}
  if common.is_main_process():
    figures.image_grid(os.path.join(workdir, 'figure.png'), rows)
    figures.curves(os.path.join(workdir, 'psnr.png'), curves, xlabel='step', ylabel='PSNR (dB)',
                   title=f'{config.image} {height}x{width}, lr {config.optimizer.learning_rate:g}')
    driver.write_psnr_vs_time(os.path.join(workdir, 'psnr_vs_time.png'), results,
                              title=f'{config.image} {height}x{width}')
    common.write_json(os.path.join(workdir, 'metrics.json'), output)
  return output
