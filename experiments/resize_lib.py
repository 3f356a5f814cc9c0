"""Resizing through the coordinate grid: SIREN super-resolution vs classical resampling, and a
user-image upscaler.

Task 'compare' writes to the workdir: comparison.png (zoomed crops of every method at each
factor, and where SIREN beats bicubic), metrics.json (PSNR/SSIM of every method vs the ground
truth, also split into edge and smooth pixels), siren_x<f>.inr (the fitted networks),
TensorBoard scalars under tb/ and checkpoints under checkpoints/; over a photo set
(config.photos, ``compare_photos``) metrics.json and table.md instead of the figure and networks.
Task 'upscale' writes the upscaled PNG, the fitted-network file and metrics.json.

Fairness: the low-resolution input is an exact box (area) average of factor x factor blocks, so
its pixel centres are the means of the centres they cover -- the ``grids`` convention; PIL's
resamplers use the same half-pixel convention, and every method sees the same low-res pixels.

A learned init (``config.init``) starts every SIREN fit (compare: each factor's; a tiled
upscale: every tile); metrics.json and the ``.inr`` files record it.
Over a photo set the inputs are PIL-bicubic reductions instead, as the learned model's training
inputs are.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable
from typing import Any

import jax
import ml_collections
import numpy as np
from absl import logging

from experiments import common, driver, figures
from experiments.configs.resize import TASKS
from experiments.sr import evaluate as sr_evaluate
from siren_jax import (finite_differences, fitting, grids, images, init_file, inr_file, metrics,
                       models, render, sampling, tiling, training)
from siren_jax.data import crops
from siren_jax.models import fields
from siren_jax.sr import model_file, patches, upscale as sr_upscale
CLASSICAL = patches.PIL_FILTERS  # The classical resamplers compared, by name.
EDGE_QUANTILE = 0.8  # Pixels with Sobel magnitude above this quantile count as edges.
UPSCALE_METHODS = ('siren', 'learned')
LEARNED_TILE_SIZE = 192  # Input pixels per tile of the learned upscaler when tile_size is 0.


def check_config(config: ml_collections.ConfigDict) -> None:
  """One-line errors for bad config values."""
  common.check_choice(config, 'task', TASKS)
  common.check_choice(config, 'mode', (*images.MODES, ''))
  common.check_positive(config, ('max_pixels',))
  driver.check_model_fields(config)
  driver.check_data_fields(config)
  if config.task == 'compare':
    if config.data.grid != 'half_pixel':
      raise ValueError(f'config.data.grid must be half_pixel for the compare task (its inputs '
                       f'are box averages, which sit on that grid), got {config.data.grid!r}')
    factors(config)
    common.check_positive(config, ('image_size', 'crop_size'))
    if not (isinstance(config.holdout, (int, float)) and 0 <= config.holdout < 1):
      raise ValueError(f'config.holdout must be in [0, 1) (the share of low-resolution pixels '
                       f'held out to choose the step count), got {config.holdout!r}')
    if config.holdout and not config.eval_every:
      raise ValueError('config.holdout needs config.eval_every > 0: the held-out PSNR is '
                       'measured at every evaluation')
    common.check_image_size(config, max_pixels=config.max_pixels)
    if not (0 <= config.crop_top and 0 <= config.crop_left and
            config.crop_top + config.crop_size <= 1 and config.crop_left + config.crop_size <= 1):
      raise ValueError('config.crop_top/crop_left/crop_size must describe a square inside the '
                       'image (fractions in [0, 1])')
  else:
    if config.holdout:
      raise ValueError(f'config.holdout={config.holdout} is for the compare task (its fits are '
                       'scored against a ground truth); leave it 0 for upscale')
    if not config.input:
      raise ValueError('config.input is empty: give an image path, a built-in image name or a '
                       '.inr file')
    common.check_non_negative(config, ('tile_size', 'tile_overlap'))
    common.check_choice(config, 'method', UPSCALE_METHODS)
    if config.init and (config.method == 'learned' or config.input.endswith('.inr')):
      raise ValueError(f'config.init starts a fit, and this upscale fits nothing (config.method='
                       f'{config.method!r}, config.input={config.input!r}); leave config.init '
                       f'empty')
    if config.method == 'learned' and not config.model_file:
      raise ValueError('config.method=learned needs config.model_file (a model trained by '
                       'python -m experiments.sr)')
    if config.tile_size and config.data.grid != 'half_pixel':
      raise ValueError(f'config.data.grid must be half_pixel for a tiled fit (config.tile_size '
                       f'> 0), got {config.data.grid!r}')
    common.check_choice(config, 'tile_ramp', tiling.RAMPS)
    common.check_choice(config, 'param_dtype', inr_file.PARAM_DTYPES)


def factors(config: ml_collections.ConfigDict) -> list[int]:
  """The integer factors of config.factors, each dividing config.image_size."""
  names = common.split_names(config.factors)
  if not names:
    raise ValueError('config.factors is empty; give integer factors such as "4,2"')
  result = []
  for name in names:
    if not name.isdigit() or int(name) < 2:
      raise ValueError(f'config.factors: {name!r} is not an integer factor >= 2')
    if config.image_size % int(name):
      raise ValueError(f'config.image_size={config.image_size} is not divisible by factor {name}')
    result.append(int(name))
  return result


def box_downsample(image: np.ndarray, factor: int) -> np.ndarray:
  """(H, W, C) -> (H/f, W/f, C): the mean of each f x f block (exact area downsampling)."""
  h, w, c = image.shape
  if h % factor or w % factor:
    raise ValueError(f'{h}x{w} image is not divisible by factor {factor}')
  return image.reshape(h // factor, factor, w // factor, factor, c).mean(axis=(1, 3))


def classical_resize(image: np.ndarray, height: int, width: int, method: str) -> np.ndarray:
  """(h, w, C) float image -> (height, width, C) with the PIL filter named ``method``
  (CLASSICAL), per channel in float32."""
  return patches.pil_resize(image, height, width, CLASSICAL[method])


def field_spec(config: ml_collections.ConfigDict, image: np.ndarray) -> dict:
  """The spec of config.model.name fitted to (h, w, C) ``image`` (whole or in tiles)."""
  return driver.model_spec(config, config.model.name, image.shape[-1], max(image.shape[:2]))


def check_init(config: ml_collections.ConfigDict, fitted: list[np.ndarray]
               ) -> init_file.LearnedInit | None:
  """config.init's learned init, checked against the fit of each image in ``fitted`` (of each
  tile, with config.tile_size); None without one."""
  init = driver.load_init(config)
  for image in fitted if init is not None else ():
    size = tuple(min(side, config.tile_size or side) for side in image.shape[:2])
    driver.check_init(config, init, field_spec(config, image), size)
  return init


def fit(config: ml_collections.ConfigDict, workdir: str, tag: str, image: np.ndarray,
        writer: common.ScalarWriter, layout: tiling.TileLayout | None = None,
        init: init_file.LearnedInit | None = None, source: str = ''
        ) -> tuple[dict, Callable, training.LoopResult]:
  """Fits config.model.name to (h, w, C) ``image`` (in tiles when ``layout`` is given) from
  ``init`` (every tile; None: random); returns (model spec, the fitted image's field, loop
  result). ``source`` names the image in the run's fingerprint ('' = config.image or
  config.input)."""
  spec = field_spec(config, image)
  if layout is None:
    coords, values = grids.image_to_samples(image, config.data.grid)
    batch, field = {'coords': coords, 'values': values}, None
  else:
    batch = tiling.tile_samples(image, layout)
    field = tiling.tiled_field(models.apply_fn(fields.make_field_model(**spec)), layout,
                               config.tile_ramp)
  result = driver.train_field(
      config, workdir, tag=tag, spec=spec, loss_fn=fitting.image_loss, batch=batch,
      eval_fn=driver.image_fit_eval(config, image, field), writer=writer,
      num_tiles=layout.num_tiles if layout else 0,
      source=source or (config.image if config.task == 'compare' else config.input),
      image_fn=driver.field_images(config, *image.shape[:2], field), init=init)
  return spec, field or result.state.apply_fn, result


def choose_steps(config: ml_collections.ConfigDict, workdir: str, tag: str, image: np.ndarray,
                 writer: common.ScalarWriter, init: init_file.LearnedInit | None = None,
                 source: str = '') -> dict[str, Any]:
  """Early stopping on held-out pixels: fits config.model to the pixels of (h, w, C) ``image``
  outside a random share config.holdout of them (fixed by config.seed) for config.steps steps,
  from ``init``, measuring the PSNR of the held-out pixels at every evaluation
  (config.eval_every). Returns {'steps': the first step > 0 with the best held-out PSNR,
  'best_psnr': that PSNR, 'curve': [[step, PSNR], ...], 'held_out_pixels', 'fraction'}.
  Checkpointed under ``<tag>_holdout`` like any fit."""
  coords, values = grids.image_to_samples(image, config.data.grid)
  kept, held = sampling.holdout_split(len(coords), config.holdout, config.seed)
  held_coords, held_values = coords[held], values[held]

  def held_out_psnr(state: training.TrainState) -> dict[str, float]:
    return {'psnr': float(metrics.psnr(state.apply_fn(state.params, held_coords), held_values))}

  select = ml_collections.ConfigDict(config.to_dict())
  select.target_psnr = 0.0  # The held-out PSNR chooses the step; it does not stop the fit.
  result = driver.train_field(
      select, workdir, tag=f'{tag}_holdout', spec=field_spec(config, image),
      loss_fn=fitting.image_loss, batch={'coords': coords[kept], 'values': values[kept]},
      eval_fn=held_out_psnr, writer=writer, init=init,
      source=f'{source or config.image} without {len(held)} held-out pixels')
  curve = [[int(r['step']), float(r['psnr'])] for r in result.history if r['step'] > 0]
  best = max(curve, key=lambda point: point[1])  # The first of equal bests.
  return {'steps': best[0], 'best_psnr': best[1], 'curve': curve, 'held_out_pixels': len(held),
          'fraction': float(config.holdout)}


def fit_early_stopped(config: ml_collections.ConfigDict, workdir: str, tag: str,
                      image: np.ndarray, writer: common.ScalarWriter,
                      init: init_file.LearnedInit | None = None, source: str = ''
                      ) -> tuple[dict, Callable, training.LoopResult, dict[str, Any] | None]:
  """``fit`` of all of ``image``'s pixels for config.steps steps, or, with config.holdout > 0,
  for the step count ``choose_steps`` picks (tag ``<tag>_es<steps>``, so a fit of another length
  is never resumed in its place); returns fit's triple and choose_steps' record (or None)."""
  if not config.holdout:
    return (*fit(config, workdir, tag, image, writer, init=init, source=source), None)
  chosen = choose_steps(config, workdir, tag, image, writer, init=init, source=source)
  refit = ml_collections.ConfigDict(config.to_dict())
  refit.steps = chosen['steps']
  logging.info('[%s] held-out PSNR best after %d of %d steps (%.2f dB); refitting all pixels.',
               tag, chosen['steps'], config.steps, chosen['best_psnr'])
  return (*fit(refit, workdir, f'{tag}_es{chosen["steps"]}', image, writer, init=init,
               source=source), chosen)


def compare(config: ml_collections.ConfigDict, workdir: str) -> dict:
  """Downsamples the ground truth by each factor, upsamples it back with every method and
  SIREN, and measures them against the ground truth (over config.photos when given)."""
  if config.photos:
    return compare_photos(config, workdir)
  truth = images.load_image(config.image, mode=config.mode or None, size=config.image_size,
                            resize_method=config.data.resize)
  height, width, channels = truth.shape
  render.check_size(height, width, config.max_pixels)
  driver.check_ssim_size(height, width)
  grad = finite_differences.sobel_gradient(truth)
  magnitude = np.sqrt((np.asarray(grad) ** 2).sum(axis=(-1, -2)))
  edges = magnitude > np.quantile(magnitude, EDGE_QUANTILE)
  init = check_init(config, [box_downsample(truth, factor) for factor in factors(config)])
  workdir = common.require_workdir(workdir, config)
  top, left = round(config.crop_top * height), round(config.crop_left * width)
  side = max(1, round(config.crop_size * min(height, width)))
  crop = (slice(top, top + side), slice(left, left + side))

  rows, results = [], {}
  writer = common.ScalarWriter(os.path.join(workdir, 'tb'))
  try:
    for factor in factors(config):
      low = box_downsample(truth, factor)
      logging.info('x%d: %dx%d -> %dx%d', factor, *low.shape[:2], height, width)
      outputs = {m: classical_resize(low, height, width, m) for m in CLASSICAL}
      spec, field, result, chosen = fit_early_stopped(
          config, workdir, f'{config.model.name}_x{factor}', low, writer, init=init)
      steps = int(result.state.step)
      start = time.perf_counter()
      outputs[config.model.name] = render.render(field, result.params, height, width,
                                            max_chunk_points=config.render_chunk_points,
                                            max_pixels=config.max_pixels)
      render_seconds = time.perf_counter() - start
      low_fit = render.render(field, result.params, *low.shape[:2],
                              max_chunk_points=config.render_chunk_points)
      network_path = os.path.join(workdir, f'{config.model.name}_x{factor}.inr')
      network_bytes = inr_file.save(
          network_path, result.params, model=spec, height=low.shape[0], width=low.shape[1],
          channels=channels, extra={'source': config.image, 'downsampled_by': factor,
                                    'steps': steps, 'init': driver.init_record(config, init)})
      scores = {name: {'psnr': float(metrics.psnr(out, truth)),
                       'ssim': metrics.ssim(out, truth),
                       'psnr_edges': metrics.masked_psnr(out, truth, edges),
                       'psnr_smooth': metrics.masked_psnr(out, truth, ~edges)}
                for name, out in outputs.items()}
      results[f'x{factor}'] = {
          'low_res': list(low.shape), 'methods': scores,
          'fit_psnr_on_low_res': float(metrics.psnr(low_fit, low)),
          'steps': steps, 'seconds_per_step': result.seconds_per_step,
          'render_seconds': render_seconds, 'network_file': os.path.basename(network_path),
          'network_bytes': network_bytes, 'low_res_8bit_bytes': int(low.size),
          'resumed_from_step': result.resumed_from, 'holdout': chosen}
      logging.info('x%d: %s', factor, ', '.join(f'{n} {s["psnr"]:.2f} dB' for n, s in
                                                scores.items()))
      # Clipped as the metrics clip: positive where the model is closer to the truth.
      gain = (np.abs(np.clip(outputs['bicubic'], -1, 1) - truth)
              - np.abs(np.clip(outputs[config.model.name], -1, 1) - truth)).mean(axis=-1)
      rows.append([(f'x{factor} input {low.shape[0]}x{low.shape[1]}\n'
                    f'(nearest {scores["nearest"]["psnr"]:.1f} dB)',
                    figures.to_unit(outputs['nearest'][crop])),
                   *[(f'{n} {scores[n]["psnr"]:.1f} dB', figures.to_unit(outputs[n][crop]))
                     for n in (*CLASSICAL, config.model.name) if n != 'nearest'],
                   ('ground truth', figures.to_unit(truth[crop])),
                   (f'|err bicubic|-|err {config.model.name}|\n(blue: {config.model.name} better)',
                    images.laplacian_to_rgb(gain[crop], percentile=99.0))])
  finally:
    writer.close()
  output = {'task': 'compare', 'image': config.image, 'height': height, 'width': width,
            'channels': channels, 'edge_fraction': float(edges.mean()),
            'crop': {'top': top, 'left': left, 'size': side},
            'device': jax.devices()[0].device_kind, 'factors': results,
            'init': driver.init_record(config, init), 'config': config.to_dict()}
  if common.is_main_process():
    figures.image_grid(os.path.join(workdir, 'comparison.png'), rows, cell_inches=1.9)
    common.write_json(os.path.join(workdir, 'metrics.json'), output)
  return output


def photo_truth(photo: np.ndarray, side: int) -> np.ndarray:
  """(H, W, 3) uint8 photo -> (side, side, 3) float32 in [-1, 1]: its short side resized to
  ``side`` (``siren_jax.images.resize``, bicubic, anti-aliased), then its centred square."""
  h, w = photo.shape[:2]
  scale = side / min(h, w)
  height, width = max(side, round(h * scale)), max(side, round(w * scale))
  resized = images.resize(photo.astype(np.float32) / 255.0, (height, width))
  top, left = (height - side) // 2, (width - side) // 2
  return np.clip(resized[top:top + side, left:left + side] * 2.0 - 1.0, -1.0, 1.0)


def fit_method(config: ml_collections.ConfigDict) -> str:
  """The per-photo fit's row name: config.model.name, with '_init' when the fit starts from a
  learned initialisation (config.init) and '_es' when held-out pixels choose its steps
  (config.holdout)."""
  return (config.model.name + ('_init' if config.get('init') else '')
          + ('_es' if config.get('holdout') else ''))


def compare_photos(config: ml_collections.ConfigDict, workdir: str) -> dict:
  """The comparison over every photo of config.photos: for each photo and factor, the classical
  filters, the per-photo fit of config.model (fitted to the low-res photo and rendered at full
  size, checkpointed per photo and factor, so a rerun resumes the fits) and, with
  config.model_file, the learned model. Scores as ``experiments.sr.evaluate`` (RGB and
  luminance PSNR and SSIM, ceil(factor) border pixels shaved). Writes metrics.json and
  table.md (mean ± std over photos, then every photo)."""
  trained = model_file.load(config.model_file) if config.model_file else None
  side = config.image_size
  factor_list = factors(config)
  driver.check_ssim_size(side, side)
  photos = []
  for name, photo in sr_evaluate.first_views(
      crops.open_photos(config.photos, data_dir=config.data_dir or None)):
    if min(photo.shape[:2]) < side:
      logging.warning('%s: %dx%d is smaller than config.image_size=%d; skipped.', name,
                      *photo.shape[:2], side)
      continue
    photos.append((name, photo_truth(photo, side)))
  if not photos:
    raise ValueError(f'config.photos={config.photos!r} has no photo with a short side of at '
                     f'least config.image_size={side}')
  # Checked against each factor's fit before anything is written (every photo has the same size).
  init = check_init(config, [photos[0][1][:side // f, :side // f] for f in factor_list])
  workdir = common.require_workdir(workdir, config)
  method = fit_method(config)
  rows: dict[str, dict[str, Any]] = {}
  details: dict[str, dict[str, Any]] = {}
  writer = common.ScalarWriter(os.path.join(workdir, 'tb'))
  try:
    for name, truth in photos:
      rows[name], details[name] = {}, {}
      for factor in factor_list:
        low = classical_resize(truth, side // factor, side // factor, 'bicubic')
        outputs = {m: classical_resize(low, side, side, m) for m in CLASSICAL}
        start = time.perf_counter()
        _, field, result, chosen = fit_early_stopped(
            config, workdir, f'{method}_{name}_x{factor}', low, writer, init=init,
            source=f'{config.photos}/{name}')
        outputs[method] = render.render(field, result.params, side, side,
                                        max_chunk_points=config.render_chunk_points)
        fit_seconds = time.perf_counter() - start
        low_fit = render.render(field, result.params, *low.shape[:2],
                                max_chunk_points=config.render_chunk_points)
        if trained is not None:
          outputs['learned'] = sr_upscale.upscale(
              trained.spec, trained.params, low, side, side,
              tile_size=config.tile_size or LEARNED_TILE_SIZE)
        rows[name][f'x{factor}'] = {m: sr_evaluate.scores(out, truth, math.ceil(factor))
                                    for m, out in outputs.items()}
        details[name][f'x{factor}'] = {
            'fit_psnr_on_low_res': float(metrics.psnr(low_fit, low)),
            'steps': int(result.state.step), 'fit_seconds': fit_seconds,
            'seconds_per_step': result.seconds_per_step,
            'resumed_from_step': result.resumed_from, 'holdout': chosen}
        logging.info('%s x%d: %s', name, factor, ', '.join(
            f'{m} {v["psnr"]:.2f}' for m, v in rows[name][f'x{factor}'].items()))
  finally:
    writer.close()
  keys = [f'x{f}' for f in factor_list]
  summary = summarise_photos(rows, keys)
  output = {'task': 'compare', 'photos': config.photos, 'size': side, 'channels': 3,
            'fit_method': method, 'model_file': config.model_file,
            'learned_model': trained.metadata if trained is not None else None,
            'scores': rows, 'fits': details, 'summary': summary,
            'device': jax.devices()[0].device_kind, 'config': config.to_dict()}
  if common.is_main_process():
    common.write_json(os.path.join(workdir, 'metrics.json'), output)
    common.write_text(os.path.join(workdir, 'table.md'), photos_table(rows, summary, keys))
  return output


PHOTO_REFERENCE = 'lanczos'  # The filter every other method's gain is measured against.


def summarise_photos(rows: dict[str, Any], keys: list[str]) -> dict[str, Any]:
  """Per factor key and method: ``common.mean_std`` over photos of each score, and of the RGB
  PSNR gain over PHOTO_REFERENCE with the share of photos it improves."""
  summary: dict[str, Any] = {}
  for key in keys:
    per = [r[key] for r in rows.values() if key in r]
    entry: dict[str, Any] = {}
    for m in per[0]:
      entry[m] = {metric: common.mean_std(p[m][metric] for p in per) for metric in per[0][m]}
      gains = [p[m]['psnr'] - p[PHOTO_REFERENCE]['psnr'] for p in per]
      entry[m]['gain'] = common.mean_std(gains)
      entry[m]['improved'] = float(np.mean([g > 0 for g in gains]))
    summary[key] = entry
  return summary


def photos_table(rows: dict[str, Any], summary: dict[str, Any], keys: list[str]) -> str:
  """Markdown: per factor and method the mean ± std of RGB PSNR, gain over Lanczos (share of
  photos improved), Y-PSNR and SSIM; then RGB PSNR per photo."""
  pm = common.format_mean_std
  lines = ['| factor | method | PSNR (dB) | gain over Lanczos | improved | Y-PSNR | SSIM |',
           '|---|---|---|---|---|---|---|']
  for key in keys:
    for m, e in summary[key].items():
      lines.append(f'| {key} | {m} | {pm(e["psnr"])} | {e["gain"]["mean"]:+.2f} ± '
                   f'{e["gain"]["std"]:.2f} | {e["improved"]:.0%} | {pm(e["psnr_y"])} | '
                   f'{pm(e["ssim"], ".3f")} |')
  methods = [m for m in summary[keys[0]] if m not in ('nearest', 'bilinear')]
  lines += ['', '| photo | ' + ' | '.join(f'{k} {m}' for k in keys for m in methods) + ' |',
            '|---|' + '---|' * (len(keys) * len(methods))]
  for name, r in rows.items():
    lines.append(f'| {name} | ' + ' | '.join(f'{r[k][m]["psnr"]:.2f}' for k in keys
                                             for m in methods) + ' |')
  return '\n'.join(lines) + '\n'


def output_size(config: ml_collections.ConfigDict, height: int, width: int) -> tuple[int, int]:
  """The upscaled size of a height x width input under config.factor/out_height/out_width."""
  return render.target_size(height, width, factor=config.factor, out_height=config.out_height,
                            out_width=config.out_width, max_pixels=config.max_pixels)


def learned_upscale(config: ml_collections.ConfigDict, workdir: str) -> dict:
  """Resizes config.input with the trained model of config.model_file (no fit)."""
  trained = model_file.load(config.model_file)
  image = images.load_image(config.input, mode=config.mode or None)
  height, width, channels = image.shape
  render.check_size(height, width, config.max_pixels)
  out_height, out_width = output_size(config, height, width)
  converted = channels == 1 and trained.spec.channels == 3
  if converted:
    logging.warning('%s is grey and the model takes RGB: resizing it as grey RGB and writing a '
                    'grey image.', config.input)
    image = np.repeat(image, 3, axis=-1)
  sr_upscale.check_input(trained.spec, image)
  workdir = common.require_workdir(workdir, config)
  start = time.perf_counter()
  upscaled = sr_upscale.upscale(trained.spec, trained.params, image, out_height, out_width,
                                tile_size=config.tile_size or LEARNED_TILE_SIZE,
                                max_pixels=config.max_pixels)
  seconds = time.perf_counter() - start
  if converted:
    upscaled = upscaled.mean(axis=-1, keepdims=True)
  output_path = config.output or os.path.join(workdir, 'upscaled.png')
  images.save_png(output_path, upscaled)
  logging.info('Wrote %s (%dx%d from %dx%d, learned model %s) in %.1f s.', output_path,
               out_height, out_width, height, width, config.model_file, seconds)
  info = {'task': 'upscale', 'method': 'learned', 'input': config.input,
          'model_file': config.model_file, 'converted_grey_to_rgb': converted,
          'input_size': [height, width], 'output_size': [out_height, out_width],
          'output': output_path, 'upscale_seconds': seconds, 'config': config.to_dict()}
  common.write_json(os.path.join(workdir, 'metrics.json'), info)
  return info


def upscale(config: ml_collections.ConfigDict, workdir: str) -> dict:
  """Fits config.input (or loads a saved network) and renders it at the requested size."""
  if config.method == 'learned':
    return learned_upscale(config, workdir)
  info = {'task': 'upscale', 'input': config.input}
  if config.input.endswith('.inr'):
    fitted = inr_file.load(config.input)
    field, params, grid = fitted.field, fitted.params, fitted.grid
    height, width = fitted.height, fitted.width
    output_size(config, height, width)
    workdir = common.require_workdir(workdir, config)
    network_path = config.input
  else:
    image = images.load_image(config.input, mode=config.mode or None)
    height, width, channels = image.shape
    grid = config.data.grid
    render.check_size(height, width, config.max_pixels)
    output_size(config, height, width)  # Bad sizes fail before the fit, not after.
    layout = (tiling.make_layout(height, width, config.tile_size, config.tile_overlap)
              if config.tile_size else None)
    init = check_init(config, [image])
    info['init'] = driver.init_record(config, init)
    workdir = common.require_workdir(workdir, config)
    network_path = config.network_output or os.path.join(workdir, 'fitted.inr')
    writer = common.ScalarWriter(os.path.join(workdir, 'tb'))
    try:
      start = time.perf_counter()
      spec, field, result = fit(config, workdir, 'tiles' if layout else config.model.name, image,
                                writer, layout, init)
      info['fit_seconds'] = time.perf_counter() - start
      params = result.params
      if layout:
        info['num_tiles'] = layout.num_tiles
    finally:
      writer.close()
    info['psnr_history'] = result.history
    info['train_seconds'] = result.train_seconds
    if common.is_main_process():
      driver.write_psnr_vs_time(os.path.join(workdir, 'psnr_vs_time.png'),
                                {config.model.name if layout is None else 'tiles': result},
                                title=f'{config.input} {height}x{width}')
    info['fit_psnr'] = float(metrics.psnr(
        render.render(field, params, height, width,
                      max_chunk_points=config.render_chunk_points, grid=grid), image))
    info['network_bytes'] = inr_file.save(
        network_path, params, model=spec, height=height, width=width, channels=channels,
        layout=layout, ramp=config.tile_ramp, param_dtype=config.param_dtype, grid=grid,
        extra={'source': config.input, 'steps': config.steps, 'init': info['init']})
  out_height, out_width = output_size(config, height, width)
  upscaled = render.render(field, params, out_height, out_width,
                           max_chunk_points=config.render_chunk_points,
                           max_pixels=config.max_pixels, grid=grid)
  output_path = config.output or os.path.join(workdir, 'upscaled.png')
  images.save_png(output_path, upscaled)
  logging.info('Wrote %s (%dx%d from %dx%d) and %s.', output_path, out_height, out_width,
               height, width, network_path)
  info.update({'input_size': [height, width], 'output_size': [out_height, out_width],
               'output': output_path, 'network': network_path, 'config': config.to_dict()})
  common.write_json(os.path.join(workdir, 'metrics.json'), info)
  return info


def train_and_evaluate(config: ml_collections.ConfigDict, workdir: str) -> dict:
  """Runs config.task; returns what it wrote to metrics.json."""
  check_config(config)
  if config.task == 'compare':
    return compare(config, workdir)
  return upscale(config, workdir)
