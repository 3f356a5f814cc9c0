"""The held-out protocol end to end on a tiny config, its fold bookkeeping, and its corpus mode
on a tiny folder corpus of flat-colour photos."""

import json
import os

import imageio.v3 as iio
import numpy as np
import pytest
import skimage.color
import skimage.metrics

from experiments.colorize import heldout as colorize_heldout
from experiments.configs import colorize as colorize_config
from siren_jax import data
from siren_jax.colorize import colour_metrics, levin
from siren_jax.colorize import hints as hints_lib
from siren_jax.data import corpus


def test_folds_never_share_a_photo_and_test_photos_never_train():
  folds = colorize_heldout.parse_folds(
      colorize_config.get_config('heldout').heldout_folds)
  assert sorted(n for f in folds for n in f) == sorted(
      ('astronaut', 'chelsea', 'coffee', 'rocket', 'stereo_motorcycle', 'grace_hopper'))
  for i, fold in enumerate(folds):
    train = colorize_heldout.fold_train_photos(folds, i, 'colorwheel')
    assert not set(train) & set(fold) and 'colorwheel' in train
  with pytest.raises(ValueError, match='synthetic images never go in a test fold'):
    colorize_heldout.parse_folds('astronaut;logo')
  with pytest.raises(ValueError, match='distinct natural photos'):
    colorize_heldout.parse_folds('astronaut;astronaut,coffee')
  with pytest.raises(ValueError, match='heldout_train_extra: coffee'):
    colorize_heldout.fold_train_photos(folds, 0, 'coffee')


@pytest.mark.slow
def test_tiny_protocol_writes_tables_with_both_baselines(tmp_path):
  config = colorize_config.get_config('tiny')
  config.photo_side = 48  # Chelsea: 48x72 -> 2 x 3 tiles of 20 (batch 4).
  config.epochs = 1
  result = colorize_heldout.run(config, str(tmp_path))
  for name in ('heldout.json', 'heldout.md', 'heldout.png'):
    assert os.path.exists(tmp_path / name), name
  summary = result['summary']
  assert set(summary) == {'grey', 'mean_colour', 'histogram', 'FR', 'FC'}
  assert summary['FR']['rgb_psnr']['n'] == 4  # 2 folds x 2 seeds.
  assert summary['grey']['colourfulness_ratio']['mean'] < 0.01
  assert 5 < summary['FR']['rgb_psnr']['mean'] < 60
  table = (tmp_path / 'heldout.md').read_text()
  assert '| grey baseline |' in table and '| histogram baseline |' in table
  with open(tmp_path / 'heldout.json') as f:
    assert set(json.load(f)['models']['FC']) == {'0', '1'}


# --- Corpus mode ------------------------------------------------------------------------------

def _flat_corpus(tmp_path, count=10, shape=(40, 48)):
  """A folder corpus of ``count`` photos, photo i one flat colour (i hand-picked so every
  photo's colour differs); built with the corpus split rule (10 photos: 7 train, 1 validation,
  2 test). Returns (data_dir, {photo: RGB colour}) (a photo is its file name's stem)."""
  folder = tmp_path / 'photos'
  folder.mkdir()
  colours = {}
  for i in range(count):
    colour_i = np.array([20 + 23 * i, 200 - 17 * i, 60 + 11 * (i % 4)], np.uint8)
    # A lightness ramp on top, so the histogram baseline sees more than one bin.
    ramp = np.linspace(0.6, 1.0, shape[1])[None, :, None]
    iio.imwrite(folder / f'p{i:02d}.png',
                np.round(np.broadcast_to(colour_i * ramp, shape + (3,))).astype(np.uint8))
    colours[f'p{i:02d}'] = colour_i
  data_dir = tmp_path / 'data'
  corpus.fetch_and_build(str(data_dir), folder=str(folder), log=lambda line: None)
  return str(data_dir), colours


def _corpus_config(data_dir, **fields):
  config = colorize_config.get_config('tiny')
  config.update({'dataset': 'corpus/folder', 'data_dir': data_dir, 'heldout_epoch_crops': 4,
                 'heldout_eval_side': 40, **fields})
  return config


def test_corpus_photo_side_is_the_mean_crop_scale_for_every_model():
  config = colorize_config.get_config('corpus')
  # 64-pixel crops of 1/4 to all of the short side: on average (geometric) 64 / sqrt(1/4) = 128.
  assert colorize_heldout.corpus_photo_side(config) == 128
  fc = colorize_heldout.model_config(config, 'FC', '')
  # FC's 16-pixel crops of 1/16 to 1/4 of the short side show the photos at the same scale.
  assert fc.image_size == 16 and fc.heldout_crop_scale == pytest.approx((0.0625, 0.25))
  assert fc.photo_side == 128 == colorize_heldout.model_config(config, 'SRS', '').photo_side
  assert data.photo_short_side('corpus', 64, 128) == 128
  assert data.photo_short_side('corpus', 64) == 80  # data.Pipeline's own corpus scale.


def test_corpus_mode_trains_on_the_first_train_photos_only(tmp_path):
  data_dir, colours = _flat_corpus(tmp_path)
  names = {s: corpus.open_split(s, data_dir, 'folder').groups for s in corpus.SPLITS}
  config = _corpus_config(data_dir, heldout_train_photos=3, batch_size=8, heldout_epoch_crops=8)
  photos = colorize_heldout._Corpus(config)
  assert photos.folds == [tuple(names['test'])]
  assert photos.train_photos(0) == tuple(names['train'][:3])
  train_data = photos.train_data(colorize_heldout.model_config(config, 'FC', ''), photos.train,
                                 seed=1)
  assert train_data.steps_per_epoch == 1
  allowed = np.stack([colours[n] for n in names['train'][:3]]) / 255.0
  for step in range(3):
    rgb = (train_data.batch_fn(step)['rgb'] + 1) / 2  # FC: grey -> RGB.
    # A crop of a flat photo under a lightness ramp: every pixel is c * r for one colour c and
    # r in [0.6, 1]; the colour's direction tells the photo.
    direction = rgb.reshape(len(rgb), -1, 3).mean(1)
    direction /= np.linalg.norm(direction, axis=1, keepdims=True)
    known = allowed / np.linalg.norm(allowed, axis=1, keepdims=True)
    assert np.abs(direction @ known.T).max(axis=1).min() > 0.999
  val = train_data.val_set['rgb'].reshape(-1, 3).mean(0) + 1
  val_colour = colours[names['validation'][0]] / 255.0
  np.testing.assert_allclose(val / np.linalg.norm(val), val_colour / np.linalg.norm(val_colour),
                             atol=2e-3)


def test_corpus_mode_rejects_bad_settings(tmp_path):
  data_dir, _ = _flat_corpus(tmp_path)
  with pytest.raises(ValueError, match='heldout_train_photos=8'):
    colorize_heldout._Corpus(_corpus_config(data_dir, heldout_train_photos=8))
  with pytest.raises(ValueError, match='heldout_epoch_crops=6'):
    colorize_heldout._Corpus(_corpus_config(data_dir, heldout_epoch_crops=6))
  photos = colorize_heldout._Corpus(_corpus_config(data_dir))
  with pytest.raises(ValueError, match='between 1 and 6'):
    colorize_heldout._parse_curve(_corpus_config(data_dir, heldout_curve='7'), photos)
  offline = colorize_config.get_config('tiny')
  offline.heldout_curve = '2'
  with pytest.raises(ValueError, match='corpus mode only'):
    colorize_heldout._parse_curve(offline, colorize_heldout._Offline(offline))
  with pytest.raises(ValueError, match='the protocol reads'):
    colorize_heldout._Corpus(_corpus_config(data_dir, dataset='corpus/folder:test'))


@pytest.mark.slow
def test_tiny_corpus_protocol_tables_per_photo_and_learning_curve(tmp_path):
  data_dir, _ = _flat_corpus(tmp_path)
  config = _corpus_config(data_dir, heldout_curve='2', heldout_curve_model='FR')
  result = colorize_heldout.run(config, str(tmp_path / 'work'))
  test = corpus.open_split('test', data_dir, 'folder').groups
  assert result['folds'] == [test] and len(result['train_photos']['0']) == 7
  summary = result['summary']
  assert summary['FR']['rgb_psnr']['n'] == 4  # 2 test photos x 2 seeds.
  assert summary['grey']['rgb_psnr']['n'] == 2  # One value per test photo.
  for run in result['models']['FR']['0'].values():
    first, last = run['history'][0], run['history'][-1]
    assert first['epoch'] == 0  # The loss before training is the history's first record.
    assert run['stalled'] == (last['train_loss'] >= 0.95 * first['train_loss'])
  # The grey baseline of a test photo, by scikit-image: PSNR of the photo against its L with
  # a = b = 0 (the photos are 40x48, below the evaluation side: not resized).
  for name in test:
    truth = iio.imread(tmp_path / 'photos' / f'{name}.png') / 255.0
    lab = skimage.color.rgb2lab(truth)
    lab[..., 1:] = 0
    grey = np.clip(skimage.color.lab2rgb(lab), 0, 1)
    expected = skimage.metrics.peak_signal_noise_ratio(truth, grey, data_range=1.0)
    assert result['baselines']['grey']['0'][name]['rgb_psnr'] == pytest.approx(expected, abs=0.05)
  gains = [r['photos'][n]['rgb_psnr'] - result['baselines']['grey']['0'][n]['rgb_psnr']
           for r in result['models']['FR']['0'].values() for n in test]
  assert summary['FR']['rgb_psnr_over_grey']['mean'] == pytest.approx(np.mean(gains))
  assert set(result['curve']['points']) == {'2'}
  assert result['curve']['points']['2']['train_photos'] == result['train_photos']['0'][:2]
  table = (tmp_path / 'work' / 'heldout.md').read_text()
  for line in ('| test photo | grey | mean colour | histogram | FR | FC |', 'Learning curve of FR',
               '| 2 |', '| 7 |', 'RGB PSNR - grey'):
    assert line in table, line
  for name in ('heldout.json', 'heldout.png', 'heldout_curve.png'):
    assert os.path.exists(tmp_path / 'work' / name), name


@pytest.mark.slow
def test_tiny_hint_input_model_is_scored_beside_levin_on_the_same_hints(tmp_path):
  data_dir, _ = _flat_corpus(tmp_path)
  config = _corpus_config(data_dir, heldout_models='FR', heldout_seeds=1,
                          heldout_hint_counts='1,5', heldout_train_hints=10)
  config.model.hint_inputs = True
  result = colorize_heldout.run(config, str(tmp_path / 'work'))
  run = result['models']['FR']['0']['0']
  assert set(run['hints']) == {'1', '5'}
  # Levin's column is Levin's solve of the hints experiments.colorize_hints draws for seed 0.
  name = result['folds'][0][0]
  view = colorize_heldout._test_views(colorize_heldout._Corpus(config).views(name), 40)[0]
  hints = hints_lib.sample(0, view['ab'], 5)
  expected = colour_metrics.evaluate(levin.solve(view['L'], hints), view['L'], view['ab'])
  assert run['hints']['5']['levin'][name]['rgb_psnr'] == pytest.approx(expected['rgb_psnr'])
  summary = result['summary']['FR']['hints']['5']
  grey = result['baselines']['grey']['0']
  assert summary['levin']['gain']['mean'] == pytest.approx(np.mean(
      [run['hints']['5']['levin'][n]['rgb_psnr'] - grey[n]['rgb_psnr'] for n in grey]))
  assert 'FR with hint inputs' in (tmp_path / 'work' / 'heldout.md').read_text()
  with pytest.raises(ValueError, match='heldout_hint_counts'):
    colorize_heldout.hint_counts(_corpus_config(data_dir, heldout_hint_counts='0'))
