"""Scores a trained learned-resize model against PIL bicubic and Lanczos on photos it never saw
(the corpus's test split).

For each test photo (the first file of each photo) and each scale s of ``config.eval_scales``:
the ground truth is the photo's centred square of side min(eval_size, short side) rounded down
to a multiple of 24; the input is it resized to round(side / s) pixels by PIL bicubic
(anti-aliased), as in training; every method resizes the input back to side x side. Scores,
with a border of ceil(s) pixels shaved: RGB PSNR (data range of [-1, 1]), luminance PSNR
(Y = 16 + (65.738 R + 129.057 G + 25.064 B) / 256 on 0-255 values, peak 255) and SSIM (RGB,
scikit-image). Writes metrics.json (every photo, scale and method; means, standard deviations
and the share of photos the model improves over Lanczos) and table.md.
"""

from __future__ import annotations

import math
import os
import time
from typing import Any

import jax
import ml_collections
import numpy as np
from absl import logging

from experiments import common
from experiments.sr import train
from siren_jax import metrics
from siren_jax.sr import model_file, patches, upscale

BASELINES = ('bicubic', 'lanczos')


def scales(config: ml_collections.ConfigDict) -> list[float]:
  """The positive scales of config.eval_scales."""
  values = []
  for name in common.split_names(config.eval_scales):
    try:
      value = float(name)
    except ValueError:
      value = 0.0
    if not value > 1:
      raise ValueError(f'config.eval_scales: {name!r} is not a scale > 1')
    values.append(value)
  if not values:
    raise ValueError('config.eval_scales is empty; give scales such as "2,3,4"')
  return values


def y_psnr(prediction: np.ndarray, target: np.ndarray) -> float:
  """Luminance PSNR (dB, peak 255) of two (H, W, 3) images in [-1, 1] (prediction clipped)."""
  weights = np.asarray([65.738, 129.057, 25.064]) / 256.0

  def luma(x: np.ndarray) -> np.ndarray:
    return 16.0 + ((np.clip(x, -1, 1).astype(np.float64) + 1.0) * 127.5) @ weights

  mse = np.mean((luma(prediction) - luma(target)) ** 2)
  return float(10.0 * np.log10(255.0 ** 2 / max(mse, 1e-20)))


def rgb_psnr(prediction: np.ndarray, target: np.ndarray) -> float:
  """PSNR (dB) of (H, W, C) images in [-1, 1], prediction clipped, data range 2."""
  error = np.clip(prediction, -1, 1).astype(np.float64) - target
  return float(metrics.psnr_from_mse(np.mean(error ** 2)))


def scores(prediction: np.ndarray, target: np.ndarray, shave: int) -> dict[str, float]:
  inner = (slice(shave, -shave or None),) * 2
  p, t = prediction[inner], target[inner]
  return {'psnr': rgb_psnr(p, t), 'psnr_y': y_psnr(p, t), 'ssim': metrics.ssim(p, t)}


def test_photos(config: ml_collections.ConfigDict) -> list[tuple[str, np.ndarray]]:
  """(name, uint8 photo) for the first file of each photo of config.test_dataset."""
  return first_views(train.open_photos(config, config.test_dataset))


def first_views(photos: Any) -> list[tuple[str, np.ndarray]]:
  """(name, (H, W, 3) uint8 photo) for the first file of each photo of ``photos`` (a
  ``siren_jax.data.crops.open_photos`` source; a stereo pair counts once)."""
  seen, out = set(), []
  for i in range(len(photos)):
    group = photos.groups[i]
    if group not in seen:
      seen.add(group)
      out.append((os.path.basename(str(group)), np.asarray(photos[i])))
  return out


def evaluate(config: ml_collections.ConfigDict, workdir: str) -> dict[str, Any]:
  """Scores config.model_file on config.test_dataset; returns what it writes to metrics.json."""
  trained = model_file.load(config.model_file)
  scale_list = scales(config)
  photos = test_photos(config)
  workdir = common.require_workdir(workdir, config)
  methods = ('model', *BASELINES)
  rows: dict[str, dict[str, dict[str, dict[str, float]]]] = {}
  seconds = 0.0
  for name, photo in photos:
    side = min(config.eval_size, *photo.shape[:2]) // 24 * 24
    truth = train.to_signed(train.centre_crop(photo, side))
    rows[name] = {}
    for s in scale_list:
      low_side = max(1, round(side / s))
      low = patches.pil_resize(truth, low_side, low_side)
      if low_side < trained.spec.min_input_side:
        logging.warning('%s x%g: a %d-pixel input is below the model\'s receptive field; '
                        'skipped.', name, s, low_side)
        continue
      start = time.perf_counter()
      out = {'model': upscale.upscale(trained.spec, trained.params, low, side, side,
                                      tile_size=config.tile_size)}
      seconds += time.perf_counter() - start
      out.update({m: patches.pil_resize(low, side, side, patches.PIL_FILTERS[m])
                  for m in BASELINES})
      shave = math.ceil(s)
      rows[name][f'x{s:g}'] = {m: scores(out[m], truth, shave) for m in methods}
      logging.info('%s x%g (%d -> %d): %s', name, s, low_side, side, ', '.join(
          f'{m} {v["psnr"]:.2f}' for m, v in rows[name][f'x{s:g}'].items()))
  summary = summarise(rows, scale_list)
  output = {'task': 'evaluate', 'model_file': config.model_file,
            'model': trained.metadata, 'photos': rows, 'summary': summary,
            'model_seconds': seconds, 'device': jax.devices()[0].device_kind,
            'config': config.to_dict()}
  common.write_json(os.path.join(workdir, 'metrics.json'), output)
  common.write_text(os.path.join(workdir, 'table.md'), table(rows, summary, scale_list))
  return output


def summarise(rows: dict[str, Any], scale_list: list[float]) -> dict[str, Any]:
  """Per scale: mean and standard deviation over photos of every method's scores, and of the
  model's RGB PSNR gain over each baseline, and the share of photos it improves over Lanczos."""
  summary = {}
  for s in scale_list:
    key = f'x{s:g}'
    per = [r[key] for r in rows.values() if key in r]
    if not per:
      continue
    entry: dict[str, Any] = {'photos': len(per)}
    for m in per[0]:
      for metric in per[0][m]:
        values = [p[m][metric] for p in per]
        entry[f'{m}_{metric}'] = [float(np.mean(values)), float(np.std(values))]
    for b in BASELINES:
      gains = [p['model']['psnr'] - p[b]['psnr'] for p in per]
      entry[f'gain_over_{b}'] = [float(np.mean(gains)), float(np.std(gains))]
      entry[f'improved_over_{b}'] = float(np.mean([g > 0 for g in gains]))
    summary[key] = entry
  return summary


def table(rows: dict[str, Any], summary: dict[str, Any], scale_list: list[float]) -> str:
  """Markdown: the summary per scale, then RGB PSNR per photo and scale."""
  lines = ['| scale | photos | model PSNR | bicubic | Lanczos | gain over Lanczos | improved | '
           'model Y-PSNR | Lanczos Y-PSNR | model SSIM | Lanczos SSIM |',
           '|---|---|---|---|---|---|---|---|---|---|---|']
  for key, e in summary.items():
    pm = lambda v: f'{v[0]:.2f} ± {v[1]:.2f}'  # noqa: E731
    lines.append(f'| {key} | {e["photos"]} | {pm(e["model_psnr"])} | {pm(e["bicubic_psnr"])} | '
                 f'{pm(e["lanczos_psnr"])} | {pm(e["gain_over_lanczos"])} | '
                 f'{e["improved_over_lanczos"]:.0%} | {pm(e["model_psnr_y"])} | '
                 f'{pm(e["lanczos_psnr_y"])} | {e["model_ssim"][0]:.3f} | '
                 f'{e["lanczos_ssim"][0]:.3f} |')
  keys = [f'x{s:g}' for s in scale_list]
  lines += ['', '| photo | ' + ' | '.join(f'{k} model / Lanczos' for k in keys) + ' |',
            '|---|' + '---|' * len(keys)]
  for name, r in rows.items():
    cells = [f'{r[k]["model"]["psnr"]:.2f} / {r[k]["lanczos"]["psnr"]:.2f}' if k in r else '-'
             for k in keys]
    lines.append(f'| {name} | ' + ' | '.join(cells) + ' |')
  return '\n'.join(lines) + '\n'
