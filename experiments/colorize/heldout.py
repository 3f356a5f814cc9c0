"""Held-out colourisation protocol (experiments.colorize_heldout): k-fold by photo over the
offline natural photos, several seeds per model, both baselines.

For each fold, every model trains (from scratch, per seed) on the crops of the natural photos of
the *other* folds (``data.Pipeline('embedded:...')``, split by photo), and colourises the fold's
photos, which it never saw, through the user-facing path (``colorize_photo.colorize``: chroma
at the training scale in blended tiles, upsampled, recombined with the full-resolution L). Test
photos are evaluated at a short side of config.heldout_eval_side; a photo with two views
(stereo_motorcycle) is the mean of its views. Baselines per fold: grey (ab = 0) and the
lightness histogram of the fold's training photos (``colour_metrics.LightnessHistogram``).

Every run (model, fold, seed) trains through the one driver (``experiments.driver.run``):
checkpoints and fingerprint under WORKDIR/checkpoints/<MODEL>_fold<F>_seed<S>/, so a killed
protocol resumes where it stopped. Writes WORKDIR/heldout.json (everything, per model, fold, seed
and photo), heldout.md (tables), heldout.png (a held-out photo per fold: grey input, each model,
the histogram baseline, truth) and TensorBoard scalars under tb/.
"""

from __future__ import annotations

import os
from typing import Any

import jax
import ml_collections
import numpy as np
from absl import logging

from experiments import common, driver, figures
from experiments.colorize import train as colorize_train
from experiments.colorize import photo as colorize_photo
from siren_jax import data, images, models, optimizers, training
from siren_jax.colorize import colour, colour_metrics

METRICS = ('rgb_psnr', 'ab_psnr', 'colourfulness_ratio')


def parse_folds(spec: str) -> list[tuple[str, ...]]:
  """'a,b;c,d;...' -> [('a', 'b'), ('c', 'd'), ...]: every photo natural and in one fold."""
  folds = [tuple(n.strip() for n in part.split(',') if n.strip())
           for part in spec.split(';') if part.strip()]
  names = [n for fold in folds for n in fold]
  bad = [n for n in names if n not in data.NATURAL_PHOTOS]
  if len(folds) < 2 or bad or len(set(names)) != len(names):
    raise ValueError(f'config.heldout_folds={spec!r}: need >= 2 folds of distinct natural photos '
                     f'({", ".join(data.NATURAL_PHOTOS)}); synthetic images never go in a test '
                     f'fold' + (f' (not {", ".join(bad)})' if bad else ''))
  return folds


def parse_models(spec: str) -> list[tuple[str, str]]:
  """'FR,SRS+global,...' -> [(model, fusion)]."""
  models = []
  for item in common.split_names(spec):
    model, _, fusion = item.partition('+')
    if model not in colorize_train.MODELS or (fusion and model == 'FC'):
      raise ValueError(f'config.heldout_models: bad entry {item!r}; use MODEL[+FUSION] with MODEL '
                       f'in {", ".join(colorize_train.MODELS)} (no fusion for FC)')
    models.append((model, fusion))
  if not models:
    raise ValueError('config.heldout_models is empty')
  return models


def fold_train_photos(folds: list[tuple[str, ...]], fold: int, extra: str = '') -> tuple[str, ...]:
  """The photos fold ``fold``'s models train on: every other fold's, plus ``extra`` (synthetic
  images only: a natural photo is a test photo of some fold)."""
  extra_names = tuple(common.split_names(extra))
  bad = [n for n in extra_names if n not in data.SYNTHETIC_PHOTOS]
  if bad:
    raise ValueError(f'config.heldout_train_extra: {", ".join(bad)} not in '
                     f'{", ".join(data.SYNTHETIC_PHOTOS)}')
  return tuple(n for i, f in enumerate(folds) if i != fold for n in f) + extra_names


def model_config(config: ml_collections.ConfigDict, model: str, fusion: str
                 ) -> ml_collections.ConfigDict:
  """The config one model of the comparison trains with (FC: its own crop size and rate)."""
  run = ml_collections.ConfigDict(config.to_dict())
  run.model.name, run.model.fusion = model, fusion
  if model == 'FC':
    run.image_size = config.heldout_fc_image_size
    run.optimizer.learning_rate = config.heldout_fc_learning_rate
  colorize_train.check_config(run)
  return run


def _test_views(name: str, eval_side: int) -> list[dict[str, np.ndarray]]:
  """L and ab (scaled) of each view of a test photo at short side ``eval_side``."""
  views = []
  for view in data.photo_views(name):
    h, w = view.shape[:2]
    scale = eval_side / min(h, w)
    view = images.resize(view, (round(h * scale), round(w * scale))) if scale < 1 else view
    lightness, ab = colour.rgb_to_scaled_lab(np.clip(view, 0, 1), rgb_range='unit')
    views.append({'L': lightness.astype(np.float32), 'ab': ab.astype(np.float32)})
  return views


def _histogram(train_photos: tuple[str, ...], photo_side: int, bins: int
               ) -> colour_metrics.LightnessHistogram:
  """The lightness-histogram baseline fitted on the training photos at the training scale."""
  lightness, ab = [], []
  for name in train_photos:
    for view in data.photo_views(name):
      h, w = view.shape[:2]
      scale = min(1.0, photo_side / min(h, w))
      small = images.resize(view, (round(h * scale), round(w * scale)))
      l, c = colour.rgb_to_scaled_lab(np.clip(small, 0, 1), rgb_range='unit')
      lightness.append(l.reshape(-1, 1))
      ab.append(c.reshape(-1, 2))
  return colour_metrics.LightnessHistogram.fit(np.concatenate(lightness), np.concatenate(ab), bins)


def _photo_metrics(predict_ab_fn, views) -> dict[str, float]:
  """Metrics of one photo: the mean over its views of colour_metrics.evaluate."""
  per_view = [colour_metrics.evaluate(predict_ab_fn(v['L']), v['L'], v['ab']) for v in views]
  return {k: float(np.mean([m[k] for m in per_view])) for k in per_view[0]}


class _Model:
  """One model of the comparison: its jitted init, loss and predictors, built once and reused
  for every fold and seed (so each compiles once)."""

  def __init__(self, config: ml_collections.ConfigDict):
    self.config = config
    model = colorize_train.build_model(config)
    sample = colorize_train.model_inputs(
        config, np.zeros((1, config.image_size, config.image_size, 1), np.float32))
    # Jitted init (op-by-op init is slow on CPU); the template's apply_fn and tx objects are
    # reused by every fresh state and the loss by every run, so the driver's train step (one per
    # loss and settings) compiles once.
    self.init = jax.jit(lambda key: model.init(key, sample)['params'])
    self.state = training.TrainState.create(
        apply_fn=models.apply_fn(model), params=self.init(jax.random.PRNGKey(0)),
        tx=optimizers.make_optimizer(**config.optimizer))
    self.loss_fn = colorize_train.make_loss_fn(config)
    self.predict = colorize_train.make_predict_rgb(config, self.state.apply_fn)
    self.predict_ab = colorize_photo.make_predict_ab(config, self.state.apply_fn)

  def fresh_state(self, seed: int) -> training.TrainState:
    params = self.init(jax.random.PRNGKey(seed))
    return self.state.replace(step=0, params=params, opt_state=self.state.tx.init(params))


def _train(model: _Model, train_photos: tuple[str, ...], seed: int, *, workdir: str, tag: str,
           writer: common.ScalarWriter) -> dict[str, Any]:
  """Trains one model on the training photos from seed through the driver (checkpoints and
  fingerprint under checkpoints/<tag>, resumed when there); returns the state, its history and
  its training seconds (evaluations excluded, across resumes)."""
  # The run's own config: what its pipeline reads and its fingerprint records.
  config = ml_collections.ConfigDict(model.config.to_dict())
  config.update(dataset='embedded:' + ','.join(train_photos), seed=seed, val_fraction=0.0,
                test_fraction=0.0)
  pipeline = colorize_train.make_pipeline(config)
  steps_per_epoch = pipeline.steps_per_epoch
  key = colorize_train.target_key(config)
  train_set = pipeline.eval_set('train')

  def eval_fn(state):
    evaluated = colorize_train.evaluate_split(config, model.predict, state.params, train_set)
    return {'epoch': int(state.step) / steps_per_epoch, 'train_loss': evaluated['loss']}

  eval_every = config.eval_every_epochs * steps_per_epoch
  result = driver.run(
      model.fresh_state(seed), model.loss_fn, workdir=workdir, tag=tag, writer=writer,
      schedule=driver.Schedule(
          config.epochs * steps_per_epoch, log_every=eval_every, eval_every=eval_every,
          checkpoint_every=config.checkpoint_every_epochs * steps_per_epoch),
      batch_fn=lambda step: {k: v for k, v in pipeline.train_batch(step).items()
                             if k in ('grey', key)},
      eval_fn=eval_fn, param_sharding=config.param_sharding,
      process_local_batches=config.shard_data_by_process,
      progress=lambda step: f'{tag} epoch {step / steps_per_epoch:g}/{config.epochs}',
      fingerprint=colorize_train.run_fingerprint(config, pipeline), resume=config.resume,
      nan_policy=config.nan_policy)
  return {'state': result.state, 'history': result.history,
          'seconds': result.train_seconds[-1], 'steps_per_epoch': steps_per_epoch,
          'train_examples': len(pipeline.source)}


def run(config: ml_collections.ConfigDict, workdir: str) -> dict[str, Any]:
  """The whole protocol; returns what heldout.json holds."""
  folds = parse_folds(config.heldout_folds)
  entries = parse_models(config.heldout_models)
  if config.heldout_seeds < 1 or config.heldout_eval_side < 8:
    raise ValueError('config.heldout_seeds must be >= 1 and heldout_eval_side >= 8')
  workdir = common.require_workdir(workdir, config)
  natural = [n for fold in folds for n in fold]
  test_views = {n: _test_views(n, config.heldout_eval_side) for n in natural}
  results: dict[str, Any] = {'baselines': {}, 'models': {}}
  figure_rows = {f: [] for f in range(len(folds))}
  histograms = {}
  for f, fold in enumerate(folds):
    train_photos = fold_train_photos(folds, f, config.heldout_train_extra)
    histograms[f] = _histogram(train_photos, data.photo_short_side(
        config.dataset, config.image_size, config.photo_side), config.heldout_histogram_bins)
    for name, fn in (('grey', colour_metrics.grey_ab), ('histogram', histograms[f].predict)):
      results['baselines'].setdefault(name, {})[str(f)] = {
          n: _photo_metrics(fn, test_views[n]) for n in fold}
  writer = common.ScalarWriter(os.path.join(workdir, 'tb'))
  try:
    for model_name, fusion in entries:
      label = model_name + (f'+{fusion}' if fusion else '')
      results['models'][label] = _train_model(
          config, _Model(model_config(config, model_name, fusion)), label, folds, test_views,
          figure_rows, workdir, writer)
  finally:
    writer.close()
  summary = summarize(results, config)
  reference, thresholds = reference_thresholds(results)
  output = {'folds': [list(f) for f in folds], 'summary': summary,
            'reference': {'model': reference, 'thresholds': thresholds}, **results,
            'device': jax.devices()[0].device_kind, 'config': config.to_dict()}
  if common.is_main_process():
    common.write_json(os.path.join(workdir, 'heldout.json'), output)
    common.write_text(os.path.join(workdir, 'heldout.md'), table(output))
    _figure(os.path.join(workdir, 'heldout.png'), folds, test_views, figure_rows, histograms)
  return output


def _train_model(config: ml_collections.ConfigDict, model: _Model, label: str,
                 folds: list[tuple[str, ...]], test_views: dict[str, list[dict[str, np.ndarray]]],
                 figure_rows: dict[int, list], workdir: str, writer: common.ScalarWriter
                 ) -> dict[str, Any]:
  """Every fold and seed of one model: {fold: {seed: run}}; appends the first seed's
  colourisation of each fold's first photo to ``figure_rows``."""
  per_fold = {}
  for f, fold in enumerate(folds):
    train_photos = fold_train_photos(folds, f, config.heldout_train_extra)
    runs = {}
    for seed in range(config.heldout_seeds):
      trained = _train(model, train_photos, seed, workdir=workdir,
                       tag=f'{label}_fold{f}_seed{seed}', writer=writer)
      state = trained['state']

      def predict_ab(lightness, state=state):
        rgb = colorize_photo.colorize(model.config, state, lightness,
                                      predict_ab=model.predict_ab)
        return colour.rgb_to_scaled_lab(rgb)[1]

      photos = {n: _photo_metrics(predict_ab, test_views[n]) for n in fold}
      runs[str(seed)] = {
          'photos': photos, 'history': trained['history'],
          'final_train_loss': trained['history'][-1]['train_loss'],
          'epochs_to_threshold': colorize_train.epochs_to_reach(
              trained['history'], _threshold(config, model.config.model.name)),
          'seconds': trained['seconds'], 'steps_per_epoch': trained['steps_per_epoch'],
          'train_examples': trained['train_examples']}
      logging.info('[%s] fold %d seed %d: %s; %.0f s', label, f, seed,
                   ', '.join(f'{n} {m["rgb_psnr"]:.2f} dB' for n, m in photos.items()),
                   trained['seconds'])
      if seed == 0:
        lightness = test_views[fold[0]][0]['L']
        figure_rows[f].append((label, predict_ab(lightness)))
        runs[str(seed)]['grid_shift_ab'] = _grid_shift(model, state, lightness)
    per_fold[str(f)] = runs
  return per_fold


def _grid_shift(model: _Model, state, lightness: np.ndarray) -> dict[str, float]:
  """How much the tiled colourisation of a photo changes when the tile grid moves a few pixels
  (conv: 8, keeping the stride-8 phase; FC: (3, 5)), in ab units (x 128): a trained model's
  dependence on where its tiles fall (0 for a model whose context fits in the tile margin)."""
  shift = (3, 5) if model.config.model.name == 'FC' else (8, 8)
  ab = [colour.rgb_to_scaled_lab(colorize_photo.colorize(
      model.config, state, lightness, offset=o, predict_ab=model.predict_ab))[1] * 128
        for o in ((0, 0), shift)]
  difference = ab[0] - ab[1]
  return {'rms': float(np.sqrt(np.mean(difference ** 2))), 'max': float(np.abs(difference).max()),
          'chroma_rms': float(np.sqrt(np.mean(ab[0] ** 2)))}


def _threshold(config: ml_collections.ConfigDict, model: str) -> float:
  return config.heldout_fc_loss_threshold if model == 'FC' else config.heldout_loss_threshold


def _mean_over_photos(photos: dict[str, dict[str, float]]) -> dict[str, float]:
  return {k: float(np.mean([m[k] for m in photos.values()])) for k in METRICS}


def reference_thresholds(results: dict[str, Any]) -> tuple[str | None, dict[str, float]]:
  """Per fold, the train loss every conv model is timed to: 1.1 x the median final train loss
  of the reference (the first conv model listed, FR by default) in that fold. One loss per fold
  because the folds' training photos differ in difficulty; 'N x faster' then reads directly as
  'reaches the reference's final loss in 1/N of the epochs' (the report's claim)."""
  conv = [m for m in results['models'] if not m.startswith('FC')]
  if not conv:
    return None, {}
  reference = conv[0]
  return reference, {f: 1.1 * float(np.median([r['final_train_loss'] for r in runs.values()]))
                     for f, runs in results['models'][reference].items()}


def summarize(results: dict[str, Any], config: ml_collections.ConfigDict) -> dict[str, Any]:
  """Mean and sample std over folds x seeds of each fold's mean over its photos (baselines:
  over folds), per model and metric; epochs to the train-loss threshold over the runs that
  reached it (with their count); conv models also: epochs to the reference's loss
  (``reference_thresholds``) and the speed-up over the reference."""
  summary: dict[str, Any] = {}
  reference, thresholds = reference_thresholds(results)
  reference_epochs = {}
  if reference:
    for f, runs in results['models'][reference].items():
      reached = [colorize_train.epochs_to_reach(r['history'], thresholds[f]) for r in runs.values()]
      reference_epochs[f] = float(np.median([e for e in reached if e is not None]))
  for name, per_fold in results['baselines'].items():
    fold_means = [_mean_over_photos(p) for p in per_fold.values()]
    summary[name] = {k: common.mean_std([m[k] for m in fold_means]) for k in METRICS}
  for label, per_fold in results['models'].items():
    runs = [r for fold in per_fold.values() for r in fold.values()]
    fold_means = [_mean_over_photos(r['photos']) for r in runs]
    entry = {k: common.mean_std([m[k] for m in fold_means]) for k in METRICS}
    reached = [r['epochs_to_threshold'] for r in runs if r['epochs_to_threshold'] is not None]
    entry['epochs_to_threshold'] = common.mean_std(reached) if reached else None
    entry['reached'] = f'{len(reached)}/{len(runs)}'
    entry['final_train_loss'] = common.mean_std([r['final_train_loss'] for r in runs])
    entry['seconds_per_run'] = common.mean_std([r['seconds'] for r in runs])
    entry['threshold'] = _threshold(config, label.partition('+')[0])
    shifts = [r['grid_shift_ab']['rms'] for fold in per_fold.values() for r in fold.values()
              if 'grid_shift_ab' in r]
    entry['grid_shift_rms_ab'] = common.mean_std(shifts) if shifts else None
    if reference and not label.startswith('FC'):
      epochs, speedups = [], []
      for f, fold in per_fold.items():
        for r in fold.values():
          e = colorize_train.epochs_to_reach(r['history'], thresholds[f])
          if e is not None:
            epochs.append(e)
            if e > 0 and reference_epochs[f] > 0:  # Epoch 0 (before training): no ratio.
              speedups.append(reference_epochs[f] / e)
      entry['epochs_to_reference_loss'] = common.mean_std(epochs) if epochs else None
      entry['speedup_over_reference'] = common.mean_std(speedups) if speedups else None
      entry['reached_reference'] = f'{len(epochs)}/{len(runs)}'
    summary[label] = entry
  return summary


_pm = common.format_mean_std  # The tables' 'mean ± std' cells.


def table(output: dict[str, Any]) -> str:
  """Markdown: models x metrics (mean ± std over folds x seeds), then RGB PSNR per fold."""
  summary, folds = output['summary'], output['folds']
  reference = output['reference']['model'] or '-'
  lines = ['| model | held-out RGB PSNR (dB) | ab PSNR (dB) | colourfulness / truth | '
           f'epochs to {reference} loss (reached) | speed-up over {reference} | '
           'final train loss | grid-shift RMS (ab) | s per run |',
           '|---|---|---|---|---|---|---|---|---|']
  for name in ('grey', 'histogram'):
    s = summary[name]
    lines.append(f'| {name} baseline | {_pm(s["rgb_psnr"])} | {_pm(s["ab_psnr"])} | '
                 f'{_pm(s["colourfulness_ratio"])} | - | - | - | - | - |')
  for label in output['models']:
    s = summary[label]
    epochs = (f'{_pm(s["epochs_to_reference_loss"], ".0f")} ({s["reached_reference"]})'
              if 'reached_reference' in s else '-')
    lines.append(
        f'| {label} | {_pm(s["rgb_psnr"])} | {_pm(s["ab_psnr"])} | '
        f'{_pm(s["colourfulness_ratio"])} | {epochs} | '
        f'{_pm(s.get("speedup_over_reference"))} | {_pm(s["final_train_loss"], ".4f")} | '
        f'{_pm(s["grid_shift_rms_ab"])} | {_pm(s["seconds_per_run"], ".0f")} |')
  lines += ['', f'Epochs to {reference} loss: first evaluated epoch whose train loss (fixed '
            f'training crops) is <= 1.1 x the median final train loss of {reference} in that '
            f'fold; FC trains on RGB, a different loss, so it has no entry (its final loss is RGB '
            f'MSE). Spread: sample std over folds x seeds. Grid-shift RMS: change of the '
            f'colourised first test photo of each fold when the tile grid moves a few pixels.']
  fold_names = ' | '.join(f'fold {i}: {", ".join(f)}' for i, f in enumerate(folds))
  lines += ['', 'Held-out RGB PSNR (dB) per fold (mean ± std over seeds; baselines: one value):',
            '', f'| model | {fold_names} |',
            '|---' * (len(folds) + 1) + '|']
  for name in ('grey', 'histogram'):
    cells = [f'{_mean_over_photos(output["baselines"][name][str(i)])["rgb_psnr"]:.2f}'
             for i in range(len(folds))]
    lines.append(f'| {name} baseline | ' + ' | '.join(cells) + ' |')
  for label, per_fold in output['models'].items():
    cells = [_pm(common.mean_std([_mean_over_photos(r['photos'])['rgb_psnr']
                         for r in per_fold[str(i)].values()])) for i in range(len(folds))]
    lines.append(f'| {label} | ' + ' | '.join(cells) + ' |')
  return '\n'.join(lines) + '\n'


def _figure(path, folds, test_views, figure_rows, histograms) -> None:
  rows = []
  for f, fold in enumerate(folds):
    view = test_views[fold[0]][0]
    to_unit = lambda ab: colour.scaled_lab_to_rgb(view['L'], ab, rgb_range='unit')  # noqa: E731
    row = [(f'{fold[0]} (grey input)', figures.to_unit(view['L']))]
    row += [(label, to_unit(ab)) for label, ab in figure_rows[f]]
    row += [('histogram baseline', to_unit(histograms[f].predict(view['L']))),
            ('ground truth', to_unit(view['ab']))]
    rows.append(row)
  figures.image_grid(path, rows, cell_inches=1.6, dpi=72)
