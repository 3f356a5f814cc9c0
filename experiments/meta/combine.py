"""Several evaluations of learned inits in one table: typically the inits of three meta-training
seeds, each evaluated on the same test photos with the same fit (``evaluate``). Reads each
evaluation's metrics.json (config.evaluations: workdirs, local or gs://) and writes, to the
workdir, combined.md and combined.json:

- one line per evaluation: fits that reach the target (the random init's PSNR after
  config.target_step steps; by default after config.fit.steps, the evaluation's own target),
  fits that reach it in at most a tenth of the random init's steps, steps and seconds to the
  target (mean ± std over the fits that reach it), the learned init's PSNR and
  its lead over the random init (learned minus random, dB; how many fits are ahead) after each
  of config.combine_steps steps;
- every fit pooled: the same numbers over all fits of all evaluations (steps: mean ± std,
  median, range);
- the evaluations' means: mean ± std over the evaluations of each evaluation's mean, and how
  many times fewer steps than the random init the learned init needs on the fits it reaches;
- steps to the target per photo and random seed, learned / random, one column per evaluation.

Evaluations combine only when they fit the same test photos with the same model and fit
(colour, image size, grid, config.fit and the test split); anything else is a one-line error.
"""

from __future__ import annotations

import contextlib
import copy
import json
import os
from typing import Any, Iterator

import ml_collections
import numpy as np
from absl import logging

from experiments import common, driver
from experiments.meta import evaluate, train
from siren_jax import files

LEARNED = evaluate.LEARNED
METRICS = 'metrics.json'
# The config fields that must agree for evaluations to be comparable (config.fit's report steps
# aside: they only say what was reported).
SAME_SETTING = ('model', 'colour', 'image_size', 'data', 'fit', 'test_dataset')
# What a metrics.json that evaluate did not write (or an older version wrote) fails with.
FORMAT_ERRORS = (KeyError, TypeError, AttributeError, IndexError, ValueError)


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
    differences = driver.fingerprint_differences(setting_of(reference), setting_of(metrics))
    if differences:
      raise ValueError(f'config.evaluations are not one setting, {first} (there) and {workdir} '
                       f'(here) differ in config.{"; ".join(differences)}')
    if _photos(metrics) != _photos(reference):
      raise ValueError(f'config.evaluations fit other test photos or another number of random '
                       f'seeds: {first} and {workdir}; combine evaluations of the same photos')


def setting_of(metrics: dict[str, Any]) -> dict[str, Any]:
  """An evaluation's config fields of SAME_SETTING, config.fit without its report steps."""
  fields = {k: copy.deepcopy(metrics['config'][k]) for k in SAME_SETTING}
  fields['fit'].pop('report_steps')
  return fields


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
    raise ValueError(f'{len(rows)} rows do not match the {len(indices)} photos fitted')
  per_photo = len(rows) // len(indices)
  pairs = []
  for j, row in enumerate(rows):
    index = indices[j // per_photo]
    pairs.append((row, runs[evaluate.run_tag(index)], runs[evaluate.run_tag(index, row['seed'])]))
  return pairs


def psnr_after(run: dict[str, Any], step: int) -> float:
  """A run's PSNR after ``step`` steps (its curve holds every step)."""
  return float(run['psnr'][run['steps'].index(step)])


def evaluation_fits(metrics: dict[str, Any], steps: list[int],
                    target_step: int) -> list[dict[str, Any]]:
  """Per fit (row) of one evaluation: its photo and random seed, the steps each init needs to
  reach the target (the row's random init's PSNR after ``target_step`` steps; the learned
  init's None where it never does), the learned init's seconds to it, and the learned PSNR and
  the lead over the row's random init after each of ``steps``."""
  fits = []
  for row, learned, random in fit_pairs(metrics):
    reach = evaluate.compare(learned, random, [], target_step)
    fits.append({
        'photo': row['photo'], 'seed': int(row['seed']),
        'steps_to_target': reach[LEARNED]['steps_to_target'],
        'seconds_to_target': reach[LEARNED]['seconds_to_target'],
        'random_steps_to_target': int(reach['random']['steps_to_target']),
        'psnr': {s: psnr_after(learned, s) for s in steps},
        'lead': {s: psnr_after(learned, s) - psnr_after(random, s) for s in steps}})
  return fits


def summarise_fits(fits: list[dict[str, Any]], steps: list[int]) -> dict[str, Any]:
  """Mean ± std over ``fits`` of ``evaluation_fits``: steps and seconds to the target over the
  fits that reach it, the random init's steps over the same fits, PSNR and lead over all."""
  reached = [f for f in fits if f['steps_to_target'] is not None]
  mean_std = evaluate.mean_std_or_none
  stats = {
      'fits': len(fits), 'reached': len(reached),
      'within_tenth': sum(evaluate.within_tenth(f['steps_to_target'],
                                                f['random_steps_to_target']) for f in fits),
      'steps_to_target': mean_std([f['steps_to_target'] for f in reached]),
      'seconds_to_target': mean_std([f['seconds_to_target'] for f in reached]),
      'random_steps_to_target': mean_std([f['random_steps_to_target'] for f in reached]),
      'psnr': {s: common.mean_std(f['psnr'][s] for f in fits) for s in steps},
      'lead': {s: common.mean_std(f['lead'][s] for f in fits) for s in steps},
      'ahead': {s: sum(f['lead'][s] > 0 for f in fits) for s in steps}}
  if reached:
    values = [f['steps_to_target'] for f in reached]
    stats['steps_range'] = [min(values), max(values)]
    stats['steps_median'] = float(np.median(values))
  return stats


def across_means(per_evaluation: list[dict[str, Any]], steps: list[int]) -> dict[str, Any]:
  """Mean ± std over the evaluations of each evaluation's mean. The speed-up is the random
  init's mean steps to its target over the learned init's, both over the fits the learned init
  reaches it on and as means of the evaluations' means; left out when an evaluation reaches it
  on no fit."""
  def means(key: str, step: int | None = None) -> dict[str, float]:
    return common.mean_std((e[key] if step is None else e[key][step])['mean']
                           for e in per_evaluation)

  out: dict[str, Any] = {'evaluations': len(per_evaluation)}
  if all(e['steps_to_target'] for e in per_evaluation):
    out['steps_to_target'] = means('steps_to_target')
    out['seconds_to_target'] = means('seconds_to_target')
    random = means('random_steps_to_target')['mean']
    out['fewer_steps'] = random / out['steps_to_target']['mean']
  out['psnr'] = {s: means('psnr', s) for s in steps}
  out['lead'] = {s: means('lead', s) for s in steps}
  return out


def _fit_steps(evaluations: dict[str, dict[str, Any]]) -> int:
  """The steps of the evaluations' fits (one setting: check_same_setting)."""
  return next(iter(evaluations.values()))['config']['fit']['steps']


def combine_steps(config: ml_collections.ConfigDict,
                  evaluations: dict[str, dict[str, Any]]) -> list[int]:
  """config.combine_steps, or (empty) the report steps every evaluation has; each a step of the
  fits (1..config.fit.steps), in increasing order."""
  fit_steps = _fit_steps(evaluations)
  if str(config.combine_steps).strip():
    steps = set(train.int_list(config, 'combine_steps'))
  else:
    reports = [set(train.int_list(ml_collections.ConfigDict(m['config']), 'fit.report_steps'))
               for m in evaluations.values()]
    steps = {s for s in set.intersection(*reports) if s <= fit_steps}
  if not steps or max(steps) > fit_steps:
    raise ValueError(f'config.combine_steps={config.combine_steps!r} must name steps of the '
                     f'fits, 1 to {fit_steps}')
  return sorted(steps)


def target_step(config: ml_collections.ConfigDict,
                evaluations: dict[str, dict[str, Any]]) -> int:
  """config.target_step, or (0) the fits' last step: the step of the random init's PSNR that
  is the target; one-line error unless it is a step of the fits (1..config.fit.steps)."""
  fit_steps = _fit_steps(evaluations)
  step = int(config.target_step) or fit_steps
  if not 1 <= step <= fit_steps:
    raise ValueError(f'config.target_step={config.target_step} must be a step of the fits, 1 to '
                     f'{fit_steps}, or 0 (their last, {fit_steps})')
  return step


def combine(config: ml_collections.ConfigDict, workdir: str) -> dict[str, Any]:
  """Reads config.evaluations, checks they are one setting, writes combined.md and
  combined.json to ``workdir`` and returns what combined.json holds."""
  workdirs = common.split_names(config.evaluations)  # Not empty: train.check_config.
  normalised = [_normalised(w) for w in workdirs]
  if len(set(normalised)) != len(workdirs):
    raise ValueError(f'config.evaluations names a workdir twice: {config.evaluations!r}')
  if workdir and _normalised(workdir) in normalised:
    raise ValueError(f'--workdir {workdir!r} is one of config.evaluations; write the combined '
                     f'table to a workdir of its own')
  evaluations = {w: read_evaluation(w) for w in workdirs}
  with _format_errors(workdirs):
    check_same_setting(evaluations)
    steps = combine_steps(config, evaluations)
    target = target_step(config, evaluations)
  per_evaluation = []
  for w, metrics in evaluations.items():
    with _format_errors([w]):
      fits = evaluation_fits(metrics, steps, target)
      per_evaluation.append({'workdir': w, 'init': metrics.get('init'),
                             **summarise_fits(fits, steps), 'per_fit': fits})
  pooled = summarise_fits([f for e in per_evaluation for f in e['per_fit']], steps)
  output = {'task': 'combine', 'steps': steps, 'target_step': target,
            'setting': setting_of(evaluations[workdirs[0]]),
            'evaluations': per_evaluation, 'across_means': across_means(per_evaluation, steps),
            'pooled': pooled}
  text = combined_table(output)  # Before anything is written.
  workdir = common.require_workdir(workdir, config)
  common.write_json(os.path.join(workdir, 'combined.json'), output)
  common.write_text(os.path.join(workdir, 'combined.md'), text)
  logging.info('Combined %d evaluations:\n%s', len(workdirs), text)
  return output


@contextlib.contextmanager
def _format_errors(workdirs: list[str]) -> Iterator[None]:
  """Turns what reading a metrics.json of another format fails with into one ValueError line
  naming the evaluations being read (the project's own one-line errors pass unchanged)."""
  try:
    yield
  except FORMAT_ERRORS as e:
    if isinstance(e, ValueError) and str(e).startswith('config.'):
      raise
    raise ValueError(f'config.evaluations: the {METRICS} of {", ".join(workdirs)} is not in the '
                     f'format the evaluate task writes ({type(e).__name__}: {e})') from None


def _normalised(workdir: str) -> str:
  """A workdir as compared for sameness: URLs without a trailing slash, paths resolved."""
  return workdir.rstrip('/') if files.is_url(workdir) else os.path.realpath(workdir)


def _cell(stats: dict[str, float] | None, spec: str = '.1f') -> str:
  """'mean ± std' in ``spec``; '-' for None."""
  return common.format_mean_std(stats, spec)


def _signed(stats: dict[str, float]) -> str:
  """'+mean ± std' of a lead in dB."""
  return f'{stats["mean"]:+.2f} ± {stats["std"]:.2f}'


def combined_table(output: dict[str, Any]) -> str:
  """combined.md: the per-evaluation and pooled lines, the evaluations' means, then the steps
  per photo."""
  steps, setting, fit = output['steps'], output['setting'], output['setting']['fit']
  heads = ' | '.join(f'PSNR@{s}' for s in steps)
  leads = ' | '.join(f'lead@{s} (ahead)' for s in steps)
  lines = [f'{len(output["evaluations"])} evaluations, {setting["image_size"]}^2 '
           f'{setting["colour"]}, {fit["steps"]}-step fits trained on the '
           f'{fit.get("supervision", "image")}; target: the random init\'s PSNR after '
           f'{output["target_step"]} steps. Steps and seconds: over the fits that reach it.',
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
  pooled = output['pooled']
  lines.append(line(f'all {pooled["fits"]} fits', pooled, ''))
  means = output['across_means']
  lines += ['', f'Over the {means["evaluations"]} evaluations\' means (mean ± std):']
  if 'steps_to_target' in means:
    lines.append(f'- steps to the target: {_cell(means["steps_to_target"])} '
                 f'({means["fewer_steps"]:.2f}x fewer than the random init on the same fits); '
                 f'seconds: {_cell(means["seconds_to_target"])}')
  else:
    lines.append('- steps to the target: an evaluation reaches it on no fit')
  for s in steps:
    lines.append(f'- after {s} step{"s" if s > 1 else ""}: learned '
                 f'{_cell(means["psnr"][s], ".2f")} dB, lead {_signed(means["lead"][s])} dB')
  if pooled['reached']:
    lines.append(f'- all fits that reach the target: median {pooled["steps_median"]:g} steps, '
                 f'{pooled["steps_range"][0]}-{pooled["steps_range"][1]}')
  first = output['evaluations'][0]['per_fit']
  several_seeds = len(first) > len({f['photo'] for f in first})
  lines += ['', 'Steps to the target, learned / random:', '',
            '| photo | ' + ' | '.join(e['workdir'] for e in output['evaluations']) + ' |',
            '|---|' + '---|' * len(output['evaluations'])]
  for k, fit_k in enumerate(first):
    cells = []
    for e in output['evaluations']:
      f = e['per_fit'][k]
      learned = 'never' if f['steps_to_target'] is None else f['steps_to_target']
      cells.append(f'{learned} / {f["random_steps_to_target"]}'
                   + (f' (seed {f["seed"]})' if several_seeds else ''))
    lines.append(f'| {fit_k["photo"]} | ' + ' | '.join(cells) + ' |')
  return '\n'.join(lines) + '\n'
