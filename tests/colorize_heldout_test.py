"""The held-out protocol end to end on a tiny config, and its fold bookkeeping."""

import json
import os

import pytest

from experiments.colorize import heldout as colorize_heldout
from experiments.configs import colorize as colorize_config


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
  assert set(summary) == {'grey', 'histogram', 'FR', 'FC'}
  assert summary['FR']['rgb_psnr']['n'] == 4  # 2 folds x 2 seeds.
  assert summary['grey']['colourfulness_ratio']['mean'] < 0.01
  assert 5 < summary['FR']['rgb_psnr']['mean'] < 60
  table = (tmp_path / 'heldout.md').read_text()
  assert '| grey baseline |' in table and '| histogram baseline |' in table
  with open(tmp_path / 'heldout.json') as f:
    assert set(json.load(f)['models']['FC']) == {'0', '1'}
