"""Large-image fitting: time to quality and peak memory of a tiled, minibatched SIREN fit.

The image is a canvas of ``--size`` x ``--size`` RGB pixels tiled from scikit-image's natural
photos at their native resolution (astronaut, coffee, chelsea, rocket, stereo_motorcycle;
cropped at the canvas edges, never upsampled, so the detail is real). It is fitted with the
library's large-image path: ``tiling`` tiles (one small SIREN each, stacked and vmapped),
random pixel minibatches drawn on the device by ``sampling.minibatch_fn``, the shared
``training.train_loop`` (stopping at ``--target_psnr`` or after ``--minutes`` of training),
and PSNR over the whole canvas rendered in chunks by ``render.render`` with the covering-tiles
field (``tiling.tiled_field``). Evaluation time is excluded from the training time.

Prints a table (and appends it to bench/RESULTS.md): PSNR after the budget, seconds to the
target, steps, and the process's peak RSS (VmHWM: everything, compilation included). With
``--sizes=512,1024,2048`` it runs one fresh process per size (``--minutes`` each) to show how
peak memory grows with the pixels.

  python -m bench.large_image --size=2048 --minutes=20
  python -m bench.large_image --sizes=512,1024,2048 --minutes=1
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import jax
import numpy as np
import skimage.data
from absl import app, flags

from bench import common
from siren_jax import fitting, metrics, models, render, sampling, tiling, training
from siren_jax.models import fields

PHOTOS = ('astronaut', 'coffee', 'chelsea', 'rocket', 'stereo_motorcycle')

flags.DEFINE_integer('size', 2048, 'Canvas side in pixels.')
flags.DEFINE_string('sizes', '', 'Comma-separated sides: one fresh process each (memory sweep).')
flags.DEFINE_float('minutes', 20.0, 'Training time budget (evaluation excluded).')
flags.DEFINE_float('target_psnr', 30.0, 'Stop when the full-canvas PSNR reaches this (dB).')
flags.DEFINE_integer('tile_size', 64, 'Tile side in pixels.')
flags.DEFINE_integer('tile_overlap', 4, 'Minimum overlap of neighbouring tiles in pixels.')
flags.DEFINE_integer('width', 32, 'Hidden width of each tile SIREN.')
flags.DEFINE_integer('hidden_layers', 2, 'Hidden layers of each tile SIREN.')
flags.DEFINE_float('learning_rate', 1e-3, 'Adam learning rate.')
flags.DEFINE_integer('batch_pixels', 262144, 'Pixels per step, summed over the tiles.')
flags.DEFINE_integer('eval_every', 200, 'Steps between full-canvas evaluations.')
flags.DEFINE_integer('render_chunk_points', 65536, 'Points per render block.')
flags.DEFINE_string('json_out', '', 'Also write the result row as JSON here (sweep children).')
common.define_results_flag()
FLAGS = flags.FLAGS


def _photo(name: str) -> np.ndarray:
  image = getattr(skimage.data, name)()
  return image[0] if name == 'stereo_motorcycle' else image  # (left, right, disparity).


def canvas(size: int) -> np.ndarray:
  """(size, size, 3) float32 in [-1, 1]: shelves of the photos at native resolution, each
  row as tall as its first photo, photos cropped where they cross the canvas edge."""
  out = np.empty((size, size, 3), np.float32)
  photos = [_photo(n) for n in PHOTOS]
  index, top = 0, 0
  while top < size:
    row_height, left = photos[index % len(photos)].shape[0], 0
    while left < size:
      photo = photos[index % len(photos)]
      index += 1
      h, w = min(photo.shape[0], row_height, size - top), min(photo.shape[1], size - left)
      block = out[top:top + h, left:left + w]
      block[...] = photo[:h, :w]
      block *= np.float32(2.0 / 255.0)
      block -= np.float32(1.0)
      if h < row_height and top + h < size:  # A shorter photo: fill below with its flip.
        rest = min(row_height - h, size - top - h)
        out[top + h:top + h + rest, left:left + w] = out[top:top + h, left:left + w][::-1][:rest]
      left += w
    top += row_height
  return out


def _proc_status(field: str) -> int:
  """A memory field of /proc/self/status (VmHWM: peak RSS, VmRSS: current RSS) in bytes."""
  with open('/proc/self/status', encoding='ascii') as f:
    for line in f:
      if line.startswith(field + ':'):
        return int(line.split()[1]) * 1024
  return 0


def _peak_rss() -> int:
  return _proc_status('VmHWM')


def fit(size: int) -> dict:
  """Fits the canvas of ``size``; returns the table row as a dict."""
  image = canvas(size)
  layout = tiling.make_layout(size, size, FLAGS.tile_size, FLAGS.tile_overlap)
  spec = fields.field_spec('siren', out_features=3, image_side=FLAGS.tile_size,
                           hidden_features=FLAGS.width, hidden_layers=FLAGS.hidden_layers,
                           first_omega0=30.0, hidden_omega0=30.0, zero_bias=False)
  model = fields.make_field_model(**spec)
  apply_one = models.apply_fn(model)
  import optax  # pylint: disable=g-import-not-at-top
  state = training.TrainState.create(
      apply_fn=tiling.stacked_apply(apply_one),
      params=fields.init_params(model, jax.random.PRNGKey(0), layout.num_tiles),
      tx=optax.adam(FLAGS.learning_rate))
  samples = tiling.tile_samples(image, layout)
  rows = max(1, min(len(samples['coords']), FLAGS.batch_pixels // layout.num_tiles))
  batch_fn = sampling.minibatch_fn(samples, rows, seed=0)
  del samples  # The resident copy lives on the device now.
  field = tiling.tiled_field(apply_one, layout)
  clock = {'start': time.perf_counter(), 'eval': 0.0, 'render_s': None}
  rss_gib: list[tuple[int, float, float]] = []  # (step, current RSS, peak RSS) at each evaluation.

  def eval_fn(host_state) -> dict[str, float]:
    start = time.perf_counter()
    rendered = render.render(field, host_state.params, size, size,
                             max_chunk_points=FLAGS.render_chunk_points, max_pixels=None)
    psnr = float(metrics.psnr(rendered, image))
    clock['render_s'] = time.perf_counter() - start
    clock['eval'] += clock['render_s']
    rss_gib.append((int(host_state.step), round(_proc_status('VmRSS') / 2**30, 3),
                    round(_peak_rss() / 2**30, 3)))
    print(f'  step {int(host_state.step)}: {psnr:.2f} dB after '
          f'{time.perf_counter() - clock["start"] - clock["eval"]:.0f} s', flush=True)
    return {'psnr': psnr}

  def stop_fn(record: dict[str, float]) -> bool:
    trained = time.perf_counter() - clock['start'] - clock['eval']
    return record['psnr'] >= FLAGS.target_psnr or trained >= 60.0 * FLAGS.minutes

  step_fn = training.make_train_step(fitting.image_loss)
  result = training.train_loop(state, step_fn, batch_fn, num_steps=10**9 // FLAGS.eval_every
                               * FLAGS.eval_every, eval_every=FLAGS.eval_every, eval_fn=eval_fn,
                               stop_fn=stop_fn)
  history, seconds = result.history, result.train_seconds
  reached = [t for t, r in zip(seconds, history) if r['psnr'] >= FLAGS.target_psnr]
  return {'size': size, 'tiles': layout.num_tiles,
          'params': int(sum(x.size for x in jax.tree.leaves(result.params))),
          'rows_per_tile': rows, 'steps': int(history[-1]['step']),
          'train_s': seconds[-1], 'psnr': history[-1]['psnr'],
          'seconds_to_target': reached[0] if reached else None,
          'render_s': clock['render_s'], 'peak_rss_gib': _peak_rss() / 2**30,
          'curve': [(round(t, 1), round(r['psnr'], 2)) for t, r in zip(seconds, history)],
          'rss_gib': rss_gib}


def main(argv):
  del argv
  sizes = [int(s) for s in FLAGS.sizes.split(',') if s] or [FLAGS.size]
  rows = []
  for size in sizes:
    if len(sizes) == 1:
      row = fit(size)
    else:  # A fresh process per size: peak RSS is a process-wide high-water mark.
      out = f'/tmp/large_image_{os.getpid()}_{size}.json'
      args = [a for a in sys.argv[1:] if not a.startswith(('--sizes', '--size=', '--results',
                                                           '--json_out'))]
      subprocess.run([sys.executable, '-m', 'bench.large_image', *args, f'--size={size}',
                      '--results=', f'--json_out={out}'], check=True)
      with open(out, encoding='utf-8') as f:
        row = json.load(f)
      os.remove(out)
    rows.append(row)
  if FLAGS.json_out:
    with open(FLAGS.json_out, 'w', encoding='utf-8') as f:
      json.dump(rows[0], f)
    return
  headers = ['canvas', 'tiles x params', 'pixels/step', 'steps', 'train s',
             f'PSNR after budget (dB)', f's to {FLAGS.target_psnr:g} dB', 'full render s',
             'peak RSS GiB']
  table = [[f'{r["size"]}^2', f'{r["tiles"]} x {r["params"] // r["tiles"]}',
            r['rows_per_tile'] * r['tiles'], r['steps'], r['train_s'], r['psnr'],
            r['seconds_to_target'] if r['seconds_to_target'] is not None else 'not reached',
            r['render_s'], r['peak_rss_gib']] for r in rows]
  notes = [f'Tiles {FLAGS.tile_size} px (overlap >= {FLAGS.tile_overlap}), SIREN width '
           f'{FLAGS.width}, {FLAGS.hidden_layers} hidden layers, Adam {FLAGS.learning_rate:g}, '
           f'budget {FLAGS.minutes:g} min of training (evaluation excluded), evaluation every '
           f'{FLAGS.eval_every} steps over the whole canvas.',
           'Canvas: ' + ', '.join(PHOTOS) + ' at native resolution, cropped, never upsampled.',
           'Peak RSS: the process high-water mark (VmHWM), compilation included.']
  notes += [f'PSNR vs training seconds, {r["size"]}^2: {r["curve"]}' for r in rows]
  notes += [f'(step, current RSS GiB, peak RSS GiB) at each evaluation, {r["size"]}^2: '
            f'{r["rss_gib"]}' for r in rows]
  common.report(f'Large image fit, {", ".join(f"{s}^2" for s in sizes)}',
                common.table(headers, table), FLAGS.results or None, notes)


if __name__ == '__main__':
  app.run(main)
