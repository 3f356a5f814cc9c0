r"""What the bfloat16 compute policy costs and buys a SIREN fit, against float32.

1. **Fits**: for every ``--supervisions`` x ``--images`` x ``--seeds``, float32 and bfloat16
   (``compute_dtype``, ``siren_jax.layers``) fit the same image from the same initial weights,
   trained on its pixels or, as the Poisson reconstructions are, only on its gradient or
   Laplacian, alternating calls of ``--steps_per_call`` steps; seconds per step (median), the
   PSNR after ``--steps`` steps and the gap bfloat16 - float32, and per supervision the PSNR
   against steps and training seconds over the seeds. The default-precision rule is checked on
   these rows: bfloat16 may become the default only within 0.1 dB of float32 on every row.
2. **Ceiling**: a long fit of a small image (``--ceiling_size``, ``--ceiling_steps``) in float32,
   in bfloat16, and in bfloat16 switched to float32 for the last ``--switch_fraction`` of the
   steps (same parameters and Adam state, only the policy changes): where bfloat16 stops
   improving (its best PSNR and the first evaluation within 0.1 dB of it) and whether the
   float32 steps recover the float32 fit.
3. **Derivatives**: the gradient and Laplacian (``fitting.derivatives``, nested forward mode)
   of the first float32 fit evaluated under both policies (same parameters): the largest and the
   RMS difference, relative to the largest float32 value.

  python -m bench.precision --size=256 --seeds=0,1,2 --images=camera,astronaut,coffee
  python -m bench.precision --size=128 --steps=300 --seeds=0 --ceiling_steps=1500
  python -m bench.precision --size=64 --supervisions=gradient,laplacian --seeds=0,1,2 \
      --ceiling_steps=0 --noderivatives
"""

from __future__ import annotations

from typing import Any

import jax
import numpy as np
from absl import app, flags

from bench import common
from bench.fit_step import make_problem
from experiments.common import format_mean_std, main_with_clean_errors, mean_std
from siren_jax import fitting, metrics, models, poisson, training
from siren_jax.models import fields

DTYPES = ('float32', 'bfloat16')
# What a fit is trained on: the pixels, or only the image's gradient or Laplacian (the Poisson
# reconstructions of experiments.poisson), judged by the mean-matched PSNR of the field.
SUPERVISIONS = ('image', 'gradient', 'laplacian')
LOSSES = {'image': fitting.image_loss, 'gradient': poisson.gradient_loss,
          'laplacian': poisson.laplacian_loss}
DEFAULT_RULE_DB = 0.1  # bfloat16 becomes the default only within this of float32 everywhere.


def _psnr(state: training.TrainState, batch: dict[str, jax.Array]) -> float:
  """PSNR (dB) of the field against the image; after matching the mean when the fit never saw
  the pixels (a field from a gradient or Laplacian is defined up to a constant)."""
  prediction = state.apply_fn(state.params, batch['coords'])
  if 'gradients' in batch or 'laplacians' in batch:
    return poisson.fair_psnr(np.asarray(prediction), np.asarray(batch['values']))
  return float(metrics.psnr(prediction, batch['values']))


def check_supervision(supervision: str) -> None:
  """Raises ValueError naming ``supervision`` unless it is one of ``SUPERVISIONS``."""
  if supervision not in SUPERVISIONS:
    raise ValueError(f'unknown supervision {supervision!r}; choose from {", ".join(SUPERVISIONS)}')


def supervise(batch: dict[str, jax.Array], size: int, supervision: str
              ) -> dict[str, jax.Array]:
  """The image batch ('coords' (N, 2), 'values' (N, 1) of a size x size image, row-major) with
  the target ``supervision`` trains on: 'gradients' (N, 1, 2) or 'laplacians' (N, 1) in
  coordinate units (``poisson.gradient_target`` / ``laplacian_target``); 'image': unchanged."""
  check_supervision(supervision)
  if supervision == 'image':
    return batch
  image = np.asarray(batch['values']).reshape(size, size, -1)
  target = (poisson.gradient_target if supervision == 'gradient' else poisson.laplacian_target)
  return {**batch, **poisson.target_entry(target(image))}


def _with_policy(state: training.TrainState, compute_dtype: str, width: int,
                 hidden_layers: int) -> training.TrainState:
  """The same parameters and optimiser state under another compute dtype."""
  model = fields.make_field_model('siren', out_features=1, hidden_features=width,
                                  hidden_layers=hidden_layers, compute_dtype=compute_dtype)
  return state.replace(apply_fn=models.apply_fn(model))


def fit_pair(image: str, size: int, width: int, hidden_layers: int, steps: int,
             steps_per_call: int, seed: int, learning_rate: float = 1e-4,
             resize_method: str = 'bicubic', supervision: str = 'image'
             ) -> dict[str, dict[str, Any]]:
  """float32 and bfloat16 fits from the same weights, trained on ``supervision``
  (``SUPERVISIONS``), calls alternating; per dtype the step times, the PSNR curve (after every
  call) and the final state."""
  check_supervision(supervision)
  step = training.make_train_step(LOSSES[supervision], steps_per_call=steps_per_call)
  runs: dict[str, dict[str, Any]] = {}
  for dtype in DTYPES:
    batch, new_state = make_problem(image, size, width, hidden_layers, learning_rate, seed, dtype,
                                    resize_method=resize_method)
    batch = supervise(batch, size, supervision)
    common.block(step(step(new_state(), batch)[0], batch))  # Compile for both input kinds.
    runs[dtype] = {'state': new_state(), 'batch': batch, 'times': [], 'curve': []}

  def advance(dtype: str) -> None:
    runs[dtype]['state'] = common.block(step(runs[dtype]['state'], runs[dtype]['batch'])[0])

  for r in range(steps // steps_per_call):
    order = DTYPES if r % 2 == 0 else DTYPES[::-1]
    times = common.time_alternating({d: (lambda d=d: advance(d)) for d in order}, 1)
    for dtype in DTYPES:
      runs[dtype]['times'] += times[dtype]
      runs[dtype]['curve'].append(((r + 1) * steps_per_call,
                                   _psnr(runs[dtype]['state'], runs[dtype]['batch'])))
  return runs


def ceiling(image: str, size: int, width: int, hidden_layers: int, steps: int,
            steps_per_call: int, switch_fraction: float, seed: int = 0,
            learning_rate: float = 1e-4, resize_method: str = 'bicubic'
            ) -> dict[str, list[tuple[int, float]]]:
  """PSNR curves of a long fit: float32, bfloat16, and bfloat16 then float32 from the step
  ``(1 - switch_fraction) * steps`` (rounded to a call) on."""
  step = training.make_train_step(fitting.image_loss, steps_per_call=steps_per_call)
  calls = steps // steps_per_call
  switch_call = int(round(calls * (1 - switch_fraction)))
  curves: dict[str, list[tuple[int, float]]] = {}
  for name, dtype in (('float32', 'float32'), ('bfloat16', 'bfloat16'),
                      ('bfloat16 then float32', 'bfloat16')):
    batch, new_state = make_problem(image, size, width, hidden_layers, learning_rate, seed, dtype,
                                    resize_method=resize_method)
    state, curve = new_state(), []
    for c in range(calls):
      if name == 'bfloat16 then float32' and c == switch_call:
        state = _with_policy(state, 'float32', width, hidden_layers)
      state = step(state, batch)[0]
      curve.append(((c + 1) * steps_per_call, _psnr(state, batch)))
    curves[name] = curve
  return curves


def derivative_errors(state: training.TrainState, batch: dict[str, jax.Array], width: int,
                      hidden_layers: int, chunk_size: int = 4096) -> dict[str, float]:
  """Gradient and Laplacian of a fitted field under bfloat16 vs float32 (same parameters):
  max and RMS difference over all pixels, relative to the largest float32 magnitude."""
  out = {}
  values = {}
  for dtype in DTYPES:
    apply_fn = _with_policy(state, dtype, width, hidden_layers).apply_fn
    values[dtype] = [np.asarray(a, np.float64) for a in fitting.derivatives(
        apply_fn, state.params, batch['coords'], chunk_size)]
  for name, ref, low in zip(('gradient', 'laplacian'), values['float32'], values['bfloat16']):
    scale = np.abs(ref).max()
    out[f'{name}_max_rel'] = float(np.abs(low - ref).max() / scale)
    out[f'{name}_rms_rel'] = float(np.sqrt(np.mean((low - ref) ** 2)) / scale)
  return out


def _plateau(curve: list[tuple[int, float]], tolerance: float = 0.1) -> tuple[float, int]:
  """(best PSNR, first step within ``tolerance`` dB of it)."""
  best = max(p for _, p in curve)
  return best, next(s for s, p in curve if p >= best - tolerance)


def _pm(values: list[float]) -> str:
  return format_mean_std(mean_std(values))


def curve_rows(fits: list[dict[str, Any]], steps: int, steps_per_call: int) -> list[list[Any]]:
  """Rows (step, float32, bfloat16, difference, each mean ± std over ``fits``; the mean
  training seconds of each dtype up to that step) at about ten steps of the curves."""
  every = max(steps_per_call, steps // 10)
  rows = []
  for i, (step_, _) in enumerate(fits[0]['float32_curve']):
    if step_ % every and step_ != steps:
      continue
    p32 = [f['float32_curve'][i][1] for f in fits]
    p16 = [f['bfloat16_curve'][i][1] for f in fits]
    rows.append([step_, _pm(p32), _pm(p16),
                 _pm([b - a for a, b in zip(p32, p16)]),
                 np.mean([f['float32_elapsed'][i] for f in fits]),
                 np.mean([f['bfloat16_elapsed'][i] for f in fits])])
  return rows


def run(*, images: tuple[str, ...] = ('camera',), seeds: tuple[int, ...] = (0,),
        size: int = 256, width: int = 256, hidden_layers: int = 3, steps: int = 500,
        steps_per_call: int = 25, ceiling_size: int = 32, ceiling_steps: int = 1500,
        switch_fraction: float = 0.2, derivatives: bool = True,
        results_path: str | None = common.DEFAULT_RESULTS,
        resize_method: str = 'bicubic', supervisions: tuple[str, ...] = ('image',)
        ) -> dict[str, Any]:
  """Runs the three parts; prints and appends the tables; returns the numbers."""
  for name, value in (('size', size), ('width', width), ('steps', steps),
                      ('steps_per_call', steps_per_call), ('ceiling_size', ceiling_size)):
    if value < 1:
      raise ValueError(f'--{name} must be >= 1, got {value}')
  if steps % steps_per_call or ceiling_steps % steps_per_call:
    raise ValueError(f'--steps={steps} and --ceiling_steps={ceiling_steps} must be multiples '
                     f'of --steps_per_call={steps_per_call}')
  if not 0 <= switch_fraction < 1:
    raise ValueError(f'--switch_fraction must be in [0, 1), got {switch_fraction}')
  if not images or not seeds or not supervisions:
    raise ValueError('--images, --seeds and --supervisions must each name at least one')
  for supervision in supervisions:
    check_supervision(supervision)
  out: dict[str, Any] = {'fits': [], 'ceiling': None, 'derivatives': None}
  rows = []
  first = None
  for supervision in supervisions:
    for image in images:
      for seed in seeds:
        runs = fit_pair(image, size, width, hidden_layers, steps, steps_per_call, seed,
                        resize_method=resize_method, supervision=supervision)
        if supervision == 'image':
          first = first or runs['float32']
        row = {'supervision': supervision, 'image': image, 'seed': seed}
        for dtype, run_ in runs.items():
          row[f'{dtype}_seconds'] = common.median(run_['times']) / steps_per_call
          row[f'{dtype}_psnr'] = run_['curve'][-1][1]
          row[f'{dtype}_curve'] = run_['curve']
          row[f'{dtype}_elapsed'] = np.cumsum(run_['times']).tolist()
        row['gap_db'] = row['bfloat16_psnr'] - row['float32_psnr']
        out['fits'].append(row)
        rows.append([supervision, image, seed, row['float32_seconds'], row['bfloat16_seconds'],
                     row['float32_seconds'] / row['bfloat16_seconds'], row['float32_psnr'],
                     row['bfloat16_psnr'], row['gap_db']])
  gaps = [r['gap_db'] for r in out['fits']]
  out['bfloat16_qualifies_as_default'] = all(abs(g) <= DEFAULT_RULE_DB for g in gaps)
  body = [common.table(['trained on', 'image', 'seed', 'float32 s/step', 'bfloat16 s/step',
                        'speed-up', f'float32 PSNR after {steps} (dB)',
                        f'bfloat16 PSNR after {steps} (dB)', 'bfloat16 - float32 (dB)'], rows)]
  notes = [f'{size}x{size} grey ({resize_method} resize), SIREN width {width}, {hidden_layers} '
           f'hidden layers, Adam lr 1e-4, full batch; per image and seed both dtypes start from '
           f'the same weights; alternating calls of {steps_per_call} steps; s/step are medians. '
           'Fits trained on the gradient or Laplacian are scored after matching their mean to '
           "the image's (poisson.fair_psnr).",
           f'Default rule (bfloat16 within {DEFAULT_RULE_DB} dB of float32 on every row): '
           f'{"met" if out["bfloat16_qualifies_as_default"] else "not met"} (gaps '
           f'{min(gaps):+.3f} to {max(gaps):+.3f} dB over {len(gaps)} fits).']
  for supervision in supervisions:
    body.append(f'PSNR against steps and training seconds, trained on the {supervision}, '
                f'{images[0]}, mean ± std over seeds {", ".join(map(str, seeds))}:\n\n'
                + common.table(['step', 'float32 (dB)', 'bfloat16 (dB)',
                                'bfloat16 - float32 (dB)', 'float32 s', 'bfloat16 s'],
                               curve_rows([r for r in out['fits'] if r['image'] == images[0]
                                           and r['supervision'] == supervision],
                                          steps, steps_per_call)))

  if ceiling_steps > 0:
    curves = ceiling(images[0], ceiling_size, width, hidden_layers, ceiling_steps,
                     steps_per_call, switch_fraction, resize_method=resize_method)
    out['ceiling'] = curves
    ceiling_rows = []
    for name, curve in curves.items():
      best, at = _plateau(curve)
      ceiling_rows.append([name, curve[-1][1], best, at])
    body.append(f'Ceiling: {images[0]} {ceiling_size}x{ceiling_size}, {ceiling_steps} steps; '
                f'"bfloat16 then float32" switches for the last {switch_fraction:.0%}:\n\n'
                + common.table(['policy', f'PSNR after {ceiling_steps} (dB)', 'best PSNR (dB)',
                                'first step within 0.1 dB of its best'], ceiling_rows))
  if derivatives and first is not None:
    errors = derivative_errors(first['state'], first['batch'], width, hidden_layers)
    out['derivatives'] = errors
    body.append(f'Derivatives of the float32 fit ({images[0]} seed {seeds[0]}, {steps} steps) '
                'under bfloat16 vs float32, relative to the largest float32 value:\n\n'
                + common.table(['quantity', 'max abs difference', 'RMS difference'], [
                    ['gradient', errors['gradient_max_rel'], errors['gradient_rms_rel']],
                    ['Laplacian', errors['laplacian_max_rel'], errors['laplacian_rms_rel']]]))
  common.report(f'Precision: float32 vs bfloat16, {size}x{size}, width {width}',
                '\n\n'.join(body), results_path, notes)
  return out


if __name__ == '__main__':
  common.define_siren_flags(size=256)
  flags.DEFINE_list('images', ['camera'], 'Built-in image names or paths.')
  flags.DEFINE_list('seeds', ['0'], 'Seeds of the initial weights.')
  flags.DEFINE_integer('steps', 500, 'Optimiser steps per fit.')
  flags.DEFINE_integer('steps_per_call', 25, 'Steps per jitted call (and per PSNR check).')
  flags.DEFINE_integer('ceiling_size', 32, 'Image side of the long ceiling fit.')
  flags.DEFINE_integer('ceiling_steps', 1500, 'Steps of the ceiling fits (0: skip them).')
  flags.DEFINE_float('switch_fraction', 0.2, 'Fraction of the ceiling steps run in float32 '
                     'after bfloat16.')
  flags.DEFINE_bool('derivatives', True, 'Measure the derivative differences.')
  common.define_resize_method_flag()
  flags.DEFINE_list('supervisions', ['image'], 'What the fits train on: ' + ', '.join(
      SUPERVISIONS) + ' (the last two: the Poisson reconstructions).')

  @main_with_clean_errors
  def main(argv: list[str]) -> None:
    del argv
    f = flags.FLAGS
    try:
      seeds = tuple(int(s) for s in f.seeds)
    except ValueError:
      raise ValueError(f'--seeds takes integers, got {",".join(f.seeds)!r}') from None
    run(images=tuple(f.images), seeds=seeds, size=f.size, width=f.width,
        hidden_layers=f.hidden_layers, steps=f.steps, steps_per_call=f.steps_per_call,
        ceiling_size=f.ceiling_size, ceiling_steps=f.ceiling_steps,
        switch_fraction=f.switch_fraction, derivatives=f.derivatives,
        results_path=f.results or None, resize_method=f.resize_method,
        supervisions=tuple(f.supervisions))

  app.run(main)
