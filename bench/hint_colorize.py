"""Colourising a 12-megapixel photo from hints in bounded memory: time and peak RSS.

The photo is a ``--photo_height`` x ``--photo_width`` crop of ``bench.large_image.canvas``
(scikit-image's natural photos at native resolution, never upsampled); its lightness is the
input and hints are ``--strokes`` strokes of ``--stroke_length`` pixels sampled from its colours
(``hints.sample``). Each method runs through the entry point's code
(``experiments.colorize.hint_colorize.colorize_ab``) in a fresh process, so that its peak RSS
(VmHWM) is its own:
  levin  Levin et al.'s direct solve by tiles (``levin.solve_tiled``): a coarse solve at short
         side --coarse_side, then --tile tiles overlapping by --overlap;
  siren  the SIREN fitted at short side --fit_side and rendered at full size in chunks.
The levin child also measures what tiling costs: on a --check_side crop with --check_strokes
strokes of its own it compares the tiled solve (coarse solve at the same ratio of sizes as on the
full photo) with the whole solve.

  python -m bench.hint_colorize                                 # 3000x4000, both methods
  python -m bench.hint_colorize --photo_height=600 --photo_width=800 --methods=levin --results=
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import numpy as np
from absl import app, flags

from bench import common
from bench import large_image
from experiments.colorize import hint_colorize
from experiments.configs import colorize as colorize_config
from siren_jax import names
from siren_jax.colorize import colour, colour_metrics, levin
from siren_jax.colorize import hints as hints_lib

# bench.large_image (the photo) defines --results and --json_out, used here as they are there.
flags.DEFINE_integer('photo_height', 3000, 'Photo height in pixels.')
flags.DEFINE_integer('photo_width', 4000, 'Photo width in pixels.')
flags.DEFINE_list('methods', list(names.HINT_METHODS), 'Methods, one fresh process each.')
flags.DEFINE_string('method', '', 'Run this one method in this process (the children).')
flags.DEFINE_integer('strokes', 100, 'Hint strokes sampled from the photo.')
flags.DEFINE_integer('stroke_length', 41, 'Pixels per stroke.')
flags.DEFINE_integer('tile', 384, 'levin: tile side.')
flags.DEFINE_integer('overlap', 96, 'levin: minimum tile overlap.')
flags.DEFINE_integer('coarse_side', 512, 'levin: short side of the coarse solve.')
flags.DEFINE_integer('check_side', 512, 'levin: short side of the crop for the tiling check.')
flags.DEFINE_integer('check_strokes', 20, 'levin: strokes of 9 pixels on the tiling check\'s crop.')
flags.DEFINE_integer('fit_side', 256, 'siren: short side of the fit.')
flags.DEFINE_integer('steps', 100, 'siren: steps.')
FLAGS = flags.FLAGS
ROWS = 256  # Rows per chunk when converting colours, to keep the temporaries small.


def photo(height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
  """Lightness (H, W, 1) and chroma (H, W, 2) (scaled, float32) of the canvas crop."""
  rgb = large_image.canvas(max(height, width))[:height, :width]
  lightness = np.empty((height, width, 1), np.float32)
  ab = np.empty((height, width, 2), np.float32)
  for top in range(0, height, ROWS):
    lightness[top:top + ROWS], ab[top:top + ROWS] = colour.rgb_to_scaled_lab(rgb[top:top + ROWS])
  return lightness, ab


def rgb_psnr(lightness: np.ndarray, ab: np.ndarray, truth_ab: np.ndarray) -> float:
  """RGB PSNR (data range 1) of (L, ab) against (L, truth_ab), accumulated over row chunks."""
  total = 0.0
  for top in range(0, lightness.shape[0], ROWS):
    rows = slice(top, top + ROWS)
    error = (colour.scaled_lab_to_rgb(lightness[rows], ab[rows]).astype(np.float64) -
             colour.scaled_lab_to_rgb(lightness[rows], truth_ab[rows])) / 2.0
    total += float(np.sum(error ** 2))
  return float(10 * np.log10(3 * lightness.shape[0] * lightness.shape[1] / total))


def tiling_check(lightness: np.ndarray, truth: np.ndarray) -> dict[str, float]:
  """Tiled vs whole solve on a check_side x (4/3 check_side) crop with --check_strokes strokes
  of 9 pixels of its own, the coarse solve at the full photo's ratio coarse_side / short side."""
  side = FLAGS.check_side
  crop_h, crop_w = side, min(lightness.shape[1], round(side * 4 / 3))
  crop = hints_lib.sample(1, truth[:crop_h, :crop_w], FLAGS.check_strokes, 'strokes')
  ratio = FLAGS.coarse_side / min(lightness.shape[:2])
  coarse_side = max(8, round(side * ratio))
  start = time.perf_counter()
  whole = levin.solve(lightness[:crop_h, :crop_w], crop)
  whole_s = time.perf_counter() - start
  tiled = levin.solve_tiled(lightness[:crop_h, :crop_w], crop, tile=FLAGS.tile,
                            overlap=FLAGS.overlap, coarse_side=coarse_side)
  return {'crop': f'{crop_h}x{crop_w}', 'strokes': FLAGS.check_strokes,
          'coarse_side': coarse_side, 'whole_seconds': whole_s,
          'ab_psnr_tiled_vs_whole': colour_metrics.ab_psnr(tiled, whole),
          'rms_ab_units': float(np.sqrt(np.mean((tiled - whole) ** 2)) * colour.AB_SCALE),
          'rgb_psnr_tiled_vs_whole': colour_metrics.rgb_psnr(
              colour.scaled_lab_to_rgb(lightness[:crop_h, :crop_w], tiled),
              colour.scaled_lab_to_rgb(lightness[:crop_h, :crop_w], whole))}


def run_method(method: str) -> dict:
  lightness, truth = photo(FLAGS.photo_height, FLAGS.photo_width)
  hints = hints_lib.sample(0, truth, FLAGS.strokes, 'strokes', stroke_length=FLAGS.stroke_length)
  config = colorize_config.get_config()
  config.hints.update({'method': method, 'tile': FLAGS.tile, 'overlap': FLAGS.overlap,
                       'coarse_side': FLAGS.coarse_side, 'fit_side': FLAGS.fit_side,
                       'steps': FLAGS.steps})
  hint_colorize.check_config(config.hints)
  before = large_image._peak_rss()  # pylint: disable=protected-access
  start = time.perf_counter()
  ab, info = hint_colorize.colorize_ab(config.hints, lightness, hints)
  seconds = time.perf_counter() - start
  peak = large_image._peak_rss()  # pylint: disable=protected-access
  row = {'method': method, 'size': f'{FLAGS.photo_height}x{FLAGS.photo_width}',
         'hinted_pixels': len(hints),
         'seconds': seconds, 'peak_rss_gib': peak / 2**30,
         'peak_rss_before_gib': before / 2**30,
         'rgb_psnr': rgb_psnr(lightness, ab, truth),
         'grey_rgb_psnr': rgb_psnr(lightness, np.zeros_like(truth), truth),
         'info': {k: v for k, v in info.items() if k != 'size'}}
  if method == 'levin':
    row['tiling_check'] = tiling_check(lightness, truth)
  return row


def main(argv: list[str]) -> None:
  del argv
  if FLAGS.method:
    row = run_method(FLAGS.method)
    print(json.dumps(row, indent=1))
    if FLAGS.json_out:
      with open(FLAGS.json_out, 'w', encoding='utf-8') as f:
        json.dump(row, f)
    return
  rows = []
  for method in FLAGS.methods:
    out = f'/tmp/hint_colorize_{os.getpid()}_{method}.json'
    flags_through = [a for a in sys.argv[1:] if not a.startswith(('--methods', '--results'))]
    subprocess.run([sys.executable, '-m', 'bench.hint_colorize', f'--method={method}',
                    f'--json_out={out}', '--results=', *flags_through], check=True)
    with open(out, encoding='utf-8') as f:
      rows.append(json.load(f))
    os.remove(out)
  body = common.table(
      ['method', 'photo', 'hinted pixels', 'seconds', 'peak RSS GiB', 'RGB PSNR (dB)',
       'grey RGB PSNR (dB)'],
      [[r['method'], r['size'], r['hinted_pixels'], round(r['seconds'], 1),
        round(r['peak_rss_gib'], 2), round(r['rgb_psnr'], 2), round(r['grey_rgb_psnr'], 2)]
       for r in rows])
  notes = [f'Hints: {FLAGS.strokes} strokes of {FLAGS.stroke_length} pixels sampled from the '
           f'photo (seed 0); the photo: a crop of bench.large_image.canvas.',
           'Seconds: the whole colourisation (levin: coarse solve + tiles; siren: fit, '
           'compilation included, + full-size render); peak RSS: the process high-water mark '
           '(VmHWM), photo and hints included.']
  for r in rows:
    notes.append(f'{r["method"]}: {json.dumps(r["info"])}; peak RSS before colourising '
                 f'{r["peak_rss_before_gib"]:.2f} GiB.')
    if 'tiling_check' in r:
      notes.append(f'Tiling check (levin, {json.dumps(r["tiling_check"])}): tiled vs whole solve '
                   'on a crop, the coarse solve at the same ratio of sizes as on the photo.')
  common.report(f'Hint colourisation of a {FLAGS.photo_height}x{FLAGS.photo_width} photo', body,
                FLAGS.results or None, notes)


if __name__ == '__main__':
  app.run(main)
