"""One command for every reproduction: runs each part of experiments/reproduce/parts.py into
WORKDIR/<part>/, skips parts already finished, and rewrites WORKDIR/REPORT.md (claims table
first, then a section per part) after every part, so a run cut short still leaves a report.

A part is finished when WORKDIR/<part>/result.json is complete (it is written last, after the
part's experiments wrote their own results); a killed part resumes: every experiment in it skips
what it finished and resumes its fits from their checkpoints.
"""

from __future__ import annotations

import os
import sys
import time
import traceback
from typing import Any

import ml_collections
from absl import logging

from experiments import common
from experiments.reproduce import parts, report
from experiments.configs import colorize as colorize_config
from experiments.configs import fit_image as fit_image_config
from experiments.configs import poisson as poisson_config
from experiments.configs import resize as resize_config
from siren_jax.names import COLORIZER_MODELS, FIELD_MODELS

VARIANT_FIELDS = {
    'fit_variant': fit_image_config.get_config, 'grad_variant': poisson_config.get_config,
    'laplacian_variant': poisson_config.get_config, 'merge_variant': poisson_config.get_config,
    'resize_variant': resize_config.get_config, 'colorize_variant': colorize_config.get_config,
    'clone_variant': poisson_config.get_config,
}
# The config fields that decide what a part computes; a finished part made with other values
# is not reused (a different scale in the same workdir is a mistake, not a resume).
SETTINGS = ('scale', 'fit_variant', 'grad_variant', 'laplacian_variant', 'merge_variant',
            'clone_variant', 'resize_variant', 'colorize_variant', 'poisson_models',
            'resize_images', 'resize_mode', 'colorize_models')


def check_config(config: ml_collections.ConfigDict) -> list[parts.Part]:
  """Validates config.parts; returns the parts in run order."""
  names = common.split_names(config.parts)
  unknown = [n for n in names if n not in parts.PARTS_BY_NAME]
  if unknown or not names:
    raise ValueError(f'config.parts: {",".join(unknown) or "(empty)"} not among '
                     f'{", ".join(parts.PARTS_BY_NAME)}')
  # A bad experiment variant fails here, in one line, before any part trains.
  for field, get_config in VARIANT_FIELDS.items():
    try:
      get_config(config[field])
    except ValueError as e:
      raise ValueError(f'config.{field}={config[field]!r}: {e}') from None
  for name in common.split_names(config.poisson_models):
    if name not in FIELD_MODELS:
      raise ValueError(f'config.poisson_models: {name!r} is not one of {", ".join(FIELD_MODELS)}')
  colorizers = common.split_names(config.colorize_models)
  if not colorizers or any(n.partition('+')[0] not in COLORIZER_MODELS for n in colorizers):
    raise ValueError(f'config.colorize_models={config.colorize_models!r}: give MODEL[+FUSION], '
                     f'comma-separated, MODEL in {", ".join(COLORIZER_MODELS)}')
  return [parts.PARTS_BY_NAME[n] for n in names]


def settings(config: ml_collections.ConfigDict) -> dict[str, Any]:
  return {key: config[key] for key in SETTINGS}


def current_command(config: ml_collections.ConfigDict, workdir: str) -> str:
  """This process's command line (or its equivalent when called from Python)."""
  if sys.argv[1:] and any(a.startswith('--workdir') for a in sys.argv[1:]):
    return ' '.join(['python -m experiments.reproduce', *sys.argv[1:]])
  return (f'python -m experiments.reproduce --config=experiments/configs/reproduce.py:'
          f'{config.scale} --workdir={workdir}')


def train_and_evaluate(config: ml_collections.ConfigDict, workdir: str) -> dict[str, str]:
  """Runs every part of ``config.parts``; returns {part: 'ran' | 'skipped' | 'unavailable: ..'
  | 'failed: ...'} and writes WORKDIR/REPORT.md after each part (only the report with
  ``config.report_only``)."""
  selected = check_config(config)
  workdir = common.require_workdir(workdir, config)
  if config.report_only:
    report.write(config, workdir, current_command(config, workdir), {})
    return {}
  command = current_command(config, workdir)
  status: dict[str, str] = {}
  for part in selected:
    done = parts.load_result(workdir, part.name)
    if done is not None:
      if done['settings'] != settings(config):
        raise ValueError(f'{workdir}/{part.name} was made with other settings '
                         f'({done["settings"]}); use a fresh --workdir')
      logging.info('[reproduce] part %s: finished earlier, skipped', part.name)
      status[part.name] = 'skipped'
      continue
    reason = part.available()
    if reason:
      logging.info('[reproduce] part %s: %s', part.name, reason)
      status[part.name] = f'unavailable: {reason}'
      continue
    logging.info('[reproduce] part %s: running', part.name)
    start = time.time()
    part_dir = os.path.join(workdir, part.name)
    try:
      part.run(config, part_dir)
      if part.metrics(config.to_dict(), part_dir) is None:
        raise RuntimeError(f'part {part.name} ran but its metrics files are incomplete')
    except Exception as e:  # pylint: disable=broad-except
      # One broken part must not cost the others' results; the report names the failure.
      logging.error('[reproduce] part %s failed:\n%s', part.name, traceback.format_exc())
      status[part.name] = f'failed: {type(e).__name__}: {str(e).splitlines()[0] if str(e) else ""}'
    else:
      common.write_json(os.path.join(part_dir, parts.RESULT_FILE), {
          'part': part.name, 'settings': settings(config), 'seconds': time.time() - start,
          'command': command,
          'finished_utc': time.strftime('%Y-%m-%d %H:%M:%S', time.gmtime())})
      status[part.name] = 'ran'
    report.write(config, workdir, command, status)
  report.write(config, workdir, command, status)
  failed = {k: v for k, v in status.items() if v.startswith('failed')}
  if failed:
    raise RuntimeError(f'parts failed: {failed}')
  return status
