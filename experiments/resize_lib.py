"""Resizing through the coordinate grid: SIREN super-resolution vs classical resampling, and a
user-image upscaler.

Task 'compare' writes to the workdir: comparison.png (zoomed crops of every method at each
factor, and where SIREN beats bicubic), metrics.json (PSNR/SSIM of every method vs the ground
truth, also split into edge and smooth pixels), siren_x<f>.inr (the fitted networks),
TensorBoard scalars under tb/ and checkpoints under checkpoints/.
Task 'upscale' writes the upscaled PNG, the fitted-network file and metrics.json.

Fairness: the low-resolution input is an exact box (area) average of factor x factor blocks, so
its pixel centres are the means of the centres they cover -- the ``grids`` convention; PIL's
resamplers use the same half-pixel convention, and every method sees the same low-res pixels.
"""

from __future__ import annotations

import os
import time

import jax
import ml_collections
import numpy as np
import optax
from absl import logging
from PIL import Image

from experiments import common, field_training, figures
from siren_jax import (baselines, finite_differences, fitting, grids, images, inr_file,
                       metrics, render, tiling)
from siren_jax.models import fields

TASKS = ('compare', 'upscale')
# PIL resampling filters, all on PIL's pixel-centre (half-pixel) convention.
CLASSICAL = {'nearest': Image.Resampling.NEAREST, 'bilinear': Image.Resampling.BILINEAR,
             'bicubic': Image.Resampling.BICUBIC, 'lanczos': Image.Resampling.LANCZOS}
EDGE_QUANTILE = 0.8  # Pixels with Sobel magnitude above this quantile count as edges.


def check_config(config: ml_collections.ConfigDict) -> None:
  """One-line errors for bad config values."""
  if config.task not in TASKS:
    raise ValueError(f'config.task must be one of {", ".join(TASKS)}, got {config.task!r}')
  if config.model not in fields.FIELD_MODELS:
    raise ValueError(f'config.model: unknown model {config.model!r}; choose from '
                     f'{", ".join(fields.FIELD_MODELS)}')
  if config.mode not in (*images.MODES, ''):
    raise ValueError(f"config.mode must be one of {', '.join(images.MODES)} or '', got "
                     f'{config.mode!r}')
  common.check_positive(config, ('steps', 'max_pixels'))
  field_training.check_model_fields(config)
  if config.task == 'compare':
    factors(config)
    common.check_positive(config, ('image_size', 'crop_size'))
    if not (0 <= config.crop_top and 0 <= config.crop_left and
            config.crop_top + config.crop_size <= 1 and config.crop_left + config.crop_size <= 1):
      raise ValueError('config.crop_top/crop_left/crop_size must describe a square inside the '
                       'image (fractions in [0, 1])')
  else:
    if not config.input:
      raise ValueError('config.input is empty: give an image path, a built-in image name or a '
                       '.inr file')
    common.check_non_negative(config, ('tile_size', 'tile_overlap'))
    if config.tile_ramp not in tiling.RAMPS:
      raise ValueError(f'config.tile_ramp must be one of {", ".join(tiling.RAMPS)}')
    if config.param_dtype not in inr_file.PARAM_DTYPES:
      raise ValueError(f'config.param_dtype must be one of {", ".join(inr_file.PARAM_DTYPES)}')


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
  """(h, w, C) float image -> (height, width, C) with a PIL filter, per channel in float32."""
  channels = [np.asarray(Image.fromarray(np.ascontiguousarray(image[..., c], np.float32), 'F')
                         .resize((width, height), CLASSICAL[method]))
              for c in range(image.shape[-1])]
  return np.stack(channels, axis=-1)


def region_psnr(prediction: np.ndarray, target: np.ndarray, mask: np.ndarray) -> float:
  """PSNR over the pixels where mask (H, W) is True."""
  error = (np.clip(prediction, -1, 1) - target)[mask]
  return float(metrics.psnr_from_mse(np.mean(error.astype(np.float64) ** 2)))


def model_description(config: ml_collections.ConfigDict, channels: int,
                      image_side: int) -> dict:
  """The ``make_field_model`` arguments of the model ``field_training.build_model`` builds, for
  the network file."""
  return inr_file.model_kwargs(
      config.model, out_features=channels, hidden_features=config.hidden_features,
      hidden_layers=config.hidden_layers, first_omega0=config.first_omega0,
      hidden_omega0=config.hidden_omega0, zero_bias=config.zero_bias,
      num_frequencies=config.num_frequencies or baselines.nyquist_num_frequencies(image_side))


def fit(config: ml_collections.ConfigDict, workdir: str, tag: str, image: np.ndarray,
        writer: common.ScalarWriter):
  """Fits config.model to (h, w, C) ``image``; returns (train state, loop result)."""
  coords, values = grids.image_to_samples(image)

  def eval_fn(state):
    prediction = fitting.evaluate(state.apply_fn, state.params, coords, config.chunk_size)
    return {'psnr': float(metrics.psnr(prediction, values))}

  result = field_training.train_field(
      config, workdir, tag=tag, model_name=config.model, out_features=image.shape[-1],
      image_side=max(image.shape[:2]), loss_fn=fitting.image_loss,
      batch={'coords': coords, 'values': values}, eval_fn=eval_fn, writer=writer)
  return result.state, result


def compare(config: ml_collections.ConfigDict, workdir: str) -> dict:
  """Downsamples the ground truth by each factor, upsamples it back with every method and
  SIREN, and measures them against the ground truth."""
  truth = images.load_image(config.image, mode=config.mode or None, size=config.image_size)
  height, width, channels = truth.shape
  render.check_size(height, width, config.max_pixels)
  grad = finite_differences.sobel_gradient(truth)
  magnitude = np.sqrt((np.asarray(grad) ** 2).sum(axis=(-1, -2)))
  edges = magnitude > np.quantile(magnitude, EDGE_QUANTILE)
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
      state, result = fit(config, workdir, f'{config.model}_x{factor}', low, writer)
      start = time.perf_counter()
      outputs[config.model] = render.render(state.apply_fn, state.params, height, width,
                                            max_chunk_points=config.chunk_size,
                                            max_pixels=config.max_pixels)
      render_seconds = time.perf_counter() - start
      low_fit = render.render(state.apply_fn, state.params, *low.shape[:2],
                              max_chunk_points=config.chunk_size)
      network_path = os.path.join(workdir, f'{config.model}_x{factor}.inr')
      network_bytes = inr_file.save(
          network_path, state.params, model=model_description(config, channels, max(low.shape)),
          height=low.shape[0], width=low.shape[1], channels=channels,
          extra={'source': config.image, 'downsampled_by': factor, 'steps': int(state.step)})
      scores = {name: {'psnr': float(metrics.psnr(out, truth)),
                       'ssim': metrics.ssim(out, truth),
                       'psnr_edges': region_psnr(out, truth, edges),
                       'psnr_smooth': region_psnr(out, truth, ~edges)}
                for name, out in outputs.items()}
      results[f'x{factor}'] = {
          'low_res': list(low.shape), 'methods': scores,
          'fit_psnr_on_low_res': float(metrics.psnr(low_fit, low)),
          'steps': int(state.step), 'seconds_per_step': result.seconds_per_step,
          'render_seconds': render_seconds, 'network_file': os.path.basename(network_path),
          'network_bytes': network_bytes, 'low_res_8bit_bytes': int(low.size),
          'resumed_from_step': result.resumed_from}
      logging.info('x%d: %s', factor, ', '.join(f'{n} {s["psnr"]:.2f} dB' for n, s in
                                                scores.items()))
      # Clipped as the metrics clip: positive where the model is closer to the truth.
      gain = (np.abs(np.clip(outputs['bicubic'], -1, 1) - truth)
              - np.abs(np.clip(outputs[config.model], -1, 1) - truth)).mean(axis=-1)
      rows.append([(f'x{factor} input {low.shape[0]}x{low.shape[1]}\n'
                    f'(nearest {scores["nearest"]["psnr"]:.1f} dB)',
                    figures.to_unit(outputs['nearest'][crop])),
                   *[(f'{n} {scores[n]["psnr"]:.1f} dB', figures.to_unit(outputs[n][crop]))
                     for n in (*CLASSICAL, config.model) if n != 'nearest'],
                   ('ground truth', figures.to_unit(truth[crop])),
                   (f'|err bicubic|-|err {config.model}|\n(blue: {config.model} better)',
                    images.laplacian_to_rgb(gain[crop], percentile=99.0))])
  finally:
    writer.close()
  output = {'task': 'compare', 'image': config.image, 'height': height, 'width': width,
            'channels': channels, 'edge_fraction': float(edges.mean()),
            'crop': {'top': top, 'left': left, 'size': side},
            'device': jax.devices()[0].device_kind, 'factors': results,
            'config': config.to_dict()}
  if common.is_main_process():
    figures.image_grid(os.path.join(workdir, 'comparison.png'), rows, cell_inches=1.9)
    common.write_json(os.path.join(workdir, 'metrics.json'), output)
  return output


def output_size(config: ml_collections.ConfigDict, height: int, width: int) -> tuple[int, int]:
  """The upscaled size of a height x width input under config.factor/out_height/out_width."""
  return render.target_size(height, width, factor=config.factor, out_height=config.out_height,
                            out_width=config.out_width, max_pixels=config.max_pixels)


def upscale(config: ml_collections.ConfigDict, workdir: str) -> dict:
  """Fits config.input (or loads a saved network) and renders it at the requested size."""
  output_path = config.output or os.path.join(workdir, 'upscaled.png')
  network_path = config.network_output or os.path.join(workdir, 'fitted.inr')
  info = {'task': 'upscale', 'input': config.input}
  if config.input.endswith('.inr'):
    fitted = inr_file.load(config.input)
    field, params = fitted.field, fitted.params
    height, width = fitted.height, fitted.width
    network_path = config.input
  else:
    image = images.load_image(config.input, mode=config.mode or None)
    height, width, channels = image.shape
    render.check_size(height, width, config.max_pixels)
    output_size(config, height, width)  # Bad sizes fail before the fit, not after.
    model_info = model_description(config, channels, max(height, width))
    writer = common.ScalarWriter(os.path.join(workdir, 'tb'))
    try:
      if config.tile_size:
        layout = tiling.make_layout(height, width, config.tile_size, config.tile_overlap)
        model = fields.make_field_model(**model_info)
        start = time.perf_counter()
        result = tiling.fit_tiles(
            model, image, layout, key=jax.random.PRNGKey(config.seed),
            optimizer=optax.adam(config.learning_rate), num_steps=config.steps,
            steps_per_call=config.steps_per_call, log_every=config.log_every,
            log_fn=lambda s, m: common.log_progress('tiles', s, config.steps, m))
        info['fit_seconds'] = time.perf_counter() - start
        params = result.state.params
        field = tiling.tiled_field(lambda p, x: model.apply({'params': p}, x), layout,
                                   config.tile_ramp)
        info['num_tiles'] = layout.num_tiles
      else:
        state, _ = fit(config, workdir, config.model, image, writer)
        field, params, layout = state.apply_fn, state.params, None
    finally:
      writer.close()
    info['fit_psnr'] = float(metrics.psnr(
        render.render(field, params, height, width, max_chunk_points=config.chunk_size), image))
    info['network_bytes'] = inr_file.save(
        network_path, params, model=model_info, height=height, width=width, channels=channels,
        layout=layout, ramp=config.tile_ramp, param_dtype=config.param_dtype,
        extra={'source': config.input, 'steps': config.steps})
  out_height, out_width = output_size(config, height, width)
  upscaled = render.render(field, params, out_height, out_width,
                           max_chunk_points=config.chunk_size, max_pixels=config.max_pixels)
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
  workdir = common.require_workdir(workdir)
  if config.task == 'compare':
    return compare(config, workdir)
  return upscale(config, workdir)
