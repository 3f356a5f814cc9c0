"""Several evaluations of learned inits in one table: typically the inits of three meta-training
seeds, each evaluated on the same test photos with the same fit (``evaluate``). Reads each
evaluation's metrics.json (config.evaluations: workdirs, local or gs://) and writes, to the
workdir, combined.md and combined.json:

- one line per evaluation: fits that reach the target (the random init's PSNR after
  config.fit.steps), fits that reach it in at most a tenth of the random init's steps, steps and
  seconds to the target (mean ± std over the fits that reach it), the learned init's PSNR and
  its lead over the random init (learned minus random, dB; how many fits are ahead) after each
  of config.combine_steps steps;
- the evaluations' means: mean ± std over the evaluations of each evaluation's mean, and how
  many times fewer steps than the random init the learned init needs;
- every fit pooled: the same numbers over all fits of all evaluations (steps: mean ± std,
  median, range);
- steps to the target per photo (and random seed), learned / random, one column per evaluation.

Evaluations combine only when they fit the same test photos with the same fit (colour, image
size, grid, config.fit and the test split); anything else is a one-line error.
"""

from __future__ import annotations

import copy
import json
import os
from typing import Any

import numpy as np
from absl import logging

from experiments import common, driver
from experiments.meta import evaluate, train
from siren_jax import files

LEARNED = evaluate.LEARNED
METRICS = 'metrics.json'
# The config fields that must agree for evaluations to be comparable.
SAME_SETTING = ('colour', 'image_size', 'data', 'fit', 'test_dataset')


def read_evaluation(workdir: str) -> dict[str, Any]:
  """The metrics.json that ``evaluate`` wrote to ``workdir`` (one-line error otherwise)."""
  path = os.path.join(workdir, METRICS)
  if not files.exists(path):
    raise FileNotFoundError(f'config.evaluations: {workdir!r} has no {METRICS}; give the '
                            f'workdirs of finished evaluations (the evaluate task)')
  try:
    metrics = json.loads(files.read_bytes(path))
  except ValueError as e:
    raise ValueError(f'config.evaluations: {path} is not JSON: {e}') from None
  if not isinstance(metrics, dict) or metrics.get('task') != 'evaluate':
    raise ValueError(f'config.evaluations: {path} was not written by the evaluate task')
  return metrics


def check_same_setting(evaluations: dict[str, dict[str, Any]]) -> None:
  """One-line error when the evaluations differ in a field of SAME_SETTING or in their test
  photos (names, in order, and how many random seeds each; the seeds themselves may differ:
  each meta-training seed may be compared with its own random seed)."""
  (first, reference), *others = evaluations.items()
  for workdir, metrics in others:
    differences = driver.fingerprint_differences(_setting(reference), _setting(metrics))
    if differences:
      raise ValueError(f'config.evaluations are not one setting, {first} (there) and {workdir} '
                       f'(here) differ in config.{"; ".join(differences)}')
    if _photos(metrics) != _photos(reference):
      raise ValueError(f'config.evaluations fit other test photos or another number of random '
                       f'seeds: {first} and {workdir}; combine evaluations of the same photos')


def _setting(metrics: dict[str, Any]) -> dict[str, Any]:
  """The config fields of SAME_SETTING (config.fit without its report steps, which only say
  what to report)."""
  setting = {k: copy.deepcopy(metrics['config'].get(k)) for k in SAME_SETTING}
  setting['fit'].pop('report_steps', None)
  return setting


def _photos(metrics: dict[str, Any]) -> list[str]:
  """The photo of every row (one row per photo and random seed)."""
  return [r['photo'] for r in metrics['rows']]


def fit_pairs(metrics: dict[str, Any]) -> list[tuple[dict, dict, dict]]:
  """(row, learned run, random run) of every row of an evaluation's metrics. Rows come per
  photo in the order of the photos' indices, one per random seed; the runs are named by
  ``evaluate.run_tag``."""
  runs = metrics['runs']
  indices = sorted(evaluate.run_index(k) for k in runs if k.endswith(f'_{LEARNED}'))
  rows = metrics['rows']
  if not indices or len(rows) % len(indices):
    raise ValueError(f'{METRICS}: {len(rows)} rows do not match the {len(indices)} photos fitted')
  per_photo = len(rows) // len(indices)
  pairs = []
  for j, row in enumerate(rows):
    index = indices[j // per_photo]
    pairs.append((row, runs[evaluate.run_tag(index)], runs[evaluate.run_tag(index, row['seed'])]))
  return pairs


def psnr_after(run: dict[str, Any], step: int) -> float:
  """A run's PSNR after ``step`` steps (its curve holds every step)."""
  return run['psnr'][run['steps'].index(step)]


def evaluation_stats(metrics: dict[str, Any], steps: list[int]) -> dict[str, Any]:
  """Per fit of one evaluation: steps and seconds to the target (learned and random; None
  where never reached), the learned PSNR and the lead after each of ``steps``."""
  fits = []
  for row, learned, random in fit_pairs(metrics):
    fits.append({
        'photo': row['photo'], 'seed': row['seed'],
        'steps_to_target': row[LEARNED]['steps_to_target'],
        'seconds_to_target': row[LEARNED]['seconds_to_target'],
        'random_steps_to_target': row['random']['steps_to_target'],
        'psnr': {s: psnr_after(learned, s) for s in steps},
        'lead': {s: psnr_after(learned, s) - psnr_after(random, s) for s in steps}})
  return summarise_fits(fits, steps) | {'per_fit': fits}


def summarise_fits(fits: list[dict[str, Any]], steps: list[int]) -> dict[str, Any]:
  """Mean ± std over ``fits`` (steps and seconds over those that reach the target)."""
  reached = [f for f in fits if f['steps_to_target'] is not None]
  stats = {
      'fits': len(fits), 'reached': len(reached),
      'within_tenth': sum(f['steps_to_target'] * 10 <= f['random_steps_to_target']
                          for f in reached),
      'steps_to_target': evaluate.mean_std_or_none([f['steps_to_target'] for f in reached]),
      'seconds_to_target': evaluate.mean_std_or_none([f['seconds_to_target'] for f in reached]),
      'random_steps_to_target': evaluate.mean_std_or_none(
          [f['random_steps_to_target'] for f in fits]),
      'psnr': {s: common.mean_std(f['psnr'][s] for f in fits) for s in steps},
      'lead': {s: common.mean_std(f['lead'][s] for f in fits) for s in steps},
      'ahead': {s: sum(f['lead'][s] > 0 for f in fits) for s in steps}}
  if reached:
    values = [f['steps_to_target'] for f in reached]
    stats['steps_range'] = [min(values), max(values)]
    stats['steps_median'] = float(np.median(values))
  return stats


def across_means(per_evaluation: list[dict[str, Any]], steps: list[int]) -> dict[str, Any]:
  """Mean ± std over the evaluations of each evaluation's mean; the speed-up is the random
  init's mean steps to its target over the learned init's (both as means of the means)."""
  means = lambda get: common.mean_std(get(e) for e in per_evaluation)  # noqa: E731
  out: dict[str, Any] = {'evaluations': len(per_evaluation)}
  if all(e['steps_to_target'] for e in per_evaluation):
    out['steps_to_target'] = means(lambda e: e['steps_to_target']['mean'])
    out['seconds_to_target'] = means(lambda e: e['seconds_to_target']['mean'])
    random = means(lambda e: e['random_steps_to_target']['mean'])['mean']
    out['fewer_steps'] = random / out['steps_to_target']['mean']
  out['psnr'] = {s: means(lambda e, s=s: e['psnr'][s]['mean']) for s in steps}
  out['lead'] = {s: means(lambda e, s=s: e['lead'][s]['mean']) for s in steps}
  return out


def combine_steps(config: Any, evaluations: dict[str, dict[str, Any]]) -> list[int]:
  """config.combine_steps, or (empty) the report steps every evaluation has; each a step of the
  fits (1..config.fit.steps)."""
  fit_steps = next(iter(evaluations.values()))['config']['fit']['steps']
  if str(config.combine_steps).strip():
    steps = train.int_list(config, 'combine_steps')
  else:  # Validated by the evaluations' own config checks.
    reports = [{int(s) for s in str(m['config']['fit']['report_steps']).split(',') if s.strip()}
               for m in evaluations.values()]
    steps = sorted(s for s in set.intersection(*reports) if s <= fit_steps)
  if not steps or max(steps) > fit_steps:
    raise ValueError(f'config.combine_steps={config.combine_steps!r} must name steps of the '
                     f'fits, 1 to {fit_steps}')
  return steps


def combine(config: Any, workdir: str) -> dict[str, Any]:
  """Reads config.evaluations, checks they are one setting, writes combined.md and
  combined.json to ``workdir`` and returns what combined.json holds."""
  workdirs = common.split_names(config.evaluations)  # Not empty: train.check_config.
  if len(set(map(_normalised, workdirs))) != len(workdirs):
    raise ValueError(f'config.evaluations names a workdir twice: {config.evaluations!r}')
  if workdir and _normalised(workdir) in map(_normalised, workdirs):
    raise ValueError(f'--workdir {workdir!r} is one of config.evaluations; write the combined '
                     f'table to a workdir of its own')
  evaluations = {w: read_evaluation(w) for w in workdirs}
  check_same_setting(evaluations)
  steps = combine_steps(config, evaluations)
  per_evaluation = [evaluation_stats(m, steps) for m in evaluations.values()]
  pooled = summarise_fits([f for e in per_evaluation for f in e['per_fit']], steps)
  output = {
      'task': 'combine', 'steps': steps,
      'setting': _setting(next(iter(evaluations.values()))),
      'evaluations': [{'workdir': w, 'init': m['init'], **e}
                      for (w, m), e in zip(evaluations.items(), per_evaluation)],
      'across_means': across_means(per_evaluation, steps), 'pooled': pooled}
  workdir = common.require_workdir(workdir, config)
  common.write_json(os.path.join(workdir, 'combined.json'), output)
  text = combined_table(output)
  common.write_text(os.path.join(workdir, 'combined.md'), text)
  logging.info('Combined %d evaluations:\n%s', len(workdirs), text)
  return output


def _normalised(workdir: str) -> str:
  return workdir.rstrip('/') if files.is_url(workdir) else os.path.realpath(workdir)


def _cell(stats: dict[str, float] | None, spec: str = '.1f') -> str:
  return common.format_mean_std(stats, spec)


def _signed(stats: dict[str, float]) -> str:
  """'+mean ± std' of a lead in dB."""
  return f'{stats["mean"]:+.2f} ± {stats["std"]:.2f}'


def combined_table(output: dict[str, Any]) -> str:
  """combined.md: the per-evaluation, across-means and pooled lines, then the steps per
  photo."""
  steps = output['steps']
  setting = output['setting']
  heads = ' | '.join(f'PSNR@{s}' for s in steps)
  leads = ' | '.join(f'lead@{s} (ahead)' for s in steps)
  lines = [f'{len(output["evaluations"])} evaluations, {setting["image_size"]}^2 '
           f'{setting["colour"]}, {setting["fit"]["steps"]}-step fits trained on the '
           f'{setting["fit"]["supervision"]}; target: the random init\'s PSNR after '
           f'{setting["fit"]["steps"]} steps. Steps and seconds: over the fits that reach it.',
           '',
           f'| evaluation | random seeds | reach the target | within a tenth | steps to target '
           f'| seconds to target | {heads} | {leads} |',
           '|---|---|---|---|---|---|' + '---|' * (2 * len(steps))]

  def line(name: str, stats: dict[str, Any], seeds: str) -> str:
    psnr = ' | '.join(_cell(stats['psnr'][s], '.2f') for s in steps)
    lead = ' | '.join(f'{_signed(stats["lead"][s])} ({stats["ahead"][s]} of {stats["fits"]})'
                      for s in steps)
    return (f'| {name} | {seeds} | {stats["reached"]} of {stats["fits"]} | '
            f'{stats["within_tenth"]} | {_cell(stats["steps_to_target"])} | '
            f'{_cell(stats["seconds_to_target"])} | {psnr} | {lead} |')

  for e in output['evaluations']:
    seeds = ', '.join(map(str, sorted({f['seed'] for f in e['per_fit']})))
    lines.append(line(e['workdir'], e, seeds))
  lines.append(line(f'all {output["pooled"]["fits"]} fits', output['pooled'], ''))
  means = output['across_means']
  lines.append('')
  lines.append(f'Over the {means["evaluations"]} evaluations\' means (mean ± std):')
  if 'steps_to_target' in means:
    lines.append(f'- steps to the target: {_cell(means["steps_to_target"])} '
                 f'({means["fewer_steps"]:.2f}x fewer than the random init); seconds: '
                 f'{_cell(means["seconds_to_target"])}')
  else:
    lines.append('- steps to the target: an evaluation reaches it on no fit')
  for s in steps:
    lines.append(f'- after {s} step{"s" if s > 1 else ""}: learned '
                 f'{_cell(means["psnr"][s], ".2f")} dB, lead {_signed(means["lead"][s])} dB')
  pooled = output['pooled']
  if pooled['reached']:
    lines.append(f'- all fits that reach the target: median {pooled["steps_median"]:g} steps, '
                 f'{pooled["steps_range"][0]}-{pooled["steps_range"][1]}')
  lines.append('')
  lines.append('Steps to the target, learned / random:')
  lines.append('')
  names = [e['workdir'] for e in output['evaluations']]
  lines.append('| photo | ' + ' | '.join(names) + ' |')
  lines.append('|---|' + '---|' * len(names))
  for k, fit in enumerate(output['evaluations'][0]['per_fit']):
    cells = []
    for e in output['evaluations']:
      f = e['per_fit'][k]
      learned = 'never' if f['steps_to_target'] is None else f['steps_to_target']
      cells.append(f'{learned} / {f["random_steps_to_target"]}')
    lines.append(f'| {fit["photo"]} | ' + ' | '.join(cells) + ' |')
  return '\n'.join(lines) + '\n'
