"""Compares colourisers trained under one seed, data set and epoch budget (the report's FR vs SRS
vs S130): loss curves, epochs to reach loss thresholds, final losses and PSNRs."""

from __future__ import annotations

import os
from typing import Any

import matplotlib

matplotlib.use('Agg')
import matplotlib.pyplot as plt  # noqa: E402
import ml_collections  # noqa: E402
from absl import logging  # noqa: E402

from experiments import common, figures  # noqa: E402
from experiments.colorize import train as colorize_train
from siren_jax.names import COLORIZER_SCHEDULES  # noqa: E402

FRACTIONS = (0.25, 0.5, 1.0)  # Of the epoch budget: where the reference model's losses are read.


def _fmt(value: Any, spec: str = '.4f') -> str:
  return '-' if value is None else format(value, spec)


def compare(config: ml_collections.ConfigDict, workdir: str) -> dict[str, Any]:
  """Trains every model in config.compare_models into WORKDIR/<MODEL>; writes compare.png,
  compare.md and compare.json; returns the comparison."""
  names = common.split_names(config.compare_models)
  if not names:
    raise ValueError('config.compare_models is empty')
  for name in names:
    if name not in COLORIZER_SCHEDULES:
      raise ValueError(f'config.compare_models: {name!r} is not one of FR, SRS, S130')
  if len(set(names)) != len(names):
    raise ValueError(f'config.compare_models lists a model twice: {config.compare_models!r}')
  workdir = common.require_workdir(workdir, config)
  runs = {}
  for name in names:
    run_config = ml_collections.ConfigDict(config.to_dict())
    run_config.model.name = name
    runs[name] = colorize_train.train_and_evaluate(run_config, os.path.join(workdir, name))

  # Thresholds from the reference model (the first listed, FR by default): its best train loss
  # after 1/4, 1/2 and all of the budget. "Epochs to reach" them answers "how much faster than
  # FR" directly: a model 3x faster reaches FR's final loss after a third of the epochs.
  reference = names[0]
  thresholds = {}
  for fraction in FRACTIONS:
    records = [r for r in runs[reference]['history'] if r['epoch'] <= fraction * config.epochs]
    thresholds[f'{fraction:g}'] = min(r['train_loss'] for r in records)
  rows = {}
  for name, run in runs.items():
    reached = {k: colorize_train.epochs_to_reach(run['history'], t) for k, t in thresholds.items()}
    reference_epochs = {k: colorize_train.epochs_to_reach(runs[reference]['history'], t)
                        for k, t in thresholds.items()}
    rows[name] = {
        'epochs_to_reference_loss': reached,
        'speedup_over_reference': {k: (reference_epochs[k] / reached[k]
                                       if reached[k] and reference_epochs[k] else None)
                                   for k in thresholds},
        'epochs_to_loss_threshold': run['epochs_to_threshold'],
        'final_train_loss': run['final_train_loss'],
        'final_val_loss': run['final_val_loss'],
        'best_val_loss': min(r['val_loss'] for r in run['history']),
        'test_psnr': run['splits']['test']['psnr'],
        'test_grey_psnr': run['splits']['test']['grey_psnr'],
        'seconds_per_epoch': run['seconds_per_epoch'],
    }
  result = {'models': rows, 'reference': reference, 'reference_losses': thresholds,
            'loss_threshold': config.loss_threshold, 'epochs': config.epochs,
            'dataset': config.dataset, 'image_size': config.image_size, 'seed': config.seed,
            'config': config.to_dict()}
  if common.is_main_process():
    _write_figure(os.path.join(workdir, 'compare.png'), runs, config)
    _write_table(os.path.join(workdir, 'compare.md'), result)
    common.write_json(os.path.join(workdir, 'compare.json'), result)
  logging.info('Comparison written to %s', workdir)
  return result


def _write_figure(path: str, runs: dict[str, Any], config: ml_collections.ConfigDict) -> None:
  fig, axes = plt.subplots(1, 2, figsize=(8.0, 3.2), sharey=True)
  for name, run in runs.items():
    epochs = [r['epoch'] for r in run['history']]
    axes[0].plot(epochs, [r['train_loss'] for r in run['history']], label=name)
    axes[1].plot(epochs, [r['val_loss'] for r in run['history']], label=name)
  for axis, title in zip(axes, ('train loss (fixed crops)', 'validation loss')):
    axis.set_yscale('log')
    axis.set_xlabel('epoch')
    axis.set_title(title, fontsize=9)
    axis.grid(alpha=0.3)
  axes[0].set_ylabel('MSE of ab / 128')
  axes[0].legend(fontsize=8)
  fig.suptitle(f'{config.dataset} {config.image_size}x{config.image_size}, width x'
               f'{config.model.width_scale:g}, seed {config.seed}', fontsize=9)
  fig.tight_layout()
  figures.save(fig, path, dpi=80)


def _write_table(path: str, result: dict[str, Any]) -> None:
  reference, losses = result['reference'], result['reference_losses']
  epochs = result['epochs']
  header = ' | '.join(f'epochs to {reference}@{float(k) * epochs:g} ({v:.4f})'
                      for k, v in losses.items())
  lines = [
      f'| model | {header} | epochs to {result["loss_threshold"]:g} | final train loss | '
      f'final val loss | best val loss | test PSNR (dB) | grey PSNR (dB) | s/epoch |',
      '|---' * (len(losses) + 8) + '|',
  ]
  for name, row in result['models'].items():
    reached = ' | '.join(
        _fmt(row['epochs_to_reference_loss'][k], 'g') +
        (f' ({row["speedup_over_reference"][k]:.2f}x)'
         if row['speedup_over_reference'][k] and name != reference else '')
        for k in losses)
    lines.append(
        f'| {name} | {reached} | {_fmt(row["epochs_to_loss_threshold"], "g")} | '
        f'{_fmt(row["final_train_loss"])} | {_fmt(row["final_val_loss"])} | '
        f'{_fmt(row["best_val_loss"])} | {_fmt(row["test_psnr"], ".2f")} | '
        f'{_fmt(row["test_grey_psnr"], ".2f")} | {_fmt(row["seconds_per_epoch"], ".2f")} |')
  lines.append(f'\n"epochs to {reference}@E (L)": first epoch whose train loss is <= L, the best '
               f'train loss {reference} reached by epoch E; (Nx): N times fewer epochs than '
               f'{reference}.')
  common.write_text(path, '\n'.join(lines) + '\n')
