"""Mode 'clone' of experiments.poisson: Perez seamless cloning of a source region into a
destination (``siren_jax.poisson.seamless``), by the direct sparse solver and by a SIREN fitted to the
same Dirichlet problem, one local edit on the same machinery, and OpenCV side by side.

Writes to the workdir (RULE in config.rules, EDIT = config.local_edit):
  destination.png, source.png, naive_paste.png          inputs and the naive paste
  clone_RULE_direct.png                                 sparse direct solution
  clone_RULE_siren.png                                  SIREN inside Omega, destination outside
  clone_RULE_siren_2x.png, clone_RULE.inr               the SIREN rendered at render_scale x,
                                                        and the network file (resize tool format)
  clone_RULE_opencv.png, clone_RULE_opencv_like.png     cv2.seamlessClone (when installed) and
                                                        this solver set up OpenCV's way
  edit_EDIT_direct.png, edit_EDIT_opencv*.png           the local edit, likewise
  figure.png, metrics.json, tb/, checkpoints/

PSNRs against OpenCV are over OpenCV's solve box (the mask's bounding box in the destination,
where its output differs from the destination); elsewhere both equal the destination.

A learned init (``config.init``) starts every SIREN fit (each rule's); metrics.json and the
``.inr`` files record it.
"""

from __future__ import annotations

import os
import time

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
from absl import logging

from experiments import common, driver, figures
from siren_jax import grids, images, inr_file, metrics, render
from siren_jax.poisson import seamless, targets

try:  # Comparison only; never a dependency.
  import cv2
except ImportError:  # pragma: no cover - depends on the environment.
  cv2 = None

OPENCV_FLAGS = {'normal': 'NORMAL_CLONE', 'mixed': 'MIXED_CLONE'}


def check_config(config: ml_collections.ConfigDict) -> tuple[str, list[str]]:
  """One-line errors for bad clone settings; returns (colour mode, rules)."""
  color = config.colors
  if color not in images.MODES:
    raise ValueError(f'config.colors must be one colour mode (grey or rgb) for clone, got '
                     f'{color!r}')
  rules = common.split_names(config.rules)
  if not rules or any(r not in seamless.RULES for r in rules):
    raise ValueError(f'config.rules must list some of {", ".join(seamless.RULES)} for clone, '
                     f'got {config.rules!r}')
  if any(r not in rules for r in common.split_names(config.siren_rules)):
    raise ValueError(f'config.siren_rules must be a subset of config.rules ({config.rules!r}), '
                     f'got {config.siren_rules!r}')
  if config.local_edit not in ('', *seamless.EDITS):
    raise ValueError(f'config.local_edit must be empty or one of {", ".join(seamless.EDITS)}, '
                     f'got {config.local_edit!r}')
  driver.check_data_fields(config)
  if config.data.grid != 'half_pixel':
    raise ValueError(f'config.data.grid must be half_pixel for clone (its network loss and '
                     f'renders are written for that grid), got {config.data.grid!r}')
  if config.anchor not in seamless.ANCHORS:
    raise ValueError(f'config.anchor must be one of {", ".join(seamless.ANCHORS)}, got '
                     f'{config.anchor!r}')
  common.check_positive(config, ('image_scale', 'render_scale', 'guidance_weight'))
  if config.mask in seamless.SHAPES:
    for name in ('mask_height', 'mask_width'):
      if not 0.0 < config[name] <= 1.0:
        raise ValueError(f'config.{name} must be in (0, 1], got {config[name]!r}')
  driver.check_model_fields(config)
  color_factors(config)
  return color, rules


def color_factors(config: ml_collections.ConfigDict) -> list[float]:
  names = common.split_names(config.color_factors)
  try:
    factors = [float(n) for n in names]
  except ValueError:
    factors = []
  if len(factors) != 3:
    raise ValueError(f'config.color_factors must be three numbers "r,g,b", got '
                     f'{config.color_factors!r}')
  return factors


def _scaled_size(shape, scale: float) -> tuple[int, int]:
  return max(1, round(shape[0] * scale)), max(1, round(shape[1] * scale))


def load_inputs(config: ml_collections.ConfigDict, color: str):
  """Destination (H, W, C), source (Hs, Ws, C) in [-1, 1] scaled by config.image_scale, the
  prepared source mask (Hs, Ws) bool, and the position (y, x) in scaled destination pixels."""
  dest_shape = images.read_image(config.image).shape
  source_shape = images.read_image(config.image_b).shape
  dest = images.load_image(config.image, mode=color,
                           size=_scaled_size(dest_shape, config.image_scale),
                           resize_method=config.data.resize)
  source = images.load_image(config.image_b, mode=color,
                             size=_scaled_size(source_shape, config.image_scale),
                             resize_method=config.data.resize)
  if config.mask in seamless.SHAPES:
    mask = seamless.shape_mask(config.mask, *source.shape[:2], config.mask_height,
                               config.mask_width)
  else:
    raw = images.read_image(config.mask)
    if raw.shape[:2] != source_shape[:2]:
      raise ValueError(f'mask {config.mask!r} is {raw.shape[0]}x{raw.shape[1]} but the source '
                       f'{config.image_b!r} is {source_shape[0]}x{source_shape[1]}; give a mask '
                       'of the source\'s size')
    # Nearest-neighbour scaling keeps the mask binary.
    rows = np.minimum((np.arange(source.shape[0]) + 0.5) / config.image_scale,
                      raw.shape[0] - 1).astype(int)
    cols = np.minimum((np.arange(source.shape[1]) + 0.5) / config.image_scale,
                      raw.shape[1] - 1).astype(int)
    mask = raw.max(axis=-1)[rows][:, cols] > 0
  mask = seamless.prepare_mask(mask, source.shape)
  if config.position:
    parts = common.split_names(config.position)
    try:
      position = tuple(round(int(p) * config.image_scale) for p in parts)
    except ValueError:
      position = ()
    if len(position) != 2:
      raise ValueError(f'config.position must be "Y,X" (integers, destination pixels), got '
                       f'{config.position!r}')
  else:
    position = (dest.shape[0] // 2, dest.shape[1] // 2)
  return dest, source, mask, position


def _u8(image: np.ndarray) -> np.ndarray:
  """[-1, 1] (H, W, C) -> uint8 (H, W, 3) (grey repeated: OpenCV's cloning wants 3 channels)."""
  u8 = images.to_uint8(image)
  return np.repeat(u8[..., None], 3, axis=-1) if u8.ndim == 2 else u8


def _from_u8(image: np.ndarray, channels: int) -> np.ndarray:
  """uint8 (H, W, 3) -> [-1, 1] float32 (H, W, channels)."""
  return (image[..., :channels].astype(np.float32) / 127.5 - 1.0)


def _box(placement: seamless.Placement) -> tuple[np.ndarray, tuple[int, int]]:
  """OpenCV's solve box (H, W) bool -- Omega's bounding box -- and its centre (y, x) by
  OpenCV's convention (top-left = centre - size // 2)."""
  top, left, height, width = seamless.bounding_box(placement.omega)
  box = np.zeros_like(placement.omega)
  box[top:top + height, left:left + width] = True
  return box, (top + height // 2, left + width // 2)


def _opencv_clone(dest, source, placement, mask, rule):
  """cv2.seamlessClone and opencv_like_clone on the uint8 images: two (H, W, C) in [-1, 1]."""
  channels = dest.shape[-1]
  _, center = _box(placement)
  mask_u8 = mask.astype(np.uint8) * 255
  like = seamless.opencv_like_clone(_u8(dest), _u8(source), mask_u8, center, rule)
  if cv2 is None:
    return None, _from_u8(like, channels)
  # seamlessClone writes into a single-channel mask (erodes and inverts it): pass a copy.
  real = cv2.seamlessClone(_u8(source), _u8(dest), mask_u8.copy(), (center[1], center[0]),
                           getattr(cv2, OPENCV_FLAGS[rule]))
  return _from_u8(real, channels), _from_u8(like, channels)


def _opencv_steps(dest, source, placement, mask, rule, real, box) -> dict[str, float]:
  """PSNR over the box against cv2's result as OpenCV's choices are added one at a time to the
  exact solve (``opencv_like_clone``'s switches): where the difference comes from."""
  _, center = _box(placement)
  choices = ['opencv_mixed'] if rule == 'mixed' else []
  choices += ['box_domain', 'erode', 'truncate']
  steps, on = {}, set()
  for choice in [None, *choices]:
    if choice:
      on.add(choice)
    like = seamless.opencv_like_clone(
        _u8(dest), _u8(source), mask.astype(np.uint8) * 255, center, rule,
        **{c: c in on for c in ('opencv_mixed', 'box_domain', 'erode', 'truncate')})
    steps['exact' if choice is None else f'+ {choice}'] = metrics.masked_psnr(
        _from_u8(like, dest.shape[-1]), real, box)
  return steps


def field_spec(config: ml_collections.ConfigDict, dest: np.ndarray) -> dict:
  """The spec of ``config.model.name`` fitted over destination ``dest`` (H, W, C)."""
  height, width, channels = dest.shape
  return driver.model_spec(config, config.model.name, channels, max(height, width))


def fit_siren(config, workdir, writer, *, tag, dest, omega, guidance, direct, init=None):
  """Fits config.model.name to the Dirichlet problem from ``init`` (a learned init; None:
  random); returns (field at the pixel centres, the spec, the loop result)."""
  height, width = dest.shape[:2]
  batch = seamless.network_batch(dest, omega, *guidance)
  batch = {k: jnp.asarray(v) for k, v in batch.items()}
  batch['coords'] = grids.make_grid(height, width).reshape(-1, 2)

  def field(apply_fn, params) -> np.ndarray:
    return render.render(apply_fn, params, height, width,
                         max_chunk_points=config.render_chunk_points, max_pixels=None)

  def eval_fn(state) -> dict[str, float]:
    return {'psnr_inside_vs_direct': metrics.masked_psnr(field(state.apply_fn, state.params),
                                                         direct, omega)}

  spec = field_spec(config, dest)
  result = driver.train_field(
      config, workdir, tag=tag, spec=spec,
      loss_fn=seamless.make_network_loss(height, width, config.guidance_weight), batch=batch,
      eval_fn=eval_fn, writer=writer,
      source={'destination': config.image, 'source': config.image_b,
              'guidance_weight': config.guidance_weight}, init=init)
  return field(result.state.apply_fn, result.params), spec, result


def clone(config, workdir, writer, color, rule, dest, source, mask, position, rows, outputs,
          init=None):
  """One cloning rule: direct, SIREN (+ 2x render and .inr), OpenCV. Returns its metrics."""
  placement = seamless.place(mask, dest.shape, position, config.anchor)
  omega = placement.omega
  placed = seamless.paste(dest, source, placement.top, placement.left)
  guidance = seamless.clone_guidance(dest, placed, rule)
  start = time.perf_counter()
  direct = seamless.solve(dest, omega, *guidance)
  direct_seconds = time.perf_counter() - start
  summary = {'direct': {'seconds': direct_seconds, 'unknowns': int(omega.sum()),
                        'residual_max': seamless.residual(direct, omega, *guidance)}}
  row = [(f'{rule}: direct', figures.to_unit(direct))]
  outputs[f'clone_{rule}_direct'] = direct
  channels = dest.shape[-1]
  if rule in common.split_names(config.siren_rules or config.rules):
    _, summary[config.model.name], siren_row = _siren_part(
        config, workdir, writer, color, rule, dest, omega, guidance, direct, outputs, init)
    row += siren_row
  real, like = _opencv_clone(dest, source, placement, mask, rule)
  box, _ = _box(placement)
  direct_u8 = _from_u8(_u8(direct), channels)
  opencv = {'psnr_box_direct_vs_opencv_like': metrics.masked_psnr(direct_u8, like, box)}
  outputs[f'clone_{rule}_opencv_like'] = like
  if real is not None:
    outputs[f'clone_{rule}_opencv'] = real
    opencv.update({
        'psnr_box_direct_vs_opencv': metrics.masked_psnr(direct_u8, real, box),
        'psnr_box_opencv_like_vs_opencv': metrics.masked_psnr(like, real, box),
        'opencv_like_pixels_differing_from_opencv': int(
            np.any(_u8(like) != _u8(real), axis=-1).sum()),
        'opencv_pixels_changed_outside_omega': int(
            np.any(_u8(real) != _u8(dest), axis=-1)[~omega].sum()),
        'psnr_box_vs_opencv_adding_its_choices': _opencv_steps(dest, source, placement, mask,
                                                               rule, real, box)})
  summary['opencv'] = opencv
  logging.info('[clone %s] residual %.2g; %s', rule, summary['direct']['residual_max'], opencv)
  rows.append(row + [('OpenCV' if real is not None else 'OpenCV-like (cv2 missing)',
                      figures.to_unit(real if real is not None else like))])
  return summary, placement


def _siren_part(config, workdir, writer, color, rule, dest, omega, guidance, direct, outputs,
                init=None):
  """The SIREN fit of one rule, its renders and network file: (result off Omega = dest,
  metrics, figure cells)."""
  start = time.perf_counter()
  field, spec, result = fit_siren(config, workdir, writer, tag=f'clone_{color}_{rule}', dest=dest,
                            omega=omega, guidance=guidance, direct=direct, init=init)
  siren_seconds = time.perf_counter() - start
  siren = np.where(omega[..., None], field, dest)  # Off Omega the destination, bit for bit.
  height, width, channels = dest.shape
  factor = config.render_scale
  big = render.render(result.state.apply_fn, result.params, round(height * factor),
                      round(width * factor), max_chunk_points=config.render_chunk_points)
  network = os.path.join(workdir, f'clone_{rule}.inr')
  network_bytes = inr_file.save(
      network, result.params, model=spec, height=height,
      width=width, channels=channels,
      extra={'task': 'seamless_clone', 'rule': rule, 'destination': config.image,
             'source': config.image_b, 'steps': int(result.state.step),
             'init': driver.init_record(config, init)})
  summary = {
      'psnr_inside_vs_direct': metrics.masked_psnr(siren, direct, omega),
      'outside_equals_destination': bool(np.array_equal(siren[~omega], dest[~omega])),
      'steps': int(result.state.step), 'seconds': siren_seconds,
      'seconds_per_step': result.seconds_per_step, 'resumed_from_step': result.resumed_from,
      'psnr_history': result.history, 'render_size': list(big.shape[:2]),
      'network_file': os.path.basename(network), 'network_bytes': network_bytes}
  outputs.update({f'clone_{rule}_siren': siren, f'clone_{rule}_siren_{factor:g}x': big})
  logging.info('[clone %s] %s vs direct inside Omega: %.2f dB', rule, config.model.name,
               summary['psnr_inside_vs_direct'])
  cells = [(f'{config.model.name} {summary["psnr_inside_vs_direct"]:.1f} dB in Ω',
            figures.to_unit(siren)), (f'{config.model.name} {factor:g}x', figures.to_unit(big))]
  return siren, summary, cells


def local_edit(config, dest, placement, rows, outputs) -> dict:
  """config.local_edit on the destination inside Omega: exact Dirichlet vs OpenCV."""
  edit = config.local_edit
  channels = dest.shape[-1]
  omega = placement.omega
  if edit == 'illumination':
    # alpha in OpenCV's grey levels; images here span 2 over 255 levels.
    guidance = seamless.illumination_guidance(dest, config.illumination_alpha / 127.5,
                                              config.illumination_beta)
  else:
    factors = color_factors(config)
    guidance = seamless.color_guidance(dest, factors if channels == 3 else factors[:1])
  start = time.perf_counter()
  direct = seamless.solve(dest, omega, *guidance)
  summary = {'direct': {'seconds': time.perf_counter() - start,
                        'residual_max': seamless.residual(direct, omega, *guidance)}}
  mask_u8 = omega.astype(np.uint8) * 255
  kwargs = ({'alpha': config.illumination_alpha, 'beta': config.illumination_beta}
            if edit == 'illumination' else {'factors': color_factors(config)})
  like = _from_u8(seamless.opencv_like_edit(_u8(dest), mask_u8, edit, **kwargs), channels)
  direct_u8 = _from_u8(_u8(direct), channels)
  everywhere = np.ones_like(omega)
  summary['opencv'] = {
      'psnr_direct_vs_opencv_like': metrics.masked_psnr(direct_u8, like, everywhere)}
  outputs[f'edit_{edit}_direct'] = direct
  outputs[f'edit_{edit}_opencv_like'] = like
  real = None
  if cv2 is not None:
    bgr = np.ascontiguousarray(_u8(dest)[..., ::-1])
    if edit == 'illumination':
      real = cv2.illuminationChange(bgr, mask_u8.copy(), alpha=config.illumination_alpha,
                                    beta=config.illumination_beta)
    else:
      red, green, blue = color_factors(config)
      real = cv2.colorChange(bgr, mask_u8.copy(), red_mul=red, green_mul=green, blue_mul=blue)
    real = _from_u8(np.ascontiguousarray(real[..., ::-1]), channels)
    outputs[f'edit_{edit}_opencv'] = real
    summary['opencv'].update({
        'psnr_direct_vs_opencv': metrics.masked_psnr(direct_u8, real, everywhere),
        'psnr_opencv_like_vs_opencv': metrics.masked_psnr(like, real, everywhere),
        'opencv_like_pixels_differing_from_opencv': int(
            np.any(_u8(like) != _u8(real), axis=-1).sum()),
        'opencv_pixels_changed_outside_omega': int(
            np.any(_u8(real) != _u8(dest), axis=-1)[~omega].sum())})
  rows.append([(f'{edit} change: region', figures.to_unit(np.where(omega[..., None], dest,
                                                                   0.5 * dest - 0.5))),
               ('direct (exact Dirichlet)', figures.to_unit(direct)),
               ('OpenCV' if real is not None else 'OpenCV-like (cv2 missing)',
                figures.to_unit(real if real is not None else like))])
  return summary


def run(config: ml_collections.ConfigDict, workdir: str) -> dict:
  """Mode 'clone': writes the files listed in the module docstring; returns metrics.json."""
  color, rules = check_config(config)
  dest, source, mask, position = load_inputs(config, color)
  init = driver.load_init(config)
  if init is not None:
    driver.check_init(config, init, field_spec(config, dest), dest.shape[:2])
  workdir = common.require_workdir(workdir, config)
  # float64 throughout: the residual then shows the solver's tolerance, not float32 rounding;
  # float32 -> float64 is exact, so off Omega the result still is the destination bit for bit.
  dest, source = dest.astype(np.float64), source.astype(np.float64)
  logging.info('Clone %s: destination %s %s, source %s %s at %s (%s), rules %s, %s %d steps.',
               color, config.image, dest.shape, config.image_b, source.shape, position,
               config.anchor, rules, config.model.name, config.steps)
  results, rows, outputs = {}, [], {}
  writer = common.ScalarWriter(os.path.join(workdir, 'tb'))
  try:
    placement = None
    for rule in rules:
      results[rule], placement = clone(config, workdir, writer, color, rule, dest, source,
                                       mask, position, rows, outputs, init)
  finally:
    writer.close()
  naive = targets.naive_paste(
      dest, seamless.paste(dest, source, placement.top, placement.left), placement.omega)
  shown_source = np.where(mask[..., None], source, 0.4 * source - 0.6)
  rows.insert(0, [('destination', figures.to_unit(dest)),
                  ('source, mask', figures.to_unit(shown_source)),
                  ('naive paste', figures.to_unit(naive))])
  outputs.update({'destination': dest, 'source': source, 'naive_paste': naive})
  if config.local_edit:
    results[f'edit_{config.local_edit}'] = local_edit(config, dest, placement, rows, outputs)
  output = {'mode': 'clone', 'image': config.image, 'image_b': config.image_b,
            'destination_size': list(dest.shape), 'source_size': list(source.shape),
            'position': list(position), 'anchor': config.anchor,
            'omega_pixels': int(placement.omega.sum()), 'opencv': cv2 is not None and
            cv2.__version__, 'device': jax.devices()[0].device_kind,
            'results': results, 'init': driver.init_record(config, init),
            'config': config.to_dict()}
  if common.is_main_process():
    for name, image in outputs.items():
      images.save_png(os.path.join(workdir, f'{name}.png'), image)
    figures.image_grid(os.path.join(workdir, 'figure.png'), rows, cell_inches=2.4)
    common.write_json(os.path.join(workdir, 'metrics.json'), output)
  return output
