"""Evaluation of colourisation from hints (experiments.colorize_hints): hints sampled from each
photo's truth, Levin et al.'s direct solve and the SIREN fitted to the same problem, against the
grey baseline (ab = 0) and the truth.

These methods learn nothing from other photos, so every photo is held out. For each photo
(``config.hints.photos``, at a short side of ``eval_side``; a photo with two views is the mean of
its views), each setting KIND:COUNT (``settings`` for the direct solve, ``siren_settings`` for the
SIREN) and each seed of hint placement (``seeds``), hints are sampled from the truth
(``hints.sample``: positions from (seed, photo shape), colours read at those pixels only), the
photo is colourised from its lightness and the hints, and scored with
``colour_metrics.evaluate``: RGB PSNR and ab PSNR against the truth, colourfulness and its ratio
to the truth's. The SIREN is also compared with the direct solve of the same hints (ab PSNR, and
its RGB PSNR minus the direct solve's).

Writes WORKDIR/hints.json (everything, per method, setting, photo and seed), hints.md (tables)
and hints.png (grey input, hints, each method, truth).
"""

from __future__ import annotations

import functools
import os
import time
from typing import Any

import jax
import ml_collections
import numpy as np
from absl import logging

from experiments import common, figures
from experiments.colorize import hint_colorize
from siren_jax import data, files, images
from siren_jax.colorize import colour, colour_metrics, hint_field, levin
from siren_jax.colorize import hints as hints_lib
from siren_jax.data import corpus

# A corpus photo's name: 'corpus/CONFIG:SPLIT#PHOTO' (photo_names('corpus[/CONFIG][:SPLIT]')).
CORPUS_PREFIX = 'corpus'

METRICS = ('rgb_psnr', 'ab_psnr', 'colourfulness_ratio')
# Levin et al.'s direct solve; the direct solve of the gradient-domain form (the SIREN's problem
# when config.hints.form is 'gradient'); the SIREN.
METHODS = ('levin', 'gradient', 'siren')


def parse_settings(spec: str, field: str) -> list[tuple[str, int]]:
  """'points:1,strokes:10' -> [('points', 1), ('strokes', 10)]."""
  settings = []
  for item in common.split_names(spec):
    kind, _, count = item.partition(':')
    if kind not in hints_lib.KINDS or not count.isdigit() or int(count) < 1:
      raise ValueError(f'config.hints.{field}: bad setting {item!r}; use KIND:COUNT with KIND in '
                       f'{", ".join(hints_lib.KINDS)} and COUNT >= 1, comma-separated')
    settings.append((kind, int(count)))
  if len(set(settings)) != len(settings):
    raise ValueError(f'config.hints.{field} lists a setting twice: {spec!r}')
  return settings


def label(setting: tuple[str, int]) -> str:
  return f'{setting[0]}:{setting[1]}'


def photo_names(spec: str, data_dir: str = '') -> list[str]:
  """'natural' -> data.NATURAL_PHOTOS; 'A,B,...' -> offline photos or image files;
  'folder:/path' -> its image files (those of its test/ subfolder if it has one);
  'corpus[/CONFIG][:SPLIT]' -> 'corpus/CONFIG:SPLIT#PHOTO' for each photo of that split
  (default test) of siren_photos built in ``data_dir`` (its views are the photo's records)."""
  if spec == 'natural':
    return list(data.NATURAL_PHOTOS)
  if spec.startswith(CORPUS_PREFIX):
    config, split = corpus.parse_dataset(spec)
    photos = _corpus_split(config, split or 'test', data_dir).groups
    return [f'corpus/{config}:{split or "test"}#{photo}' for photo in dict.fromkeys(photos)]
  if spec.startswith('folder:'):
    path = os.path.expanduser(spec[len('folder:'):])
    files.check_reachable(path)
    if files.is_dir(os.path.join(path, 'test')):
      path = os.path.join(path, 'test')
    if not files.is_dir(path):
      raise FileNotFoundError(f'config.hints.photos: folder not found: {path!r}')
    found = [os.path.join(path, n) for n in files.list_dir(path)
             if n.lower().endswith(data.IMAGE_EXTENSIONS)]
    if not found:
      raise ValueError(f'config.hints.photos: no image files in {path!r}')
    return found
  names = common.split_names(spec)
  bad = [n for n in names if n not in data.PHOTOS and not files.is_file(n)]
  if not names or bad:
    raise ValueError(f'config.hints.photos={spec!r}: give natural, folder:/path, corpus[:SPLIT] '
                     f'or offline photos ({", ".join(data.PHOTOS)}) or image files' +
                     (f' (not {", ".join(bad)})' if bad else ''))
  return names


@functools.lru_cache(maxsize=2)
def _corpus_split(config: str, split: str, data_dir: str) -> corpus.PhotoSplit:
  return corpus.open_split(split, data_dir or None, config)


def _views(name: str, data_dir: str) -> list[np.ndarray]:
  """The views of photo ``name`` (photo_names), each (H, W, 3) float32 in [0, 1]."""
  if name in data.PHOTOS:
    return data.photo_views(name)
  if name.startswith(CORPUS_PREFIX):
    dataset, photo = name.split('#', 1)
    config, split = corpus.parse_dataset(dataset)
    return [v.astype(np.float32) / 255.0
            for v in _corpus_split(config, split, data_dir).photo_views(photo)]
  image = images.read_image(name)
  return [np.repeat(image, 3, -1) if image.shape[-1] == 1 else image]


def photo_views(name: str, eval_side: int, data_dir: str = '') -> list[dict[str, np.ndarray]]:
  """L (H, W, 1) and ab (H, W, 2) of each view of a photo at short side ``eval_side`` (never
  upscaled)."""
  out = []
  for view in _views(name, data_dir):
    h, w = view.shape[:2]
    scale = eval_side / min(h, w)
    if scale < 1:
      view = images.resize(view, (round(h * scale), round(w * scale)))
    lightness, ab = colour.rgb_to_scaled_lab(np.clip(view, 0, 1), rgb_range='unit')
    out.append({'L': lightness.astype(np.float32), 'ab': ab.astype(np.float32)})
  return out


def _siren(hints_config, lightness, hints) -> tuple[np.ndarray, float]:
  field = hint_colorize.fit_field(hints_config, lightness, hints)
  return hint_field.colourise(field, *lightness.shape[:2], hints), field.seconds


def _mean(records: list[dict[str, float]]) -> dict[str, float]:
  return {k: float(np.mean([r[k] for r in records])) for k in records[0]}


def run(config: ml_collections.ConfigDict, workdir: str) -> dict[str, Any]:
  """The whole evaluation; returns what hints.json holds."""
  hc = config.hints
  hint_colorize.check_config(hc)
  settings = parse_settings(hc.settings, 'settings')
  siren_settings = parse_settings(hc.siren_settings, 'siren_settings')
  figure_setting = parse_settings(hc.figure_setting, 'figure_setting')[0]
  if figure_setting not in settings:
    raise ValueError(f'config.hints.figure_setting={hc.figure_setting!r} must be one of '
                     f'config.hints.settings ({hc.settings!r})')
  if hc.seeds < 1 or hc.eval_side < 8 or hc.stroke_length < 1 or hc.figure_photos < 0:
    raise ValueError('config.hints.seeds and stroke_length must be >= 1, eval_side >= 8 and '
                     'figure_photos >= 0')
  names = photo_names(hc.photos, config.data_dir)
  workdir = common.require_workdir(workdir, config)
  start = time.perf_counter()
  results: dict[str, Any] = {'grey': {}, **{m: {} for m in METHODS}}
  figure_rows = []
  for p, name in enumerate(names):
    views = photo_views(name, hc.eval_side, config.data_dir)
    results['grey'][name] = _mean([colour_metrics.evaluate(colour_metrics.grey_ab(v['L']),
                                                           v['L'], v['ab']) for v in views])
    for setting in dict.fromkeys(settings + siren_settings):
      for seed in range(hc.seeds):
        per_view: dict[str, list[dict[str, float]]] = {m: [] for m in METHODS}
        for v, view in enumerate(views):
          hints = hints_lib.sample(seed, view['ab'], setting[1], setting[0],
                                   stroke_length=hc.stroke_length)
          tick = time.perf_counter()
          direct = levin.solve(view['L'], hints)
          levin_seconds = time.perf_counter() - tick
          if setting in settings:
            per_view['levin'].append({**colour_metrics.evaluate(direct, view['L'], view['ab']),
                                      'seconds': levin_seconds, 'hinted_pixels': len(hints)})
          siren = None
          if setting in siren_settings:
            tick = time.perf_counter()
            same = direct if hc.form == 'levin' else levin.solve(view['L'], hints, hc.form)
            if hc.form != 'levin':
              per_view['gradient'].append({
                  **colour_metrics.evaluate(same, view['L'], view['ab']),
                  'seconds': time.perf_counter() - tick, 'hinted_pixels': len(hints)})
            siren, seconds = _siren(hc, view['L'], hints)
            metrics = colour_metrics.evaluate(siren, view['L'], view['ab'])
            direct_rgb = colour_metrics.evaluate(direct, view['L'], view['ab'])['rgb_psnr']
            per_view['siren'].append({
                **metrics, 'seconds': seconds, 'hinted_pixels': len(hints),
                'ab_psnr_vs_levin': colour_metrics.ab_psnr(siren, direct),
                'rgb_psnr_minus_levin': metrics['rgb_psnr'] - direct_rgb,
                'ab_psnr_vs_same_form_direct': colour_metrics.ab_psnr(siren, same)})
          if setting == figure_setting and seed == 0 and v == 0 and p < hc.figure_photos:
            figure_rows.append((name, view, hints, direct, siren))
        for method, records in per_view.items():
          if records:
            results[method].setdefault(label(setting), {}).setdefault(name, {})[str(seed)] = (
                _mean(records))
        logging.info('[%s] %s seed %d: grey %.2f dB; %s', name, label(setting), seed,
                     results['grey'][name]['rgb_psnr'], '; '.join(
                         f'{m} {_mean(r)["rgb_psnr"]:.2f} dB in {_mean(r)["seconds"]:.1f} s'
                         for m, r in per_view.items() if r))
  summary = summarize(results)
  output = {'summary': summary, **results, 'photos': names,
            'settings': [label(s) for s in settings],
            'siren_settings': [label(s) for s in siren_settings],
            'seconds': time.perf_counter() - start, 'device': jax.devices()[0].device_kind,
            'load_average': list(os.getloadavg()), 'config': config.to_dict()}
  if common.is_main_process():
    common.write_json(os.path.join(workdir, 'hints.json'), output)
    common.write_text(os.path.join(workdir, 'hints.md'), table(output))
    if figure_rows:
      _figure(os.path.join(workdir, 'hints.png'), figure_rows, label(figure_setting))
  return output


def summarize(results: dict[str, Any]) -> dict[str, Any]:
  """Per method and setting: mean and sample std over photos x seeds of each metric, of the gain
  over grey (paired per photo) and of the seconds; the SIREN also against the direct solve."""
  grey = results['grey']
  summary: dict[str, Any] = {'grey': {k: common.mean_std([m[k] for m in grey.values()])
                                      for k in (*METRICS, 'colourfulness', 'true_colourfulness')}}
  for method in METHODS:
    for setting, photos in results[method].items():
      runs = [(name, r) for name, seeds in photos.items() for r in seeds.values()]
      entry = {k: common.mean_std([r[k] for _, r in runs]) for k in (*METRICS, 'seconds',
                                                            'hinted_pixels')}
      entry['rgb_psnr_gain_over_grey'] = common.mean_std([r['rgb_psnr'] - grey[n]['rgb_psnr']
                                                 for n, r in runs])
      if method == 'siren':
        for k in ('ab_psnr_vs_levin', 'rgb_psnr_minus_levin', 'ab_psnr_vs_same_form_direct'):
          entry[k] = common.mean_std([r[k] for _, r in runs])
      summary.setdefault(method, {})[setting] = entry
  return summary


_pm = common.format_mean_std  # The tables' 'mean ± std' cells.


def table(output: dict[str, Any]) -> str:
  """Markdown: methods x settings, then RGB PSNR per photo."""
  summary = output['summary']
  form = output['config']['hints']['form']
  lines = ['| method | hints (kind:count) | hinted pixels | RGB PSNR (dB) | gain over grey (dB) | '
           'ab PSNR (dB) | colourfulness / truth | RGB PSNR - Levin direct (dB) | '
           'ab PSNR vs Levin direct (dB) | ab PSNR vs direct solve of its form (dB) | '
           's per photo |', '|---' * 11 + '|']
  g = summary['grey']
  lines.append(f'| grey (ab = 0) | - | 0 | {_pm(g["rgb_psnr"])} | 0 | {_pm(g["ab_psnr"])} | '
               f'{_pm(g["colourfulness_ratio"])} | - | - | - | - |')
  names = {'levin': 'Levin et al., direct solve',
           'gradient': 'gradient-domain form, direct solve',
           'siren': f'SIREN ({form} form)'}
  settings = list(dict.fromkeys(output['settings'] + output['siren_settings']))
  for setting in settings:
    for method in METHODS:
      s = summary.get(method, {}).get(setting)
      if s is None:
        continue
      lines.append(
          f'| {names[method]} | {setting} | {s["hinted_pixels"]["mean"]:.0f} | '
          f'{_pm(s["rgb_psnr"])} | {_pm(s["rgb_psnr_gain_over_grey"])} | {_pm(s["ab_psnr"])} | '
          f'{_pm(s["colourfulness_ratio"])} | {_pm(s.get("rgb_psnr_minus_levin"))} | '
          f'{_pm(s.get("ab_psnr_vs_levin"))} | {_pm(s.get("ab_psnr_vs_same_form_direct"))} | '
          f'{_pm(s["seconds"])} |')
  n_photos, seeds = len(output['photos']), output['config']['hints']['seeds']
  lines += ['', f'Mean ± sample std over {n_photos} photos x {seeds} seeds of hint placement '
            f'(grey: over the photos); gains over grey and differences from the Levin direct '
            f'solve are paired per photo and seed. Colourfulness / truth: Hasler-Suesstrunk '
            f'colourfulness of the result over the truth\'s (grey: 0); the truth\'s: '
            f'{_pm(summary["grey"]["true_colourfulness"], ".1f")}.', '',
            'RGB PSNR (dB) per photo (mean over seeds):', '']
  columns = [(m, s) for s in settings for m in METHODS if s in output[m]]
  lines += ['| photo | grey | ' + ' | '.join(f'{m} {s}' for m, s in columns) + ' |',
            '|---' * (len(columns) + 2) + '|']
  for name in output['photos']:
    cells = [f'{np.mean([r["rgb_psnr"] for r in output[m][s][name].values()]):.2f}'
             for m, s in columns]
    lines.append(f'| {os.path.basename(name)} | {output["grey"][name]["rgb_psnr"]:.2f} | ' +
                 ' | '.join(cells) + ' |')
  return '\n'.join(lines) + '\n'


def hints_overlay(lightness: np.ndarray, hints: hints_lib.Hints, radius: int = 4) -> np.ndarray:
  """The grey photo (H, W, 3) in [0, 1] with each hint drawn as a (2 radius + 1)^2 square of its
  colour (at the photo's lightness, raised to at least L = 50 so that it shows) in a black
  frame."""
  shown = np.repeat(np.clip((lightness + 1.0) / 2.0, 0.0, 1.0), 3, -1)
  h, w = lightness.shape[:2]
  bright = np.maximum(lightness[hints.rows, hints.cols], 0.0)
  colours = colour.scaled_lab_to_rgb(bright, hints.ab, rgb_range='unit')
  for size, value in ((radius + 1, None), (radius, colours)):
    for dy in range(-size, size + 1):
      for dx in range(-size, size + 1):
        rows = np.clip(hints.rows + dy, 0, h - 1)
        cols = np.clip(hints.cols + dx, 0, w - 1)
        shown[rows, cols] = 0.0 if value is None else value
  return shown


def _figure(path: str, rows_data, setting: str) -> None:
  rows = []
  for name, view, hints, direct, siren in rows_data:
    unit = lambda ab: colour.scaled_lab_to_rgb(view['L'], ab, rgb_range='unit')  # noqa: E731
    psnr = lambda ab: colour_metrics.evaluate(ab, view['L'], view['ab'])['rgb_psnr']  # noqa: E731
    grey = colour_metrics.grey_ab(view['L'])
    row = [(f'{os.path.basename(name)}: grey {psnr(grey):.1f} dB', unit(grey)),
           (f'hints ({setting})', hints_overlay(view['L'], hints)),
           (f'Levin direct {psnr(direct):.1f} dB', unit(direct))]
    if siren is not None:
      row.append((f'SIREN {psnr(siren):.1f} dB', unit(siren)))
    row.append(('truth', unit(view['ab'])))
    rows.append(row)
  figures.image_grid(path, rows, cell_inches=1.6, dpi=64)
