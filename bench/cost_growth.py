r"""Cost growth: seconds per step and peak memory vs image size and width, and chunked renders.

Three sweeps, each point in a fresh subprocess so its memory high-water mark is its own:
  * train step vs pixels (``--sizes`` at ``--size_sweep_width``): should grow linearly;
  * train step vs width (``--widths`` at ``--width_sweep_size``): matmuls grow as width^2;
  * ``fitting.render`` (chunked evaluation, ``--chunk_size`` points at a time) vs pixels up to
    4096^2: time linear, working memory fixed by the chunk.
Memory: on CPU the process's resident-set high-water mark over the timed calls (reset after
compiling through /proc/self/clear_refs) minus its RSS just before them: the step's or render's
working memory (activations, gradients, new state, output), not XLA's compiler; the resident
batch/state/code before the calls is listed apart. On GPU/TPU the device allocator's
``peak_bytes_in_use`` (everything on the device). A point whose predicted time (previous
point scaled by its pixels or width^2) exceeds ``--max_step_seconds`` (train) or
``--max_render_seconds`` (render) is skipped and listed as such, so the sweep fits a shared CPU.

Writes a table to RESULTS.md and a plot (``--plot``).

  python -m bench.cost_growth
  python -m bench.cost_growth --sizes=64,128,256,512,1024 --size_sweep_width=256 \
      --max_step_seconds=60   # GPU/TPU
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import time
from typing import Any

from absl import app, flags

from bench import common
from experiments.common import main_with_clean_errors

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_PLOT = os.path.join(REPO_ROOT, 'docs', 'cost_growth.png')
RESULT_PREFIX = 'COST_GROWTH_RESULT '


# --------------------------------------------------------------------------------------------
# Worker: one measurement in this process.


def _rss_bytes() -> int:
  with open('/proc/self/statm', encoding='ascii') as f:
    return int(f.read().split()[1]) * os.sysconf('SC_PAGE_SIZE')


def _reset_peak_rss() -> bool:
  """Resets the kernel's RSS high-water mark (VmHWM, Linux >= 4.0); False if not possible."""
  try:
    with open('/proc/self/clear_refs', 'w', encoding='ascii') as f:
      f.write('5')
    return True
  except OSError:
    return False


def _peak_rss_bytes() -> int:
  with open('/proc/self/status', encoding='ascii') as f:
    for line in f:
      if line.startswith('VmHWM:'):
        return int(line.split()[1]) * 1024
  return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # KiB on Linux.


def measure(kind: str, size: int, width: int, hidden_layers: int, steps: int,
            chunk_size: int) -> dict[str, Any]:
  """One train-step (``kind='train'``) or render (``'render'``) measurement in this process.

  Peak memory is the working memory of the timed calls: after compiling (ahead of time, nothing
  run yet), the high-water mark is reset and the RSS then (batch, state, compiled code)
  subtracted, so XLA's compile-time memory
  (large and constant) does not hide the growth; ``resident_bytes`` is that RSS above the RSS
  before the problem was built.
  """
  import jax  # pylint: disable=g-import-not-at-top
  jax.numpy.zeros(()).block_until_ready()  # Start the backend before the baseline.
  from bench.fit_step import make_problem  # pylint: disable=g-import-not-at-top
  from siren_jax import fitting, render, training  # pylint: disable=g-import-not-at-top
  device = jax.devices()[0]
  on_cpu = device.platform == 'cpu'
  baseline = _rss_bytes()
  if kind == 'train':
    batch, new_state = make_problem('camera', size, width, hidden_layers, 1e-4)
    train_step = training.make_train_step(fitting.image_loss)
    state, batch = train_step.place_state(new_state()), train_step.place_batch(batch)
    # Compiled ahead, not run: a step run before the reset would leave its freed activations
    # resident and the timed steps would reuse them unseen.
    step = train_step.lower(state, batch).compile()
    fn = lambda s: step(s, batch)[0]
  elif kind == 'render':
    # render.render streams row blocks of chunk_size points; one small render first compiles
    # the block function (the block shape depends only on the width), so the timed call is the
    # rendering alone.
    _, new_state = make_problem('camera', 16, width, hidden_layers, 1e-4)
    state = new_state()
    rows = max(1, chunk_size // size)
    render.render(state.apply_fn, state.params, min(rows, size), size,
                  max_chunk_points=chunk_size, max_pixels=None)
    fn = lambda s: (render.render(s.apply_fn, s.params, size, size, max_chunk_points=chunk_size,
                                  max_pixels=None), s)[1]
  else:
    raise ValueError(f'unknown measurement kind {kind!r}')
  before = _rss_bytes()
  reset = on_cpu and _reset_peak_rss()
  times = []
  for _ in range(steps if kind == 'train' else 1):  # The first call also faults its pages in.
    start = time.perf_counter()
    state = common.block(fn(state))
    times.append(time.perf_counter() - start)
  stats = None if on_cpu else device.memory_stats()
  if stats and 'peak_bytes_in_use' in stats:
    peak, how = float(stats['peak_bytes_in_use']), 'the device allocator\'s peak_bytes_in_use'
  else:
    peak = float(_peak_rss_bytes() - (before if reset else baseline))
    how = ('RSS high-water over the timed calls (VmHWM, reset after compiling) minus the RSS '
           'just before them' if reset else 'ru_maxrss minus the RSS before building the '
           'problem (includes compilation)')
  return {'kind': kind, 'size': size, 'width': width, 'pixels': size * size,
          'seconds': common.median(times), 'peak_bytes': peak, 'memory_measure': how,
          'resident_bytes': float(before - baseline)}


def measure_in_subprocess(kind: str, size: int, width: int, hidden_layers: int, steps: int,
                          chunk_size: int) -> dict[str, Any]:
  """``measure`` in a fresh Python process (its own memory high-water mark)."""
  env = dict(os.environ)
  env['PYTHONPATH'] = os.pathsep.join(p for p in (REPO_ROOT, env.get('PYTHONPATH')) if p)
  command = [sys.executable, '-m', 'bench.cost_growth',
             f'--worker={kind},{size},{width},{hidden_layers},{steps},{chunk_size}']
  done = subprocess.run(command, capture_output=True, text=True, env=env, cwd=REPO_ROOT,
                        check=False)
  for line in done.stdout.splitlines():
    if line.startswith(RESULT_PREFIX):
      return json.loads(line[len(RESULT_PREFIX):])
  tail = (done.stderr.strip().splitlines() or ['no output'])[-1]
  raise RuntimeError(f'{kind} measurement at size {size}, width {width} failed: {tail}')


# --------------------------------------------------------------------------------------------
# Driver.


def _sweep(kind: str, points: list[tuple[int, int]], scale, cap: float, hidden_layers: int,
           steps: int, chunk_size: int) -> tuple[list[dict[str, Any]], list[str]]:
  """Measures (size, width) points in order; skips those predicted to exceed ``cap`` seconds.

  ``scale(a, b)`` is the expected cost ratio of point b over point a.
  """
  results, skipped = [], []
  for size, width in points:
    if results:
      last = results[-1]
      predicted = last['seconds'] * scale((last['size'], last['width']), (size, width))
      if predicted > cap:
        skipped.append(f'{kind} {size}x{size} width {width} (predicted {predicted:.0f} s > cap '
                       f'{cap:g} s)')
        continue
    results.append(measure_in_subprocess(kind, size, width, hidden_layers, steps, chunk_size))
  return results, skipped


def log_log_slope(xs: list[float], ys: list[float]) -> float:
  """Slope of log y vs log x over the upper half of the points (small ones are overhead)."""
  import numpy as np  # pylint: disable=g-import-not-at-top
  if len(xs) < 2:
    return float('nan')
  keep = max(2, (len(xs) + 1) // 2)
  return float(np.polyfit(np.log(xs[-keep:]), np.log(ys[-keep:]), 1)[0])


def plot(path: str, by_pixels, by_width, renders, chunk_size: int) -> None:
  """2x2 figure: step time and memory vs pixels, step time vs width, render time/memory."""
  import matplotlib  # pylint: disable=g-import-not-at-top
  matplotlib.use('Agg')
  import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top
  fig, axes = plt.subplots(1, 3, figsize=(12, 3.6))

  def panel(ax, rows, x_key, y_key, label, scale=1.0, ref_power=None):
    xs = [r[x_key] for r in rows]
    ys = [r[y_key] * scale for r in rows]
    ax.loglog(xs, ys, 'o-', label=label)
    if ref_power and len(xs) > 1:
      ax.loglog(xs, [ys[-1] * (x / xs[-1]) ** ref_power for x in xs], 'k:', lw=1,
                label=f'slope {ref_power}')

  ax = axes[0]
  panel(ax, by_pixels, 'pixels', 'seconds', 's/step', ref_power=1)
  panel(ax, by_pixels, 'pixels', 'peak_bytes', 'peak working MB', 1e-6)
  ax.set(xlabel='pixels', title=f'train step vs pixels (width {by_pixels[0]["width"]})')
  ax.legend(fontsize=7)
  ax = axes[1]
  panel(ax, by_width, 'width', 'seconds', 's/step', ref_power=2)
  panel(ax, by_width, 'width', 'peak_bytes', 'peak working MB', 1e-6)
  ax.set(xlabel='width', title=f'train step vs width ({by_width[0]["size"]}^2 pixels)')
  ax.legend(fontsize=7)
  ax = axes[2]
  panel(ax, renders, 'pixels', 'seconds', 'render s', ref_power=1)
  panel(ax, renders, 'pixels', 'peak_bytes', 'peak working MB', 1e-6)
  panel(ax, renders, 'pixels', 'working_bytes', 'working MB (minus in/out)', 1e-6)
  ax.set(xlabel='pixels', title=f'chunked render (chunk {chunk_size})')
  ax.legend(fontsize=7)
  fig.tight_layout()
  os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
  fig.savefig(path, dpi=80)
  plt.close(fig)


def run(*, sizes: tuple[int, ...] = (64, 128, 256, 512, 1024), size_sweep_width: int = 64,
        widths: tuple[int, ...] = (64, 128, 256, 512, 1024), width_sweep_size: int = 128,
        render_sizes: tuple[int, ...] = (512, 1024, 2048, 4096), render_width: int = 64,
        hidden_layers: int = 3, steps: int = 3, chunk_size: int = 65536,
        max_step_seconds: float = 20.0, max_render_seconds: float = 120.0,
        plot_path: str | None = DEFAULT_PLOT,
        results_path: str | None = common.DEFAULT_RESULTS) -> dict[str, Any]:
  """Runs the three sweeps; prints and appends the table, writes the plot; returns the rows."""
  for name, values in (('sizes', sizes), ('widths', widths), ('render_sizes', render_sizes)):
    if not values or min(values) < 1:
      raise ValueError(f'--{name} must list positive integers, got {list(values)}')
  for name, value in (('size_sweep_width', size_sweep_width), ('steps', steps),
                      ('width_sweep_size', width_sweep_size), ('render_width', render_width),
                      ('chunk_size', chunk_size)):
    if value < 1:
      raise ValueError(f'--{name} must be >= 1, got {value}')
  by_pixels, skipped = _sweep(
      'train', [(s, size_sweep_width) for s in sorted(sizes)],
      lambda a, b: (b[0] / a[0]) ** 2, max_step_seconds, hidden_layers, steps, chunk_size)
  by_width, skipped_w = _sweep(
      'train', [(width_sweep_size, w) for w in sorted(widths)],
      lambda a, b: (b[1] / a[1]) ** 2, max_step_seconds, hidden_layers, steps, chunk_size)
  renders, skipped_r = _sweep(
      'render', [(s, render_width) for s in sorted(render_sizes)],
      lambda a, b: (b[0] / a[0]) ** 2, max_render_seconds, hidden_layers, steps, chunk_size)
  skipped += skipped_w + skipped_r
  for r in renders:
    # The rendered image (N, 1) float32 is needed whatever the chunk (coordinates are resident).
    r['working_bytes'] = r['peak_bytes'] - 4 * r['pixels']

  def marginal(rows, key_x):
    out = [None]
    for a, b in zip(rows, rows[1:]):
      out.append((b['peak_bytes'] - a['peak_bytes']) / (b[key_x] - a[key_x]))
    return out

  table_rows = []
  for r, m in zip(by_pixels, marginal(by_pixels, 'pixels')):
    table_rows.append(['train vs pixels', f'{r["size"]}^2', r['width'], r['seconds'],
                       r['peak_bytes'] / 1e6, m, r['resident_bytes'] / 1e6])
  for r in by_width:
    table_rows.append(['train vs width', f'{r["size"]}^2', r['width'], r['seconds'],
                       r['peak_bytes'] / 1e6, None, r['resident_bytes'] / 1e6])
  for r, m in zip(renders, marginal(renders, 'pixels')):
    table_rows.append([f'render, chunk {chunk_size}', f'{r["size"]}^2', r['width'], r['seconds'],
                       r['peak_bytes'] / 1e6, m, r['resident_bytes'] / 1e6])
  body = common.table(['sweep', 'pixels', 'width', 'seconds (step: median)', 'peak working MB',
                       'marginal bytes/pixel', 'resident before MB'], table_rows)
  slopes = {
      'step_vs_pixels': log_log_slope([r['pixels'] for r in by_pixels],
                                      [r['seconds'] for r in by_pixels]),
      'memory_vs_pixels': log_log_slope([r['pixels'] for r in by_pixels],
                                        [r['peak_bytes'] for r in by_pixels]),
      'step_vs_width': log_log_slope([r['width'] for r in by_width],
                                     [r['seconds'] for r in by_width]),
      'render_vs_pixels': log_log_slope([r['pixels'] for r in renders],
                                        [r['seconds'] for r in renders]),
  }
  how = (by_pixels or renders)[0]['memory_measure'] if (by_pixels or renders) else '-'
  notes = [
      'Log-log slopes over the upper half of each sweep (1 = linear, 2 = quadratic): '
      + ', '.join(f'{k} {v:.2f}' for k, v in slopes.items()) + '.',
      f'Peak memory = {how}, in a fresh process per point. Linear in pixels means the '
      'marginal bytes/pixel stays roughly constant.',
      f'Render working memory (peak minus the 4 bytes/pixel of the output image; the '
      f'coordinates are resident before): '
      + ', '.join(f'{r["size"]}^2: {r["working_bytes"] / 1e6:.0f} MB' for r in renders) + '.',
      f'SIREN with {hidden_layers} hidden layers; {steps} timed steps per train point.',
  ]
  notes += [f'Skipped (time cap): {s}.' for s in skipped]
  if plot_path:
    plot(plot_path, by_pixels, by_width, renders, chunk_size)
    notes.append(f'Plot: {os.path.relpath(plot_path, REPO_ROOT)}.')
  common.report('Cost growth', body, results_path, notes)
  return {'by_pixels': by_pixels, 'by_width': by_width, 'renders': renders, 'slopes': slopes,
          'skipped': skipped}


def _ints(values: list[str]) -> tuple[int, ...]:
  try:
    return tuple(int(v) for v in values)
  except ValueError as e:
    raise ValueError(f'expected a comma-separated list of integers, got {values}') from e


if __name__ == '__main__':
  flags.DEFINE_list('sizes', ['64', '128', '256', '512', '1024'], 'Image sides, train sweep.')
  flags.DEFINE_integer('size_sweep_width', 64, 'SIREN width for the image-size sweep.')
  flags.DEFINE_list('widths', ['64', '128', '256', '512', '1024'], 'Widths, width sweep.')
  flags.DEFINE_integer('width_sweep_size', 128, 'Image side for the width sweep.')
  flags.DEFINE_list('render_sizes', ['512', '1024', '2048', '4096'], 'Render sides.')
  flags.DEFINE_integer('render_width', 64, 'SIREN width for the render sweep.')
  flags.DEFINE_integer('hidden_layers', 3, 'SIREN hidden layers.')
  flags.DEFINE_integer('steps', 3, 'Timed train steps per point (after one compiling step).')
  flags.DEFINE_integer('chunk_size', 65536, 'Points per chunk when rendering.')
  flags.DEFINE_float('max_step_seconds', 20.0, 'Skip train points predicted slower than this.')
  flags.DEFINE_float('max_render_seconds', 120.0, 'Skip renders predicted slower than this.')
  flags.DEFINE_string('plot', DEFAULT_PLOT, 'PNG to write ("" = none).')
  common.define_results_flag()
  flags.DEFINE_string('worker', '', 'Internal: kind,size,width,hidden_layers,steps,chunk_size; '
                      'measure one point and print it as JSON.')

  @main_with_clean_errors
  def main(argv: list[str]) -> None:
    del argv
    f = flags.FLAGS
    if f.worker:
      kind, *numbers = f.worker.split(',')
      print(RESULT_PREFIX + json.dumps(measure(kind, *_ints(numbers))), flush=True)
      return
    run(sizes=_ints(f.sizes), size_sweep_width=f.size_sweep_width, widths=_ints(f.widths),
        width_sweep_size=f.width_sweep_size, render_sizes=_ints(f.render_sizes),
        render_width=f.render_width, hidden_layers=f.hidden_layers, steps=f.steps,
        chunk_size=f.chunk_size, max_step_seconds=f.max_step_seconds,
        max_render_seconds=f.max_render_seconds, plot_path=f.plot or None,
        results_path=f.results or None)

  app.run(main)
