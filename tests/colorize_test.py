"""End-to-end tests of experiments.colorize, colorize_compare and colorize_photo (tiny configs)."""

import json
import os
import subprocess
import sys

import imageio.v3 as iio
import numpy as np
import pytest

from experiments.colorize import compare as colorize_compare
from experiments.colorize import train as colorize_train
from experiments.colorize import photo as colorize_photo
from experiments.configs import colorize as colorize_config
from tests.conftest import subprocess_env

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _config(variant, **overrides):
  config = colorize_config.get_config(variant)
  config.update(overrides)
  return config


def _grey_photo(path, shape=(21, 30)):
  ramp = np.linspace(0, 255, shape[0] * shape[1]).reshape(shape).astype(np.uint8)
  iio.imwrite(path, ramp)
  return path


@pytest.mark.slow
def test_entry_point_writes_outputs_resumes_and_colourises_a_photo(tmp_path):
  workdir = str(tmp_path / 'srs')
  first = colorize_train.train_and_evaluate(_config('SRS,tiny', epochs=1), workdir)
  for name in ('figure_train.png', 'figure_val.png', 'figure_test.png', 'loss.png',
               'metrics.json', 'checkpoints/SRS/run.json'):
    assert os.path.exists(os.path.join(workdir, name)), name
  assert first['resumed_from_step'] is None
  for split in ('train', 'val', 'test'):
    assert 5 < first['splits'][split]['psnr'] < 60 and first['splits'][split]['grey_psnr'] > 5

  second = colorize_train.train_and_evaluate(_config('SRS,tiny', epochs=2), workdir)
  assert second['resumed_from_step'] == first['steps_per_epoch']
  assert [r['epoch'] for r in second['history']] == [0, 1, 2]
  assert second['history'][:2] == first['history']  # The restored history is kept.
  with open(os.path.join(workdir, 'metrics.json')) as f:
    assert json.load(f)['epochs'] == 2

  rgb = colorize_photo.colorize_file(_config('SRS,tiny'), workdir,
                                         _grey_photo(str(tmp_path / 'grey.png')),
                                         str(tmp_path / 'out.png'))
  assert rgb.shape == (21, 30, 3)
  assert iio.imread(str(tmp_path / 'out.png')).shape == (21, 30, 3)
  with pytest.raises(FileNotFoundError, match='holds no trained colouriser FR'):
    colorize_photo.load_params(_config('FR,tiny'), workdir)
  wider = {'model': {'width_scale': 0.25}}
  with pytest.raises(ValueError, match="holds a SRS model that differs from this config "
                                       r"\(model.width_scale: 0.125 there, 0.25 here\)"):
    colorize_photo.load_params(_config('SRS,tiny', **wider), workdir)
  with pytest.raises(ValueError, match='of a different run .*model.width_scale'):
    colorize_train.train_and_evaluate(_config('SRS,tiny', epochs=1, **wider), workdir)


@pytest.mark.slow
def test_fc_model_trains_and_colourises_a_larger_photo_by_tiles(tmp_path):
  workdir = str(tmp_path / 'fc')
  result = colorize_train.train_and_evaluate(_config('FC,tiny', epochs=1), workdir)
  assert result['history'][-1]['train_loss'] < result['history'][0]['train_loss']
  rgb = colorize_photo.colorize_file(_config('FC,tiny'), workdir,
                                         _grey_photo(str(tmp_path / 'grey.png')),
                                         str(tmp_path / 'out.png'))
  assert rgb.shape == (21, 30, 3) and np.abs(rgb).max() <= 1


@pytest.mark.slow
def test_compare_mode_writes_a_table_and_figure(tmp_path):
  config = _config('tiny', epochs=1, compare_models='FR,SRS')
  result = colorize_compare.compare(config, str(tmp_path))
  assert set(result['models']) == {'FR', 'SRS'}
  for name in ('compare.png', 'compare.md', 'compare.json', 'FR/metrics.json',
               'SRS/metrics.json'):
    assert os.path.exists(tmp_path / name), name
  # The reference (FR) reaches its own losses by construction, within the budget.
  assert all(e is not None and e <= 1
             for e in result['models']['FR']['epochs_to_reference_loss'].values())
  assert '| SRS |' in (tmp_path / 'compare.md').read_text()


def test_bad_configs_are_one_line_errors(tmp_path):
  with pytest.raises(ValueError, match='multiple of 8'):
    colorize_train.check_config(_config('FR,tiny', image_size=20))
  with pytest.raises(ValueError, match='bad colorize config variant'):
    colorize_config.get_config('FR,SRS')
  with pytest.raises(ValueError, match='unknown embedding'):
    colorize_train.check_config(_config('FR,tiny', model={'fusion': 'inception'}))
  with pytest.raises(ValueError, match='FR, SRS, S130'):
    colorize_compare.compare(_config('tiny', compare_models='FR,FC'), str(tmp_path))


@pytest.mark.slow
def test_photo_cli_prints_one_line_error_for_an_untrained_workdir(tmp_path):
  process = subprocess.run(
      [sys.executable, '-m', 'experiments.colorize_photo',
       '--config=experiments/configs/colorize.py:SRS,tiny', f'--workdir={tmp_path}',
       f'--input={tmp_path}/in.png', f'--output={tmp_path}/out.png'],
      cwd=REPO_ROOT, capture_output=True, text=True, timeout=120,
      env=subprocess_env())
  assert process.returncode == 2
  assert process.stderr.strip().splitlines()[-1].startswith('error: ')
  assert 'no trained colouriser' in process.stderr
