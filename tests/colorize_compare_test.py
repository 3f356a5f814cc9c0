"""experiments.colorize.compare (``python -m experiments.colorize_compare``): the speed-up
arithmetic and table on loss curves written by hand (no training), and a tiny run end to end."""

import json
import os

import pytest

from experiments.colorize import compare as colorize_compare
from experiments.colorize import train as colorize_train
from experiments.configs import colorize as colorize_config
from tests.helpers import colorize_variant


def _fake_run(loss_of_epoch, epochs):
  history = [{'epoch': e, 'train_loss': loss_of_epoch(e), 'val_loss': 2 * loss_of_epoch(e)}
             for e in range(epochs + 1)]
  return {'history': history, 'epochs_to_threshold': None,
          'final_train_loss': history[-1]['train_loss'],
          'final_val_loss': history[-1]['val_loss'],
          'splits': {'test': {'psnr': 20.0, 'grey_psnr': 17.0}}, 'seconds_per_epoch': 1.0}


def test_speedup_is_reference_epochs_over_model_epochs(tmp_path, monkeypatch):
  # Budget 8 epochs. FR's loss is 1 / (e + 1), so its best losses by epochs 2, 4 and 8
  # (1/4, 1/2 and all of the budget) are 1/3, 1/5 and 1/9, reached at epochs 2, 4, 8.
  # SRS's loss is 1 / (4 e + 1): <= 1/3 first at epoch 1, <= 1/5 at epoch 1, <= 1/9 at epoch 2.
  # Speed-ups (FR epochs / SRS epochs): 2/1 = 2, 4/1 = 4, 8/2 = 4. SRS is the faster model.
  curves = {'FR': lambda e: 1 / (e + 1), 'SRS': lambda e: 1 / (4 * e + 1)}
  monkeypatch.setattr(colorize_train, 'train_and_evaluate',
                      lambda config, workdir: _fake_run(curves[config.model.name], 8))
  config = colorize_config.get_config('tiny')
  config.epochs, config.compare_models = 8, 'FR,SRS'
  result = colorize_compare.compare(config, str(tmp_path))
  assert result['reference_losses'] == pytest.approx({'0.25': 1 / 3, '0.5': 1 / 5, '1': 1 / 9})
  srs = result['models']['SRS']
  assert srs['epochs_to_reference_loss'] == {'0.25': 1, '0.5': 1, '1': 2}
  assert srs['speedup_over_reference'] == pytest.approx({'0.25': 2.0, '0.5': 4.0, '1': 4.0})
  assert result['models']['FR']['epochs_to_reference_loss'] == {'0.25': 2, '0.5': 4, '1': 8}
  assert result['models']['FR']['speedup_over_reference'] == {'0.25': 1.0, '0.5': 1.0, '1': 1.0}
  table = (tmp_path / 'compare.md').read_text()
  assert '| SRS | 1 (2.00x) | 1 (4.00x) | 2 (4.00x) |' in table
  assert '| FR | 2 | 4 | 8 |' in table  # No speed-up column for the reference itself.
  written = json.loads((tmp_path / 'compare.json').read_text())
  assert written['models']['SRS']['speedup_over_reference']['0.25'] == pytest.approx(2.0)


@pytest.mark.slow
def test_compare_mode_writes_a_table_and_figure(tmp_path):
  config = colorize_variant('tiny', epochs=1, compare_models='FR,SRS')
  result = colorize_compare.compare(config, str(tmp_path))
  assert set(result['models']) == {'FR', 'SRS'}
  for name in ('compare.png', 'compare.md', 'compare.json', 'FR/metrics.json',
               'SRS/metrics.json'):
    assert os.path.exists(tmp_path / name), name
  # The reference (FR) reaches its own losses by construction, within the budget.
  assert all(e is not None and e <= 1
             for e in result['models']['FR']['epochs_to_reference_loss'].values())
  assert '| SRS |' in (tmp_path / 'compare.md').read_text()
