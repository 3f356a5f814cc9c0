"""experiments.poisson.train (``python -m experiments.poisson``) on tiny configs: every mode
writes its outputs, a finished run resumes without training, one-line errors."""

import json
import subprocess
import sys

import imageio.v3 as iio
import numpy as np
import pytest

from experiments.configs import poisson as poisson_configs
from experiments.poisson import train as poisson_train
from tests.helpers import REPO_ROOT, subprocess_env


@pytest.mark.slow
@pytest.mark.parametrize('mode', poisson_train.MODES)
def test_entry_point_runs_each_mode_and_writes_outputs(mode, tmp_path):
  config = poisson_configs.get_config(f'{mode},tiny')
  config.steps = 4
  config.eval_every = config.log_every = config.checkpoint_every = 2
  output = poisson_train.train_and_evaluate(config, str(tmp_path))
  figure = iio.imread(tmp_path / 'figure.png')  # A real, non-blank picture, not just a file.
  assert figure.ndim == 3 and min(figure.shape[:2]) > 100 and figure.std() > 10
  written = json.loads((tmp_path / 'metrics.json').read_text())
  assert written['mode'] == mode
  for results in output['results'].values():
    for name, summary in results.items():
      if name == 'siren' or mode in ('merge', 'blend'):
        assert summary['steps'] == 4
  if mode == 'grad':  # Resuming finds the final checkpoint and trains no further.
    again = poisson_train.train_and_evaluate(config, str(tmp_path))
    assert again['results']['grey']['siren']['resumed_from_step'] == 4


def test_entry_point_reports_a_mask_of_the_wrong_size_in_one_line(tmp_path):
  mask_path = str(tmp_path / 'mask.png')
  iio.imwrite(mask_path, np.full((20, 16), 255, np.uint8))
  result = subprocess.run(
      [sys.executable, '-m', 'experiments.poisson',
       '--config=experiments/configs/poisson.py:blend,tiny', f'--config.mask={mask_path}',
       f'--workdir={tmp_path / "run"}'],
      cwd=REPO_ROOT, capture_output=True, text=True,
      env=subprocess_env())
  assert result.returncode == 2
  assert result.stderr.strip().splitlines()[-1].startswith('error: mask ')
  assert '20x16' in result.stderr and '16x16' in result.stderr


def test_grad_mode_writes_its_results_as_pngs(tmp_path):
  config = poisson_configs.get_config('grad,tiny')
  config.steps = 2
  config.eval_every = config.log_every = config.checkpoint_every = 2
  poisson_train.train_and_evaluate(config, str(tmp_path))
  for name in ('grad_grey_siren', 'grad_grey_direct'):
    assert iio.imread(tmp_path / f'{name}.png').shape == (16, 16)


def test_check_mode_config_runs_the_check_of_the_mode():
  clone_config = poisson_configs.get_config('clone,tiny')
  clone_config.colors = 'grey,rgb'
  with pytest.raises(ValueError, match='one colour mode .* for clone'):
    poisson_train.check_mode_config(clone_config)
  grad_config = poisson_configs.get_config('grad,tiny')
  grad_config.colors = 'grey,rgb'
  with pytest.raises(ValueError, match='one colour mode for grad'):
    poisson_train.check_mode_config(grad_config)
  grad_config.colors = 'grey'
  assert poisson_train.check_mode_config(grad_config) == poisson_train.check_config(grad_config)
