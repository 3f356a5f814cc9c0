"""A learned init vs random inits on the test photos (never seen in meta-training): the normal
fit (config.fit: Adam 1e-4, full image, config.fit.steps steps) of each photo's centre square at
config.image_size, through the one driver, from the learned init and from a random init per seed
of config.seeds, evaluated at every step. With config.fit.supervision 'gradient' the fits see
only each photo's gradient (the Poisson reconstruction) and are scored after matching the mean.

Per photo and seed: PSNR after config.fit.report_steps steps from each init, and the steps and
training seconds the learned init needs to reach the random init's final PSNR (the target). The
summary gives mean ± std over photos x seeds. Writes metrics.json, results.md (the per-photo
table and the summary), psnr.png (mean curves), TensorBoard scalars under tb/ and checkpoints
under checkpoints/photoNN_{learned,random_sS}/ (a killed evaluation resumes).
"""

from __future__ import annotations

import os
import time
from typing import Any

import jax
import ml_collections
import numpy as np
from absl import logging

from experiments import common, driver, figures
from experiments.meta import train
from siren_jax import fitting, grids, init_file, poisson
from siren_jax.meta import curves

LEARNED = 'learned'
RUN_PREFIX = 'photo'


def run_tag(index: int, seed: int | None = None) -> str:
  """The name of a fit of the test photo of ``index`` (its checkpoints directory and its key
  in metrics.json's runs): 'photoNN_learned' from the learned init, 'photoNN_random_sS' from the
  random init of ``seed``."""
  return f'{RUN_PREFIX}{index:02d}_' + (LEARNED if seed is None else f'random_s{seed}')


def run_index(tag: str) -> int:
  """The photo index of a ``run_tag``."""
  return int(tag[len(RUN_PREFIX):].split('_')[0])


def fit_config(config: ml_collections.ConfigDict, seed: int) -> ml_collections.ConfigDict:
  """The field-fit config of the normal fit: config.fit's optimiser and steps, evaluated every
  step, a checkpoint only at the end, the random init's ``seed``."""
  fit = ml_collections.ConfigDict(config.to_dict())
  fit.optimizer = ml_collections.ConfigDict(config.fit.optimizer.to_dict())
  fit.steps, fit.seed = config.fit.steps, seed
  fit.steps_per_call, fit.eval_every, fit.checkpoint_every = 1, 1, 0
  fit.log_every = min(config.log_every, config.fit.steps) if config.log_every else 0
  return fit


def fit_one(config: ml_collections.ConfigDict, workdir: str, spec: dict[str, Any],
            image: np.ndarray, init: Any, *, tag: str, source: str,
            writer: common.ScalarWriter) -> dict[str, Any]:
  """One fit of ``image`` (H, W, C) from ``init`` (params; None: the random init of
  config.seed), trained on its pixels or, with config.fit.supervision 'gradient', only on its
  gradient (``poisson.gradient_target``; scored by ``poisson.fair_psnr``, the field's mean
  matched to the image's); returns its PSNR curve (after 0..steps steps) and training
  seconds."""
  coords, values = grids.image_to_samples(image, config.data.grid)
  if config.fit.supervision == 'gradient':
    batch = {'coords': coords,
             **poisson.target_entry(poisson.gradient_target(image, config.data.grid))}
    loss_fn = poisson.gradient_loss
    eval_fn = driver.image_fit_eval(config, image, score=poisson.fair_psnr)
  else:
    batch = {'coords': coords, 'values': values}
    loss_fn, eval_fn = fitting.image_loss, driver.image_fit_eval(config, image)
  state = driver.field_state(config, spec)
  if init is not None:  # A copy: the driver donates the state's buffers.
    state = state.replace(params=jax.tree.map(np.array, init))
  fingerprint = driver.field_fingerprint(config, spec, batch, loss_fn, source=source)
  fingerprint['init'] = config.init if init is not None else 'random'
  result = driver.run(state, loss_fn, workdir=workdir, tag=tag,
                      schedule=driver.Schedule.from_config(config), writer=writer, batch=batch,
                      eval_fn=eval_fn,
                      param_sharding=config.param_sharding, fingerprint=fingerprint,
                      resume=config.resume, nan_policy=config.nan_policy)
  return {'steps': [int(r['step']) for r in result.history],
          'psnr': [float(r['psnr']) for r in result.history],
          'train_seconds': [float(s) for s in result.train_seconds],
          'seconds_per_step': result.seconds_per_step}


def compare(learned: dict[str, Any], random: dict[str, Any], report_steps: list[int],
            target_step: int | None = None) -> dict[str, Any]:
  """PSNR at ``report_steps`` from both inits; steps and seconds for each to reach the random
  init's PSNR after ``target_step`` steps (None: its final PSNR; the learned init's steps are
  None if it never reaches it)."""
  target = random['psnr'][-1 if target_step is None else random['steps'].index(target_step)]
  row: dict[str, Any] = {'target_psnr': target}
  for name, run in ((LEARNED, learned), ('random', random)):
    by_step = dict(zip(run['steps'], run['psnr']))
    row[name] = {f'psnr_after_{s}': by_step.get(s) for s in report_steps}
    reached = curves.steps_to_reach(run['psnr'], target)
    row[name]['steps_to_target'] = None if reached is None else run['steps'][reached]
    row[name]['seconds_to_target'] = None if reached is None else run['train_seconds'][reached]
  return row


def summary(rows: list[dict[str, Any]], report_steps: list[int]) -> dict[str, Any]:
  """Mean ± std over rows (photos x seeds) of every number of ``compare``; how many rows the
  learned init reached the target in at most a tenth of the random init's steps."""
  out: dict[str, Any] = {'rows': len(rows), 'target_psnr': common.mean_std(
      [r['target_psnr'] for r in rows])}
  for name in (LEARNED, 'random'):
    keys = [f'psnr_after_{s}' for s in report_steps] + ['steps_to_target', 'seconds_to_target']
    out[name] = {k: mean_std_or_none([r[name][k] for r in rows if r[name][k] is not None])
                 for k in keys}
    out[name]['reached'] = sum(r[name]['steps_to_target'] is not None for r in rows)
  out['learned_within_tenth'] = sum(
      within_tenth(r[LEARNED]['steps_to_target'], r['random']['steps_to_target']) for r in rows)
  return out


def within_tenth(learned_steps: int | None, random_steps: int) -> bool:
  """Whether the learned init reached the target (None: never) in at most a tenth of the
  random init's steps: the benchmark's 10x."""
  return learned_steps is not None and learned_steps * 10 <= random_steps


def mean_std_or_none(values: list[float]) -> dict[str, float] | None:
  """``common.mean_std`` of ``values``; None when there are none."""
  return common.mean_std(values) if values else None


def _cell(value: float | None, spec: str = '.2f') -> str:
  return '-' if value is None else format(value, spec)


def results_table(rows: list[dict[str, Any]], stats: dict[str, Any],
                  report_steps: list[int]) -> str:
  """results.md: one line per photo and seed, then mean ± std."""
  psnr_heads = ' | '.join(f'PSNR@{s} learned / random' for s in report_steps)
  lines = [f'| photo | seed | target (random @ end) | {psnr_heads} | steps to target learned / '
           f'random | seconds to target learned / random |',
           '|---|---|---|' + '---|' * len(report_steps) + '---|---|']
  for r in rows:
    psnrs = ' | '.join(f'{_cell(r[LEARNED][f"psnr_after_{s}"])} / '
                       f'{_cell(r["random"][f"psnr_after_{s}"])}' for s in report_steps)
    lines.append(f'| {r["photo"]} | {r["seed"]} | {r["target_psnr"]:.2f} | {psnrs} | '
                 f'{_cell(r[LEARNED]["steps_to_target"], "d")} / '
                 f'{_cell(r["random"]["steps_to_target"], "d")} | '
                 f'{_cell(r[LEARNED]["seconds_to_target"], ".1f")} / '
                 f'{_cell(r["random"]["seconds_to_target"], ".1f")} |')
  pm = common.format_mean_std
  psnrs = ' | '.join(f'{pm(stats[LEARNED][f"psnr_after_{s}"])} / '
                     f'{pm(stats["random"][f"psnr_after_{s}"])}' for s in report_steps)
  lines.append(f'| mean ± std ({stats["rows"]}) | | {pm(stats["target_psnr"])} | {psnrs} | '
               f'{pm(stats[LEARNED]["steps_to_target"], ".1f")} / '
               f'{pm(stats["random"]["steps_to_target"], ".1f")} | '
               f'{pm(stats[LEARNED]["seconds_to_target"], ".1f")} / '
               f'{pm(stats["random"]["seconds_to_target"], ".1f")} |')
  lines.append('')
  lines.append(f'Learned init reached the target in {stats[LEARNED]["reached"]} of '
               f'{stats["rows"]} fits, in at most a tenth of the random init\'s steps in '
               f'{stats["learned_within_tenth"]}.')
  return '\n'.join(lines) + '\n'


def selected_views(config: ml_collections.ConfigDict, photos: Any
                   ) -> list[tuple[int, str, np.ndarray]]:
  """(index among the test photos, name, view) of the photos config.photos names, in test-set
  order (every one of the first config.max_photos when empty), each by its name or by its file
  name's stem when no other photo has that stem ('coffee' for 'data/coffee.png'). The index names
  the photo's checkpoints, so a run on a few photos restores the fits another run in the same
  workdir finished. One-line error for a name that is no test photo's or is ambiguous."""
  count = min(len(photos), config.max_photos) if config.max_photos else len(photos)
  names = [train.photo_name(photos, i) for i in range(count)]
  stems = [os.path.splitext(os.path.basename(name))[0] for name in names]
  among = (f'the first {count} test photos (config.max_photos={config.max_photos})'
           if config.max_photos else f'the {count} test photos')
  wanted = common.split_names(config.photos)
  if config.photos.strip() and not wanted:
    raise ValueError(f'config.photos={config.photos!r} names no photo')
  chosen = set()
  for name in wanted:
    matches = [i for i, n in enumerate(names) if n == name] or [
        i for i, stem in enumerate(stems) if stem == name]
    if len(matches) != 1:
      raise ValueError(f'config.photos: {name!r} names {len(matches)} of {among} '
                       f'({", ".join(names)}); give its name or its unique file stem')
    chosen.add(matches[0])
  indices = sorted(chosen) if chosen else list(range(count))
  return [(i, *view) for i, view in zip(indices, train.views(config, photos, indices))]


def evaluate(config: ml_collections.ConfigDict, workdir: str) -> dict[str, Any]:
  """Fits every test photo from the learned and the random inits; returns metrics.json."""
  spec = train.model_spec(config)
  learned_init = init_file.load(config.init)
  init_file.check_matches(learned_init, spec, config.data.grid, config.init)
  photos = train.open_photos(config, config.test_dataset)
  images = selected_views(config, photos)
  seeds = train.int_list(config, 'seeds', minimum=0)
  report_steps = [s for s in train.int_list(config, 'fit.report_steps') if s <= config.fit.steps]
  workdir = common.require_workdir(workdir, config)
  logging.info('Evaluating %s on %d test photos at %d^2 %s, trained on the %s: %d steps from '
               'the learned init and from random inits (seeds %s).', config.init, len(images),
               config.image_size, config.colour, config.fit.supervision, config.fit.steps,
               ', '.join(map(str, seeds)))
  rows, runs = [], {}
  writer = common.ScalarWriter(os.path.join(workdir, 'tb'))
  start = time.perf_counter()
  try:
    for i, name, image in images:
      learned = fit_one(fit_config(config, seeds[0]), workdir, spec, image,
                        learned_init.params, tag=run_tag(i), source=name,
                        writer=writer)
      runs[run_tag(i)] = learned
      for seed in seeds:
        random = fit_one(fit_config(config, seed), workdir, spec, image, None,
                         tag=run_tag(i, seed), source=name, writer=writer)
        runs[run_tag(i, seed)] = random
        rows.append({'photo': name, 'seed': seed, **compare(learned, random, report_steps)})
        logging.info('%s seed %d: random %.2f dB after %d steps; learned %s', name, seed,
                     rows[-1]['target_psnr'], config.fit.steps,
                     f'reaches it after {rows[-1][LEARNED]["steps_to_target"]} steps'
                     if rows[-1][LEARNED]['steps_to_target'] is not None else 'never reaches it')
  finally:
    writer.close()
  stats = summary(rows, report_steps)
  output = {'task': 'evaluate', 'init': config.init, 'trained_on': learned_init.trained_on,
            'rows': rows, 'summary': stats, 'runs': runs,
            'wall_seconds': time.perf_counter() - start, 'device': jax.devices()[0].device_kind,
            'machine': common.machine(), 'config': config.to_dict()}
  if common.is_main_process():
    common.write_json(os.path.join(workdir, 'metrics.json'), output)
    common.write_text(os.path.join(workdir, 'results.md'),
                      results_table(rows, stats, report_steps))
    steps = runs[run_tag(images[0][0])]['steps']
    mean = lambda key: np.mean([r['psnr'] for k, r in runs.items() if key in k],  # noqa: E731
                               axis=0).tolist()
    figures.curves(os.path.join(workdir, 'psnr.png'),
                   {'learned init': (steps, mean(LEARNED)), 'random init': (steps, mean('random'))},
                   xlabel='step (Adam, full image)', ylabel='test PSNR (dB), mean',
                   title=f'{len(images)} test photos, {config.image_size}^2 {config.colour}'
                   + (', from the gradient' if config.fit.supervision == 'gradient' else ''))
  return output
