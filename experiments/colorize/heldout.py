"""Held-out colourisation protocol (experiments.colorize_heldout): k-fold by photo over the
offline natural photos -- or, in corpus mode, the photo corpus's own split -- several seeds per
model, both baselines.

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

import dataclasses
import math
import os
from collections.abc import Callable
from typing import Any

import jax
import ml_collections
import numpy as np
from absl import logging
from PIL import Image

from experiments import common, driver, figures
from experiments.colorize import train as colorize_train
from experiments.colorize import photo as colorize_photo
from siren_jax import data, images, models, optimizers, training
from siren_jax.colorize import colour, colour_metrics, levin
from siren_jax.colorize import hints as hints_lib
from siren_jax.data import crops

METRICS = ('rgb_psnr', 'ab_psnr', 'colourfulness_ratio')
# A run whose final train loss is at least this fraction of its loss before training stalled.
STALLED_FRACTION = 0.95


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


def is_corpus(config: ml_collections.ConfigDict) -> bool:
  """Whether the protocol runs in corpus mode (config.dataset 'corpus[/CONFIG]')."""
  return config.dataset.partition(':')[0].partition('/')[0] == 'corpus'


def corpus_photo_side(config: ml_collections.ConfigDict) -> int:
  """Corpus mode: the short side at which chroma is predicted (config.photo_side, or image_size
  over the geometric mean of heldout_crop_scale: the scale the training crops show on average)."""
  low, high = config.heldout_crop_scale
  return config.photo_side or round(config.image_size / math.sqrt(low * high))


def model_config(config: ml_collections.ConfigDict, model: str, fusion: str
                 ) -> ml_collections.ConfigDict:
  """The config one model of the comparison trains with (FC: its own crop size and rate; in
  corpus mode a crop-scale range shrunk with its crop size, so it sees the photos at the conv
  models' scale)."""
  run = ml_collections.ConfigDict(config.to_dict())
  run.model.name, run.model.fusion = model, fusion
  if is_corpus(config):
    run.photo_side = corpus_photo_side(config)
  if model == 'FC':
    run.image_size = config.heldout_fc_image_size
    run.optimizer.learning_rate = config.heldout_fc_learning_rate
    if is_corpus(config):
      ratio = run.image_size / config.image_size
      run.heldout_crop_scale = tuple(s * ratio for s in config.heldout_crop_scale)
  colorize_train.check_config(run)
  return run


class _Offline:
  """The offline natural photos split into folds (config.heldout_folds)."""

  def __init__(self, config: ml_collections.ConfigDict):
    self.folds = parse_folds(config.heldout_folds)
    self.extra = config.heldout_train_extra

  def train_photos(self, fold: int) -> tuple[str, ...]:
    return fold_train_photos(self.folds, fold, self.extra)

  def views(self, name: str) -> list[np.ndarray]:
    return data.photo_views(name)

  def small_views(self, name: str, short_side: int) -> list[np.ndarray]:
    """The views at most ``short_side`` pixels on their short side, (H, W, 3) in [0, 1]."""
    out = []
    for view in self.views(name):
      h, w = view.shape[:2]
      scale = min(1.0, short_side / min(h, w))
      out.append(images.resize(view, (round(h * scale), round(w * scale))))
    return out

  def train_data(self, config: ml_collections.ConfigDict, train_photos: tuple[str, ...],
                 seed: int) -> _TrainData:
    """Tiles of the photos at config.photo_side (``data.Pipeline('embedded:...')``)."""
    config = ml_collections.ConfigDict(config.to_dict())
    config.update(dataset='embedded:' + ','.join(train_photos), seed=seed, val_fraction=0.0,
                  test_fraction=0.0)
    pipeline = colorize_train.make_pipeline(config)
    key = colorize_train.target_key(config)
    return _TrainData(
        batch_fn=lambda step: {k: v for k, v in pipeline.train_batch(step).items()
                               if k in ('grey', key)},
        steps_per_epoch=pipeline.steps_per_epoch, train_set=pipeline.eval_set('train'),
        val_set=None, fingerprint=colorize_train.run_fingerprint(config, pipeline),
        train_examples=len(pipeline.source))


class _ShrunkPhotos:
  """A ``crops.PhotoSource`` of given photos, each at most ``short_side`` on its short side
  (the crops never need more: a crop of the smallest scale is image_size pixels there)."""

  def __init__(self, arrays: list[np.ndarray], groups: list[str]):
    self.arrays, self.groups = arrays, groups

  def __len__(self) -> int:
    return len(self.arrays)

  def __getitem__(self, index: int) -> np.ndarray:
    return self.arrays[int(index)]


class _Corpus:
  """The corpus's photos by name (its photo ids), its test photos as the one fold, and its
  train photos in the manifest's order."""

  def __init__(self, config: ml_collections.ConfigDict):
    from siren_jax.data import corpus  # Lazy: imports tensorflow_datasets.
    name, split = corpus.parse_dataset(config.dataset)
    if split:
      raise ValueError(f'config.dataset={config.dataset!r}: the protocol reads the corpus\'s '
                       f'train, validation and test splits itself; give corpus[/CONFIG]')
    self.splits = {s: crops.open_photos(f'corpus/{name}:{s}', data_dir=config.data_dir or None)
                   for s in corpus.SPLITS}
    order = {s: list(dict.fromkeys(p.groups)) for s, p in self.splits.items()}
    if name == 'corpus':  # The manifest's order (the splits' record order is the builder's).
      listed = [e.photo_id for e in corpus.load_manifest().kept]
      order = {s: [n for n in dict.fromkeys(listed) if n in names] for s, names in order.items()}
    self.order = order
    count = config.heldout_train_photos
    if not 0 <= count <= len(order['train']):
      raise ValueError(f'config.heldout_train_photos={count} must be in [0, '
                       f'{len(order["train"])}] (0: every train photo)')
    if config.heldout_epoch_crops % config.batch_size or config.heldout_epoch_crops < 1:
      raise ValueError(f'config.heldout_epoch_crops={config.heldout_epoch_crops} must be a '
                       f'positive multiple of batch_size={config.batch_size}')
    self.train = tuple(order['train'][:count or None])
    self.folds = [tuple(order['test'])]
    self._shrunk: dict[tuple[str, int], np.ndarray] = {}
    self._fixed: dict[tuple, dict[str, np.ndarray]] = {}

  def train_photos(self, fold: int) -> tuple[str, ...]:
    del fold  # One split.
    return self.train

  def _split_of(self, name: str) -> str:
    return next(s for s, names in self.order.items() if name in names)

  def _uint8_views(self, name: str) -> list[np.ndarray]:
    return self.splits[self._split_of(name)].photo_views(name)

  def views(self, name: str) -> list[np.ndarray]:
    return [v.astype(np.float32) / 255.0 for v in self._uint8_views(name)]

  def small_views(self, name: str, short_side: int) -> list[np.ndarray]:
    """The views at most ``short_side`` pixels on their short side, (H, W, 3) in [0, 1]."""
    return [v.astype(np.float32) / 255.0 for v in self.shrunk((name,), short_side).arrays]

  def shrunk(self, names: tuple[str, ...], short_side: int) -> _ShrunkPhotos:
    """Every view of ``names`` at most ``short_side`` pixels on its short side, uint8."""
    arrays, groups = [], []
    for name in names:
      if (name, short_side) not in self._shrunk:
        small = []
        for view in self._uint8_views(name):
          h, w = view.shape[:2]
          scale = short_side / min(h, w)
          if scale < 1:
            view = np.asarray(Image.fromarray(view).resize(
                (max(short_side, round(w * scale)), max(short_side, round(h * scale))),
                Image.Resampling.BICUBIC))
          small.append(view)
        self._shrunk[name, short_side] = small
      arrays += self._shrunk[name, short_side]
      groups += [name] * len(self._shrunk[name, short_side])
    return _ShrunkPhotos(arrays, groups)

  def _fixed_crops(self, config: ml_collections.ConfigDict, names: tuple[str, ...]
                   ) -> dict[str, np.ndarray]:
    """config.max_eval_examples crops of ``names`` drawn once (seed 0, step 0): what the train
    and validation losses are measured on."""
    key = (names, config.image_size, tuple(config.heldout_crop_scale), config.max_eval_examples)
    if key not in self._fixed:
      stream = crops.Crops(self.shrunk(names, _source_side(config)), size=config.image_size,
                           batch_size=config.max_eval_examples, seed=0,
                           scale=tuple(config.heldout_crop_scale), views=('rgb', 'lab'),
                           process_index=0, process_count=1)
      self._fixed[key] = _model_views(stream.batch(0))
    return self._fixed[key]

  def train_data(self, config: ml_collections.ConfigDict, train_photos: tuple[str, ...],
                 seed: int) -> _TrainData:
    """Random crops of the train photos (``crops.Crops``, pure in (seed, step))."""
    shard = config.shard_data_by_process
    photos = self.shrunk(train_photos, _source_side(config))
    stream = crops.Crops(photos, size=config.image_size, batch_size=config.batch_size,
                         seed=seed, scale=tuple(config.heldout_crop_scale), views=('rgb', 'lab'),
                         process_index=jax.process_index() if shard else 0,
                         process_count=jax.process_count() if shard else 1,
                         cache_photos=len(photos))
    key = colorize_train.target_key(config)
    fingerprint = {
        **colorize_train.architecture(config), 'optimizer': config.optimizer.to_dict(),
        **{k: config[k] for k in ('batch_size', 'dataset', 'heldout_epoch_crops')},
        'seed': seed, 'crop_scale': list(config.heldout_crop_scale),
        'train_photos': list(train_photos), 'data_sha256': driver.content_hash(photos.arrays)}
    return _TrainData(
        batch_fn=lambda step: {k: v for k, v in _model_views(stream.batch(step)).items()
                               if k in ('grey', key)},
        steps_per_epoch=config.heldout_epoch_crops // config.batch_size,
        train_set=self._fixed_crops(config, train_photos),
        val_set=self._fixed_crops(config, tuple(self.order['validation'])),
        fingerprint=fingerprint, train_examples=len(photos))


def _source_side(config: ml_collections.ConfigDict) -> int:
  """The short side the photos are kept at for cropping: the smallest crop is image_size there."""
  return math.ceil(config.image_size / config.heldout_crop_scale[0])


def _model_views(batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
  """A crops batch ('rgb', 'lab') -> the colourisers' {'grey', 'ab', 'rgb'}."""
  return {'grey': batch['lab'][..., :1], 'ab': batch['lab'][..., 1:], 'rgb': batch['rgb']}


@dataclasses.dataclass
class _TrainData:
  """What one run trains on: ``batch_fn(step)`` (the model's inputs and target), an epoch's
  steps, fixed crops to measure the train (and validation) loss on, the run's fingerprint."""

  batch_fn: Callable[[int], dict[str, np.ndarray]]
  steps_per_epoch: int
  train_set: dict[str, np.ndarray]
  val_set: dict[str, np.ndarray] | None
  fingerprint: dict[str, Any]
  train_examples: int


def _photo_set(config: ml_collections.ConfigDict) -> _Offline | _Corpus:
  return _Corpus(config) if is_corpus(config) else _Offline(config)


def _test_views(views: list[np.ndarray], eval_side: int) -> list[dict[str, np.ndarray]]:
  """L and ab (scaled) of each view (H, W, 3) in [0, 1] of a test photo at short side
  ``eval_side``."""
  out = []
  for view in views:
    h, w = view.shape[:2]
    scale = eval_side / min(h, w)
    view = images.resize(view, (round(h * scale), round(w * scale))) if scale < 1 else view
    lightness, ab = colour.rgb_to_scaled_lab(np.clip(view, 0, 1), rgb_range='unit')
    out.append({'L': lightness.astype(np.float32), 'ab': ab.astype(np.float32)})
  return out


def _histogram(photos: _Offline | _Corpus, train_photos: tuple[str, ...], photo_side: int,
               bins: int) -> colour_metrics.LightnessHistogram:
  """The lightness-histogram baseline fitted on the training photos at the training scale."""
  lightness, ab = [], []
  for name in train_photos:
    for small in photos.small_views(name, photo_side):
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


def _train(model: _Model, train_data: _TrainData, seed: int, *, workdir: str, tag: str,
           writer: common.ScalarWriter) -> dict[str, Any]:
  """Trains one model on ``train_data`` from seed through the driver (checkpoints and
  fingerprint under checkpoints/<tag>, resumed when there); returns the state, its history and
  its training seconds (evaluations excluded, across resumes)."""
  config = model.config
  steps_per_epoch = train_data.steps_per_epoch

  def eval_fn(state):
    scalars = {'epoch': int(state.step) / steps_per_epoch, 'train_loss': colorize_train.
               evaluate_split(config, model.predict, state.params, train_data.train_set)['loss']}
    if train_data.val_set is not None:
      scalars['val_loss'] = colorize_train.evaluate_split(
          config, model.predict, state.params, train_data.val_set)['loss']
    return scalars

  batch_fn, fingerprint = train_data.batch_fn, train_data.fingerprint
  if config.model.hint_inputs:  # Hints read from each crop's truth, a pure function of the step.
    fingerprint = {**fingerprint, 'train_hints': config.heldout_train_hints}

    def batch_fn(step, crops_fn=train_data.batch_fn):
      batch = crops_fn(step)
      return {**batch, 'hints': hints_lib.sample_channels(
          [seed, int(step)], batch['ab'], config.heldout_train_hints)}

  eval_every = config.eval_every_epochs * steps_per_epoch
  result = driver.run(
      model.fresh_state(seed), model.loss_fn, workdir=workdir, tag=tag, writer=writer,
      schedule=driver.Schedule(
          config.epochs * steps_per_epoch, log_every=eval_every, eval_every=eval_every,
          checkpoint_every=config.checkpoint_every_epochs * steps_per_epoch),
      batch_fn=batch_fn,
      eval_fn=eval_fn, param_sharding=config.param_sharding,
      process_local_batches=config.shard_data_by_process,
      progress=lambda step: f'{tag} epoch {step / steps_per_epoch:g}/{config.epochs}',
      fingerprint=fingerprint, resume=config.resume, nan_policy=config.nan_policy)
  return {'state': result.state, 'history': result.history,
          'seconds': result.train_seconds[-1], 'steps_per_epoch': steps_per_epoch,
          'train_examples': train_data.train_examples}


def run(config: ml_collections.ConfigDict, workdir: str) -> dict[str, Any]:
  """The whole protocol; returns what heldout.json holds."""
  photos = _photo_set(config)
  folds = photos.folds
  entries = parse_models(config.heldout_models)
  if config.heldout_seeds < 1 or config.heldout_eval_side < 8:
    raise ValueError('config.heldout_seeds must be >= 1 and heldout_eval_side >= 8')
  curve = _parse_curve(config, photos)
  if config.model.hint_inputs:
    hint_counts(config)  # Bad counts fail now, not after the first training.
  workdir = common.require_workdir(workdir, config)
  natural = [n for fold in folds for n in fold]
  test_views = {n: _test_views(photos.views(n), config.heldout_eval_side) for n in natural}
  photo_side = (corpus_photo_side(config) if is_corpus(config) else data.photo_short_side(
      config.dataset, config.image_size, config.photo_side))
  results: dict[str, Any] = {'baselines': {}, 'models': {}}
  # The figure: the first test photo of each fold; in corpus mode every test photo.
  shown = list(folds[0]) if is_corpus(config) else [fold[0] for fold in folds]
  figure_rows: dict[str, list] = {n: [] for n in shown}
  histograms = {}
  for f, fold in enumerate(folds):
    histograms[f] = _histogram(photos, photos.train_photos(f), photo_side,
                               config.heldout_histogram_bins)
    # The mean colour is the histogram with one bin: the training photos' mean ab everywhere.
    mean_colour = _histogram(photos, photos.train_photos(f), photo_side, 1)
    for name, fn in (('grey', colour_metrics.grey_ab), ('mean_colour', mean_colour.predict),
                     ('histogram', histograms[f].predict)):
      results['baselines'].setdefault(name, {})[str(f)] = {
          n: _photo_metrics(fn, test_views[n]) for n in fold}
  writer = common.ScalarWriter(os.path.join(workdir, 'tb'))
  try:
    built = {}
    for model_name, fusion in entries:
      label = model_name + (f'+{fusion}' if fusion else '')
      built[label] = _Model(model_config(config, model_name, fusion))
      results['models'][label] = _train_model(
          config, built[label], label, photos, test_views, figure_rows, workdir, writer)
    summary = summarize(results, config)
    if curve:
      results['curve'] = _learning_curve(config, photos, curve, summary, built, test_views,
                                         photo_side, workdir, writer)
  finally:
    writer.close()
  reference, thresholds = reference_thresholds(results)
  output = {'folds': [list(f) for f in folds], 'summary': summary,
            'reference': {'model': reference, 'thresholds': thresholds}, **results,
            'train_photos': {str(f): list(photos.train_photos(f)) for f in range(len(folds))},
            'corpus': is_corpus(config), 'photo_side': photo_side,
            'device': jax.devices()[0].device_kind, 'config': config.to_dict()}
  if common.is_main_process():
    common.write_json(os.path.join(workdir, 'heldout.json'), output)
    common.write_text(os.path.join(workdir, 'heldout.md'), table(output))
    _figure(os.path.join(workdir, 'heldout.png'), folds, test_views, figure_rows, histograms)
    if curve:
      _curve_figure(os.path.join(workdir, 'heldout_curve.png'), output)
  return output


def _parse_curve(config: ml_collections.ConfigDict, photos: _Offline | _Corpus) -> list[int]:
  """config.heldout_curve 'N1,N2,...' -> sorted training-set sizes (corpus mode only)."""
  if not config.heldout_curve:
    return []
  try:
    counts = sorted({int(n) for n in common.split_names(str(config.heldout_curve))})
  except ValueError:
    counts = []
  total = len(photos.train_photos(0))
  if not isinstance(photos, _Corpus) or not counts or not all(0 < n < total for n in counts):
    raise ValueError(f'config.heldout_curve={config.heldout_curve!r}: give training-set sizes '
                     f'N1,N2,... between 1 and {total - 1} (corpus mode only; the full '
                     f'training set is the main table)')
  if config.heldout_curve_model and config.heldout_curve_model not in [
      m + (f'+{f}' if f else '') for m, f in parse_models(config.heldout_models)]:
    raise ValueError(f'config.heldout_curve_model={config.heldout_curve_model!r} is not in '
                     f'config.heldout_models={config.heldout_models!r}')
  return counts


def _learning_curve(config, photos: _Corpus, counts: list[int], summary: dict[str, Any],
                    built: dict[str, _Model], test_views, photo_side: int, workdir: str,
                    writer: common.ScalarWriter) -> dict[str, Any]:
  """The curve's model (config.heldout_curve_model, or the best by held-out RGB PSNR) trained
  on the first N train photos for each N of ``counts``, every seed; the histogram baseline
  fitted on the same photos. {'model', 'points': {N: {'histogram': photos, 'runs': {seed:
  run}}}} (the full training set is the main table)."""
  label = config.heldout_curve_model or max(
      built, key=lambda m: summary[m]['rgb_psnr']['mean'])
  model = built[label]
  test = photos.folds[0]
  points = {}
  for count in counts:
    train_photos = photos.train[:count]
    histogram = _histogram(photos, train_photos, photo_side, config.heldout_histogram_bins)
    runs = {}
    for seed in range(config.heldout_seeds):
      runs[str(seed)] = _evaluate_run(
          model, _train(model, photos.train_data(model.config, train_photos, seed), seed,
                        workdir=workdir, tag=f'{label}_n{count}_seed{seed}', writer=writer),
          seed, test, test_views, config)
      logging.info('[%s] %d train photos, seed %d: %.2f dB', label, count, seed,
                   _mean_over_photos(runs[str(seed)]['photos'])['rgb_psnr'])
    points[str(count)] = {
        'train_photos': list(train_photos), 'runs': runs,
        'histogram': {n: _photo_metrics(histogram.predict, test_views[n]) for n in test}}
  return {'model': label, 'points': points}


def _evaluate_run(model: _Model, trained: dict[str, Any], seed: int, test: tuple[str, ...],
                  test_views: dict[str, list[dict[str, np.ndarray]]],
                  config: ml_collections.ConfigDict) -> dict[str, Any]:
  """One trained run's record: metrics on each test photo, its history and timing."""
  history = trained['history']
  threshold = _threshold(config, model.config.model.name)
  reached = colorize_train.epochs_to_reach(history, threshold)
  record = {
      'photos': {n: _photo_metrics(_predictor(model, trained['state']), test_views[n])
                 for n in test},
      # A run whose train loss ends where it started learnt nothing: e.g. every relu died at the
      # start and only the output bias trained, to one colour everywhere.
      'stalled': history[-1]['train_loss'] >= STALLED_FRACTION * history[0]['train_loss'],
      'history': history, 'final_train_loss': history[-1]['train_loss'],
      'epochs_to_threshold': reached,
      'seconds': trained['seconds'], 'steps_per_epoch': trained['steps_per_epoch'],
      'train_examples': trained['train_examples']}
  if 'val_loss' in history[-1]:
    record['final_val_loss'] = history[-1]['val_loss']
    record['val_loss_at_threshold'] = (None if reached is None else next(
        r['val_loss'] for r in history if r['epoch'] == reached))
  if model.config.model.hint_inputs:
    record['hints'] = _hint_metrics(model, trained['state'], seed, test, test_views, config)
  return record


def hint_counts(config: ml_collections.ConfigDict) -> list[int]:
  """config.heldout_hint_counts 'N1,N2,...' -> [N1, N2, ...] (each >= 1)."""
  try:
    counts = [int(n) for n in common.split_names(str(config.heldout_hint_counts))]
  except ValueError:
    counts = []
  if not counts or min(counts) < 1:
    raise ValueError(f'config.heldout_hint_counts={config.heldout_hint_counts!r}: give point '
                     f'counts N1,N2,... >= 1')
  return counts


def _hint_metrics(model: _Model, state, seed: int, test: tuple[str, ...],
                  test_views: dict[str, list[dict[str, np.ndarray]]],
                  config: ml_collections.ConfigDict) -> dict[str, Any]:
  """A hint-input model scored with N points read from each test photo's truth (hint seed =
  the run's seed: the draws of experiments.colorize_hints), beside Levin et al.'s solve of the
  same hints: {N: {'model': {photo: metrics}, 'levin': {photo: metrics}}}."""
  out = {}
  for count in hint_counts(config):
    per_method: dict[str, dict[str, dict[str, float]]] = {'model': {}, 'levin': {}}
    for name in test:
      records: dict[str, list[dict[str, float]]] = {'model': [], 'levin': []}
      for view in test_views[name]:
        hints = hints_lib.sample(seed, view['ab'], count)
        rgb = colorize_photo.colorize(model.config, state, view['L'],
                                      predict_ab=model.predict_ab, hints=hints)
        for method, ab in (('model', colour.rgb_to_scaled_lab(rgb)[1]),
                           ('levin', levin.solve(view['L'], hints))):
          records[method].append(colour_metrics.evaluate(ab, view['L'], view['ab']))
      for method, rows in records.items():
        per_method[method][name] = {k: float(np.mean([r[k] for r in rows])) for k in rows[0]}
    out[str(count)] = per_method
    logging.info('[hints] %d points, seed %d: model %.2f dB, Levin %.2f dB', count, seed,
                 _mean_over_photos(per_method['model'])['rgb_psnr'],
                 _mean_over_photos(per_method['levin'])['rgb_psnr'])
  return out


def _predictor(model: _Model, state) -> Callable[[np.ndarray], np.ndarray]:
  """L (H, W, 1) -> ab / 128 (H, W, 2) of a photo through the user-facing path."""

  def predict_ab(lightness):
    rgb = colorize_photo.colorize(model.config, state, lightness, predict_ab=model.predict_ab)
    return colour.rgb_to_scaled_lab(rgb)[1]

  return predict_ab


def _train_model(config: ml_collections.ConfigDict, model: _Model, label: str,
                 photos: _Offline | _Corpus,
                 test_views: dict[str, list[dict[str, np.ndarray]]],
                 figure_rows: dict[str, list], workdir: str, writer: common.ScalarWriter
                 ) -> dict[str, Any]:
  """Every fold and seed of one model: {fold: {seed: run}}; appends the first seed's
  colourisation of each photo of ``figure_rows`` it was tested on."""
  per_fold = {}
  for f, fold in enumerate(photos.folds):
    train_photos = photos.train_photos(f)
    runs = {}
    for seed in range(config.heldout_seeds):
      trained = _train(model, photos.train_data(model.config, train_photos, seed), seed,
                       workdir=workdir, tag=f'{label}_fold{f}_seed{seed}', writer=writer)
      runs[str(seed)] = _evaluate_run(model, trained, seed, fold, test_views, config)
      logging.info('[%s] fold %d seed %d: %s; %.0f s', label, f, seed,
                   ', '.join(f'{n} {m["rgb_psnr"]:.2f} dB'
                             for n, m in runs[str(seed)]['photos'].items()),
                   trained['seconds'])
      if seed == 0:
        predict_ab = _predictor(model, trained['state'])
        for name in fold:
          if name in figure_rows:
            figure_rows[name].append((label, predict_ab(test_views[name][0]['L'])))
        runs[str(seed)]['grid_shift_ab'] = _grid_shift(model, trained['state'],
                                                       test_views[fold[0]][0]['L'])
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
  return {k: float(np.mean([m[k] for m in photos.values()]))
          for k in next(iter(photos.values()))}


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


def _spread_units(photo_sets: list[dict[str, dict[str, float]]], one_fold: bool | None = None
                  ) -> list[dict[str, float]]:
  """What a summary's mean and std run over, from per-photo metrics of each fold (baselines) or
  each run (models): each set's mean over its photos; with one fold (``one_fold``, default: a
  single set), every photo of every set."""
  one_fold = len(photo_sets) == 1 if one_fold is None else one_fold
  if one_fold:
    return [m for photos in photo_sets for m in photos.values()]
  return [_mean_over_photos(p) for p in photo_sets]


def summarize(results: dict[str, Any], config: ml_collections.ConfigDict) -> dict[str, Any]:
  """Mean and sample std over folds x seeds of each fold's mean over its photos (baselines:
  over folds; with one fold, as in corpus mode, over photos x seeds), per model and metric; epochs to the train-loss threshold over the runs that
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
    units = _spread_units(list(per_fold.values()))
    summary[name] = {k: common.mean_std([m[k] for m in units]) for k in METRICS}
  for label, per_fold in results['models'].items():
    runs = [r for fold in per_fold.values() for r in fold.values()]
    units = _spread_units([r['photos'] for r in runs], one_fold=len(per_fold) == 1)
    entry = {k: common.mean_std([m[k] for m in units]) for k in METRICS}
    reached = [r['epochs_to_threshold'] for r in runs if r['epochs_to_threshold'] is not None]
    entry['epochs_to_threshold'] = common.mean_std(reached) if reached else None
    entry['reached'] = f'{len(reached)}/{len(runs)}'
    entry['final_train_loss'] = common.mean_std([r['final_train_loss'] for r in runs])
    entry['stalled'] = f'{sum(r["stalled"] for r in runs)}/{len(runs)}'
    entry['seconds_per_run'] = common.mean_std([r['seconds'] for r in runs])
    entry['threshold'] = _threshold(config, label.partition('+')[0])
    # Paired with the grey baseline on the same photos: the spread of the gain, not of the photos.
    grey = results['baselines']['grey']
    gains = [{n: {'rgb_psnr': m['rgb_psnr'] - grey[f][n]['rgb_psnr']}
              for n, m in r['photos'].items()} for f, fold in per_fold.items()
             for r in fold.values()]
    entry['rgb_psnr_over_grey'] = common.mean_std(
        [u['rgb_psnr'] for u in _spread_units(gains, one_fold=len(per_fold) == 1)])
    if 'final_val_loss' in runs[0]:  # Corpus mode: the validation photos' fixed crops.
      entry['final_val_loss'] = common.mean_std([r['final_val_loss'] for r in runs])
      at = [r['val_loss_at_threshold'] for r in runs if r['val_loss_at_threshold'] is not None]
      entry['val_loss_at_threshold'] = common.mean_std(at) if at else None
    shifts = [r['grid_shift_ab']['rms'] for fold in per_fold.values() for r in fold.values()
              if 'grid_shift_ab' in r]
    entry['grid_shift_rms_ab'] = common.mean_std(shifts) if shifts else None
    if 'hints' in runs[0]:
      entry['hints'] = _summarize_hints(runs, grey, per_fold)
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


def _summarize_hints(runs: list[dict[str, Any]], grey: dict[str, Any],
                     per_fold: dict[str, dict[str, Any]]) -> dict[str, Any]:
  """Per hint count and method (the model, Levin): RGB PSNR, its gain over grey (paired per
  photo) and colourfulness / truth, mean ± std over the same units as the main table."""
  one_fold = len(per_fold) == 1
  fold_of = {id(r): f for f, fold in per_fold.items() for r in fold.values()}
  out: dict[str, Any] = {}
  for count in runs[0]['hints']:
    out[count] = {}
    for method in ('model', 'levin'):
      sets = [{n: {**m, 'gain': m['rgb_psnr'] - grey[fold_of[id(r)]][n]['rgb_psnr']}
               for n, m in r['hints'][count][method].items()} for r in runs]
      units = _spread_units(sets, one_fold=one_fold)
      out[count][method] = {k: common.mean_std([u[k] for u in units])
                            for k in ('rgb_psnr', 'gain', 'colourfulness_ratio')}
  return out


_pm = common.format_mean_std  # The tables' 'mean ± std' cells.


def table(output: dict[str, Any]) -> str:
  """Markdown: models x metrics (mean ± std over folds x seeds), then RGB PSNR per fold; in
  corpus mode over test photos x seeds, then the report's loss claims, RGB PSNR per test photo
  and the learning curve."""
  summary, folds = output['summary'], output['folds']
  corpus = output.get('corpus', False)
  reference = output['reference']['model'] or '-'
  lines = ['| model | held-out RGB PSNR (dB) | ab PSNR (dB) | colourfulness / truth | '
           f'epochs to {reference} loss (reached) | speed-up over {reference} | '
           'final train loss | grid-shift RMS (ab) | stalled runs | s per run |',
           '|---|---|---|---|---|---|---|---|---|---|']
  for name in output['baselines']:
    s = summary[name]
    lines.append(f'| {name.replace("_", " ")} baseline | {_pm(s["rgb_psnr"])} | {_pm(s["ab_psnr"])} | '
                 f'{_pm(s["colourfulness_ratio"])} | - | - | - | - | - | - |')
  for label in output['models']:
    s = summary[label]
    epochs = (f'{_pm(s["epochs_to_reference_loss"], ".0f")} ({s["reached_reference"]})'
              if 'reached_reference' in s else '-')
    lines.append(
        f'| {label} | {_pm(s["rgb_psnr"])} | {_pm(s["ab_psnr"])} | '
        f'{_pm(s["colourfulness_ratio"])} | {epochs} | '
        f'{_pm(s.get("speedup_over_reference"))} | {_pm(s["final_train_loss"], ".4f")} | '
        f'{_pm(s["grid_shift_rms_ab"])} | {s["stalled"]} | '
        f'{_pm(s["seconds_per_run"], ".0f")} |')
  spread = 'test photos x seeds' if corpus else 'folds x seeds'
  where = '' if corpus else ' in that fold'
  lines += ['', f'Epochs to {reference} loss: first evaluated epoch whose train loss (fixed '
            f'training crops) is <= 1.1 x the median final train loss of {reference}'
            f'{where}; FC trains on RGB, a different loss, so it has no entry (its final loss is '
            f'RGB MSE). Spread: sample std over {spread}. Grid-shift RMS: change of the '
            f'colourised first test photo of each fold when the tile grid moves a few pixels. '
            f'Stalled: runs whose final train loss is >= {STALLED_FRACTION} x their loss before '
            f'training (they count in every mean).']
  lines += _hint_table(output)
  if corpus:
    return '\n'.join(lines + _corpus_tables(output)) + '\n'
  fold_names = ' | '.join(f'fold {i}: {", ".join(f)}' for i, f in enumerate(folds))
  lines += ['', 'Held-out RGB PSNR (dB) per fold (mean ± std over seeds; baselines: one value):',
            '', f'| model | {fold_names} |',
            '|---' * (len(folds) + 1) + '|']
  for name in output['baselines']:
    cells = [f'{_mean_over_photos(output["baselines"][name][str(i)])["rgb_psnr"]:.2f}'
             for i in range(len(folds))]
    lines.append(f'| {name.replace("_", " ")} baseline | ' + ' | '.join(cells) + ' |')
  for label, per_fold in output['models'].items():
    cells = [_pm(common.mean_std([_mean_over_photos(r['photos'])['rgb_psnr']
                         for r in per_fold[str(i)].values()])) for i in range(len(folds))]
    lines.append(f'| {label} | ' + ' | '.join(cells) + ' |')
  return '\n'.join(lines) + '\n'


def _hint_table(output: dict[str, Any]) -> list[str]:
  """Models with hint inputs: scored with N hint points against Levin's solve of the same hints
  (markdown lines; none without such a model)."""
  lines = []
  for label in output['models']:
    hints = output['summary'][label].get('hints')
    if not hints:
      continue
    lines += ['', f'{label} with hint inputs: N points read from the truth of each test photo '
              '(the same draws for both methods), RGB PSNR, gain over grey (paired per photo) '
              'and colourfulness / truth:', '',
              f'| points | {label} RGB PSNR (dB) | {label} gain (dB) | {label} colourfulness | '
              'Levin RGB PSNR (dB) | Levin gain (dB) | Levin colourfulness |',
              '|---|---|---|---|---|---|---|']
    for count, methods in hints.items():
      cells = [_pm(methods[m][k]) for m in ('model', 'levin')
               for k in ('rgb_psnr', 'gain', 'colourfulness_ratio')]
      lines.append(f'| {count} | ' + ' | '.join(cells) + ' |')
  return lines


def _corpus_tables(output: dict[str, Any]) -> list[str]:
  """Corpus mode's further tables (markdown lines)."""
  summary, test = output['summary'], output['folds'][0]
  lines = ['', 'Gain over the grey baseline (RGB PSNR of the model minus that of grey on the same '
           'test photo, mean ± std over test photos x seeds) and colourfulness (truth: 1):', '',
           '| model | RGB PSNR - grey (dB) | colourfulness / truth |', '|---|---|---|']
  for label in output['models']:
    s = summary[label]
    lines.append(f'| {label} | {_pm(s["rgb_psnr_over_grey"])} | '
                 f'{_pm(s["colourfulness_ratio"])} |')
  lines += ['', 'Train and validation loss (fixed crops of the train and validation photos; '
           'conv models: MSE of ab / 128, FC: of RGB in [-1, 1]), mean ± std over seeds:', '',
           '| model | loss threshold | epochs to it (reached) | validation loss then | '
           'final train loss | final validation loss |', '|---|---|---|---|---|---|']
  for label in output['models']:
    s = summary[label]
    lines.append(f'| {label} | {s["threshold"]:g} | {_pm(s["epochs_to_threshold"], ".0f")} '
                 f'({s["reached"]}) | {_pm(s.get("val_loss_at_threshold"), ".4f")} | '
                 f'{_pm(s["final_train_loss"], ".4f")} | {_pm(s.get("final_val_loss"), ".4f")} |')
  lines += ['', 'Held-out RGB PSNR (dB) and colourfulness / truth per test photo (models: mean '
            '± std over seeds):', '',
            '| test photo | ' + ' | '.join(b.replace('_', ' ') for b in output['baselines']) +
            ' | ' + ' | '.join(output['models']) + ' |',
            '|---' * (len(output['models']) + len(output['baselines']) + 1) + '|']
  for name in test:
    cells = []
    for b, per_fold in output['baselines'].items():
      m = per_fold['0'][name]
      cells.append(f'{m["rgb_psnr"]:.2f}' + (f' ({m["colourfulness_ratio"]:.2f})'
                                              if b != 'grey' else ''))
    for per_fold in output['models'].values():
      runs = per_fold['0'].values()
      cells.append(_pm(common.mean_std([r['photos'][name]['rgb_psnr'] for r in runs])) +
                   f' ({np.mean([r["photos"][name]["colourfulness_ratio"] for r in runs]):.2f})')
    lines.append(f'| {name} | ' + ' | '.join(cells) + ' |')
  curve = output.get('curve')
  if curve:
    label = curve['model']
    lines += ['', f'Learning curve of {label}: the first N train photos (the manifest\'s order), '
              'the same steps for every N; mean ± std over test photos x seeds:', '',
              '| train photos | RGB PSNR (dB) | colourfulness / truth | histogram baseline RGB '
              'PSNR (dB) | grey baseline RGB PSNR (dB) |', '|---|---|---|---|---|']
    for count, point in _curve_points(output):
      lines.append(f'| {count} | {_pm(point["rgb_psnr"])} | '
                   f'{_pm(point["colourfulness_ratio"])} | {_pm(point["histogram"])} | '
                   f'{_pm(summary["grey"]["rgb_psnr"])} |')
  return lines


def _curve_points(output: dict[str, Any]) -> list[tuple[int, dict[str, Any]]]:
  """(N, {'rgb_psnr', 'colourfulness_ratio', 'histogram': mean_std}) per training-set size,
  the full training set (the main table) last."""
  curve = output['curve']
  label = curve['model']
  points = [(int(n), list(p['runs'].values()), p['histogram'])
            for n, p in curve['points'].items()]
  points.append((len(output['train_photos']['0']), list(output['models'][label]['0'].values()),
                 output['baselines']['histogram']['0']))
  out = []
  for count, runs, histogram in sorted(points, key=lambda p: p[0]):
    units = _spread_units([r['photos'] for r in runs], one_fold=True)
    out.append((count, {k: common.mean_std([m[k] for m in units])
                        for k in ('rgb_psnr', 'colourfulness_ratio')} | {
        'histogram': common.mean_std([m['rgb_psnr'] for m in histogram.values()])}))
  return out


def _curve_figure(path: str, output: dict[str, Any]) -> None:
  points = _curve_points(output)
  counts = [c for c, _ in points]
  grey = output['summary']['grey']['rgb_psnr']['mean']
  figures.curves(path, {
      output['curve']['model']: (counts, [p['rgb_psnr']['mean'] for _, p in points]),
      'histogram baseline': (counts, [p['histogram']['mean'] for _, p in points]),
      'grey baseline': (counts, [grey] * len(counts))},
      xlabel='training photos', ylabel='held-out RGB PSNR (dB)',
      title='learning curve on the corpus test photos')


def _figure(path, folds, test_views, figure_rows, histograms) -> None:
  rows = []
  fold_of = {n: f for f, fold in enumerate(folds) for n in fold}
  for name, colourised in figure_rows.items():
    view = test_views[name][0]
    to_unit = lambda ab: colour.scaled_lab_to_rgb(view['L'], ab, rgb_range='unit')  # noqa: E731
    row = [(f'{name} (grey input)', figures.to_unit(view['L']))]
    row += [(label, to_unit(ab)) for label, ab in colourised]
    row += [('histogram baseline', to_unit(histograms[fold_of[name]].predict(view['L']))),
            ('ground truth', to_unit(view['ab']))]
    rows.append(row)
  figures.image_grid(path, rows, cell_inches=1.6, dpi=72)
