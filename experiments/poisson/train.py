"""Poisson experiments (paper Sec. 4.1): a SIREN supervised only by an image's gradient or
Laplacian, and by composed gradient fields of two images (merge, blend); every SIREN result next
to the direct (FFT) solution of the same target.

Writes to the workdir: figure.png, metrics.json, TensorBoard scalars under tb/ and checkpoints
under checkpoints/<tag>/. Fairness: the free constant of every result (SIREN and direct alike) is
fixed by ``poisson.match_mean`` against a reference before PSNR and display: the ground truth
(grad, laplacian); 0.5 (A + B) for rules applied everywhere (merge mean/mixed); A outside the mask
for insertions (merge masked, blend).

A learned init (``config.init``) starts every fit of the run; metrics.json records it.
"""

from __future__ import annotations

import os
import time

import jax
import ml_collections
import numpy as np
from absl import logging

from experiments import common, driver, figures
from experiments.poisson import clone
from experiments.configs.poisson import MODES
from siren_jax import fitting, grids, images, init_file, metrics, poisson, render


def check_config(config: ml_collections.ConfigDict) -> tuple[list[str], list[str]]:
  """Validates the config; returns (colour modes, rules)."""
  common.check_choice(config, 'mode', MODES)
  colors = common.split_names(config.colors)
  if not colors or any(c not in images.MODES for c in colors):
    raise ValueError(f'config.colors must list grey and/or rgb, got {config.colors!r}')
  if config.mode in ('grad', 'laplacian') and len(colors) != 1:
    raise ValueError(f'config.colors must be one colour mode for {config.mode}, got '
                     f'{config.colors!r}')
  rules = common.split_names(config.rules)
  if config.mode in ('merge', 'blend'):
    if not rules or any(r not in poisson.RULES for r in rules):
      raise ValueError(f'config.rules must list some of {", ".join(poisson.RULES)}, got '
                       f'{config.rules!r}')
  common.check_image_size(config)
  driver.check_data_fields(config)
  if config.mask in ('ellipse', 'rectangle'):
    for name in ('mask_height', 'mask_width'):
      if not 0.0 < config[name] <= 1.0:
        raise ValueError(f'config.{name} must be in (0, 1], got {config[name]!r}')
  driver.check_model_fields(config)
  return colors, rules


def check_inputs(config: ml_collections.ConfigDict, colors: list[str]
                 ) -> init_file.LearnedInit | None:
  """Loads the images (and the mask) the run will use, and the learned init of
  ``config.init`` (checked against every fit it starts), so a missing file, a mask of the
  wrong size or an init of another model is an error before anything is written to the
  workdir. Returns the init (None: random)."""
  init = driver.load_init(config)
  for color in colors:
    if config.mode in ('merge', 'blend'):
      image_a, _ = load_pair(config, color)
      make_mask(config, *image_a.shape[:2])
    else:
      image_a = load(config, config.image, color)
    if init is not None:
      driver.check_init(config, init, field_spec(config, image_a.shape), image_a.shape[:2])
  return init


def field_spec(config: ml_collections.ConfigDict, shape: tuple[int, ...]) -> dict:
  """The spec of ``config.model.name`` fitted to an (H, W, C, ...) target."""
  return driver.model_spec(config, config.model.name, shape[2], max(shape[:2]))


def load(config: ml_collections.ConfigDict, source: str, color: str) -> np.ndarray:
  """Image ``source`` (H, W, C) in [-1, 1] in colour mode ``color``, resized to
  ``config.image_size`` (0: kept) by ``config.data.resize``."""
  return images.load_image(source, mode=color, size=config.image_size or None,
                           resize_method=config.data.resize)


def load_pair(config: ml_collections.ConfigDict, color: str) -> tuple[np.ndarray, np.ndarray]:
  """Images A and B (H, W, C) in [-1, 1], resized to ``config.image_size`` (or equal sizes)."""
  image_a, image_b = load(config, config.image, color), load(config, config.image_b, color)
  if image_a.shape != image_b.shape:
    raise ValueError(f'images {config.image!r} {image_a.shape[:2]} and {config.image_b!r} '
                     f'{image_b.shape[:2]} differ in size; set config.image_size to resize both')
  return image_a, image_b


def make_mask(config: ml_collections.ConfigDict, height: int, width: int) -> np.ndarray:
  """The insertion mask (H, W) bool: a centred ellipse/rectangle, or a mask image (nonzero in)."""
  if config.mask in ('ellipse', 'rectangle'):
    coords = np.asarray(grids.make_grid(height, width))
    y, x = coords[..., 0] / config.mask_height, coords[..., 1] / config.mask_width
    if config.mask == 'ellipse':
      return y**2 + x**2 <= 1.0
    return (np.abs(y) <= 1.0) & (np.abs(x) <= 1.0)
  mask = images.read_image(config.mask).mean(axis=-1) > 0.5
  if mask.shape != (height, width):
    raise ValueError(f'mask {config.mask!r} is {mask.shape[0]}x{mask.shape[1]} but the images are '
                     f'{height}x{width} (config.image_size); give a mask of that size')
  if not mask.any():
    raise ValueError(f'mask {config.mask!r} is empty (no pixel above half intensity)')
  return mask


def _display_gradient(grad: np.ndarray) -> np.ndarray:
  """(H, W, C, 2) -> HSV rendering (direction = hue) of the channel-mean gradient."""
  return images.gradient_to_rgb(grad.mean(axis=2))


def _display_laplacian(lap: np.ndarray) -> np.ndarray:
  return images.laplacian_to_rgb(lap.mean(axis=2))


def fit(config: ml_collections.ConfigDict, workdir: str, writer: common.ScalarWriter, *, tag: str,
        kind: str, target: np.ndarray, reference: np.ndarray,
        where: np.ndarray | None = None, init: init_file.LearnedInit | None = None
        ) -> tuple[np.ndarray, dict, tuple[np.ndarray, np.ndarray]]:
  """Fits ``config.model.name`` to a gradient (kind 'grad', target (H, W, C, 2)) or Laplacian (kind
  'laplacian', target (H, W, C)) target, from ``init`` (None: random).

  Returns the rendered field with its constant matched to ``reference`` over ``where`` (H, W, C),
  a metrics dict (PSNR vs reference, steps, time) and the field's autodiff (grad, Laplacian).
  """
  height, width, channels = target.shape[:3]
  coords = grids.make_grid(height, width, grid=config.data.grid).reshape(-1, 2)
  batch = {'coords': coords, **poisson.target_entry(target)}
  loss_fn = poisson.gradient_loss if kind == 'grad' else poisson.laplacian_loss

  def render_image(apply_fn, params) -> np.ndarray:
    return render.render(apply_fn, params, height, width,
                         max_chunk_points=config.render_chunk_points, max_pixels=None,
                         grid=config.data.grid)

  start = time.time()
  result = driver.train_field(
      config, workdir, tag=tag, spec=field_spec(config, target.shape), loss_fn=loss_fn,
      batch=batch, writer=writer,
      eval_fn=driver.image_fit_eval(
          config, reference, score=lambda field, ref: poisson.fair_psnr(field, ref, where)),
      source=(config.image if config.mode in ('grad', 'laplacian')
              else [config.image, config.image_b]),
      image_fn=driver.field_images(
          config, height, width,
          transform=lambda field: poisson.match_mean(field, reference, where)), init=init)
  seconds = time.time() - start
  apply_fn = result.state.apply_fn
  field = poisson.match_mean(render_image(apply_fn, result.params), reference, where)
  grad, lap = jax.device_get(fitting.derivatives(apply_fn, result.params, coords,
                                                 config.derivative_chunk_points))
  summary = {
      'psnr': poisson.fair_psnr(field, reference, where),
      'steps': int(result.state.step),
      'seconds': seconds,
      'seconds_per_step': result.seconds_per_step,
      'resumed_from_step': result.resumed_from,
      'psnr_history': result.history,
  }
  logging.info('[%s] PSNR %.2f dB after %d steps (%.1f s)', tag, summary['psnr'],
               summary['steps'], seconds)
  return field, summary, (np.asarray(grad).reshape(height, width, channels, 2),
                          np.asarray(lap).reshape(height, width, channels))


def reconstruct(config: ml_collections.ConfigDict, workdir: str, writer: common.ScalarWriter,
                color: str, init: init_file.LearnedInit | None = None) -> tuple[dict, list]:
  """Modes grad / laplacian: the image from its derivative, SIREN vs the direct solver."""
  image = load(config, config.image, color)
  grid = config.data.grid
  if config.mode == 'grad':
    target = poisson.gradient_target(image, grid)
    solve = poisson.solve_from_gradient
    target_display = ('target grad (Sobel)', _display_gradient(target))
  else:
    target = poisson.laplacian_target(image, grid)
    solve = poisson.solve_from_laplacian
    target_display = ('target Laplacian', _display_laplacian(target))
  direct = {}
  for stencil in poisson.STENCILS:
    start = time.time()
    solution = poisson.match_mean(solve(target, stencil, grid), image)
    seconds = time.time() - start
    direct[stencil] = (solution, {'psnr': poisson.fair_psnr(solution, image), 'seconds': seconds})
  field, summary, (grad, lap) = fit(config, workdir, writer, tag=config.mode, kind=config.mode,
                                    target=target, reference=image, init=init)
  # Only the constant is matched for 'psnr'; a Laplacian also leaves planes a + b y + c x free.
  summary['psnr_affine_matched'] = float(
      metrics.psnr(poisson.match_affine(field, image), image))
  # 'direct' solves the SIREN's problem (exact derivatives of a band-limited field match the
  # target); 'direct_stencil' inverts the finite-difference stencil that made the target.
  results = {config.model.name: summary, 'direct': direct['spectral'][1],
             'direct_stencil': direct['stencil'][1]}
  _save_pngs(workdir, f'{config.mode}_{color}', {config.model.name: field,
                                                  'direct': direct['spectral'][0]})
  rows = [[('ground truth', figures.to_unit(image)), target_display,
           (f'{config.model.name}: {summary["psnr"]:.1f} dB', figures.to_unit(field)),
           (f'{config.model.name} grad (autodiff)', _display_gradient(grad)),
           (f'{config.model.name} Laplacian (autodiff)', _display_laplacian(lap)),
           (f'direct solver: {results["direct"]["psnr"]:.1f} dB',
            figures.to_unit(direct['spectral'][0]))]]
  return results, rows


def compose(config: ml_collections.ConfigDict, workdir: str, writer: common.ScalarWriter,
            color: str, rules: list[str], init: init_file.LearnedInit | None = None
            ) -> tuple[dict, list]:
  """Modes merge / blend: composed gradient fields of A and B, SIREN vs direct solutions."""
  image_a, image_b = load_pair(config, color)
  height, width = image_a.shape[:2]
  mask = make_mask(config, height, width)
  grid = config.data.grid
  grad_a, grad_b = poisson.gradient_target(image_a, grid), poisson.gradient_target(image_b, grid)
  results, fits, directs = {}, [], []
  for rule in rules:
    # merge: mean/mixed everywhere, masked inside the mask; blend: every rule inside the mask.
    rule_mask = mask if (config.mode == 'blend' or rule == 'masked') else None
    target = poisson.compose_gradients(grad_a, grad_b, rule, rule_mask)
    if rule_mask is None:
      reference, where = 0.5 * (image_a + image_b), None
    else:
      reference, where = image_a, ~rule_mask
    direct = poisson.match_mean(poisson.solve_from_gradient(target, grid=grid), reference,
                                where)
    tag = f'{config.mode}_{color}_{rule}'
    field, summary, _ = fit(config, workdir, writer, tag=tag, kind='grad', target=target,
                            reference=direct, init=init)
    summary['psnr_vs_direct'] = summary.pop('psnr')
    results[rule] = summary
    _save_pngs(workdir, tag, {config.model.name: field, 'direct': direct})
    fits.append((f'{config.model.name} {rule}: {summary["psnr_vs_direct"]:.1f} dB vs direct',
                 figures.to_unit(field)))
    directs.append((f'direct {rule}', figures.to_unit(direct)))
  mask_display = ('mask', mask.astype(np.float32))
  if config.mode == 'merge':
    rows = [[(f'A ({color})', figures.to_unit(image_a)), ('B', figures.to_unit(image_b)), *fits],
            [mask_display, ('pixel average', figures.to_unit(0.5 * (image_a + image_b))),
             *directs]]
  else:
    paste = poisson.naive_paste(image_a, image_b, mask)
    rows = [[('A', figures.to_unit(image_a)), ('B', figures.to_unit(image_b)), mask_display,
             ('naive paste', figures.to_unit(paste))],
            [item for pair in zip(directs, fits) for item in pair]]
  return results, rows


def _save_pngs(workdir: str, prefix: str, results: dict[str, np.ndarray]) -> None:
  """Writes each result (H, W, C) in [-1, 1] as ``<prefix>_<name>.png`` (process 0 only)."""
  if common.is_main_process():
    for name, image in results.items():
      images.save_png(os.path.join(workdir, f'{prefix}_{name}.png'), image)


def check_mode_config(config: ml_collections.ConfigDict) -> object:
  """The config check this entry point runs for ``config.mode`` before anything is written
  (seamless cloning checks its own inputs); raises ValueError with a one-line message."""
  return clone.check_config(config) if config.mode == 'clone' else check_config(config)


def train_and_evaluate(config: ml_collections.ConfigDict, workdir: str) -> dict:
  """Runs ``config.mode``; returns the metrics written to metrics.json."""
  if config.mode == 'clone':  # Seamless cloning has its own inputs and outputs.
    return clone.run(config, workdir)
  colors, rules = check_config(config)
  init = check_inputs(config, colors)
  workdir = common.require_workdir(workdir, config)
  logging.info('Poisson %s with %s, %d steps per fit, on %s.', config.mode, config.model.name,
               config.steps, jax.devices()[0].platform)
  results, rows = {}, []
  writer = common.ScalarWriter(os.path.join(workdir, 'tb'))
  try:
    for color in colors:
      if config.mode in ('grad', 'laplacian'):
        results[color], color_rows = reconstruct(config, workdir, writer, color, init)
      else:
        results[color], color_rows = compose(config, workdir, writer, color, rules, init)
      rows.extend(color_rows)
  finally:
    writer.close()
  output = {'mode': config.mode, 'image': config.image, 'device': jax.devices()[0].device_kind,
            'fairness': 'constant matched by mean: to the ground truth (grad, laplacian), to '
                        '0.5 (A + B) (rules applied everywhere) or to A outside the mask',
            'results': results, 'init': driver.init_record(config, init),
            'config': config.to_dict()}
  if config.mode in ('merge', 'blend'):
    output['image_b'] = config.image_b
  if common.is_main_process():
    figures.image_grid(os.path.join(workdir, 'figure.png'), rows)
    common.write_json(os.path.join(workdir, 'metrics.json'), output)
  return output
