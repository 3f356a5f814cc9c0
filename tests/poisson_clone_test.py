"""experiments.poisson.clone (``python -m experiments.poisson`` in clone mode) on tiny configs:
every output written, one-line errors, and a killed run resumed."""

import json
import subprocess
import sys

import imageio.v3 as iio
import numpy as np
import pytest

from experiments.configs import poisson as poisson_configs
from experiments.poisson import train as poisson_train
from tests.helpers import kill_after_first_checkpoint, REPO_ROOT, subprocess_env


def _run_cli(*args, timeout=240):
  env = subprocess_env()
  return subprocess.run([sys.executable, '-m', 'experiments.poisson', *args], cwd=REPO_ROOT,
                        env=env, capture_output=True, text=True, timeout=timeout)


@pytest.mark.slow
def test_clone_entry_point_writes_every_output(tmp_path):
  config = poisson_configs.get_config('clone,tiny')
  config.steps = 4
  config.eval_every = config.log_every = config.checkpoint_every = 2
  output = poisson_train.train_and_evaluate(config, str(tmp_path))
  for rule in ('normal', 'mixed'):
    for suffix in ('direct', 'siren', 'siren_2x', 'opencv_like'):
      assert (tmp_path / f'clone_{rule}_{suffix}.png').stat().st_size > 0
    assert (tmp_path / f'clone_{rule}.inr').stat().st_size > 0
    assert output['results'][rule]['siren']['outside_equals_destination']
    assert output['results'][rule]['direct']['residual_max'] < 1e-10
  for name in ('figure', 'destination', 'source', 'naive_paste', 'edit_illumination_direct'):
    assert (tmp_path / f'{name}.png').stat().st_size > 0
  written = json.loads((tmp_path / 'metrics.json').read_text())
  assert written['mode'] == 'clone' and written['results']['normal']['siren']['steps'] == 4
  # The saved PNGs too: off Omega every result file is the destination file, pixel for pixel.
  destination = iio.imread(tmp_path / 'destination.png')
  big = iio.imread(tmp_path / 'clone_normal_siren_2x.png')
  assert big.shape[:2] == (2 * destination.shape[0], 2 * destination.shape[1])
  for rule in ('normal', 'mixed'):
    for suffix in ('direct', 'siren'):
      result = iio.imread(tmp_path / f'clone_{rule}_{suffix}.png')
      changed = np.any(result != destination, axis=-1)
      assert changed.any() and changed.sum() <= written['omega_pixels']


@pytest.mark.slow
@pytest.mark.parametrize('flags, message', [
    (['--config.mask_height=1.0', '--config.mask_width=1.0', '--config.position=40,50'],
     'must stay inside'),
    (['--config.position=3'], 'config.position must be "Y,X"'),
    (['--config.rules=normal,average'], 'config.rules must list some of normal, mixed'),
])
def test_clone_bad_input_exits_with_one_clear_line(tmp_path, flags, message):
  result = _run_cli('--config=experiments/configs/poisson.py:clone,tiny', *flags,
                    f'--workdir={tmp_path}')
  assert result.returncode == 2
  error_lines = [l for l in result.stderr.splitlines() if l.startswith('error:')]
  assert len(error_lines) == 1 and message in error_lines[0], result.stderr[-2000:]


@pytest.mark.parametrize('mask_shape, fill, message', [
    ((300, 451), 0, 'mask is empty'),  # The source's (chelsea's) own size.
    ((20, 16), 255, 'is 20x16 but the source'),
])
def test_clone_reports_bad_mask_files_in_one_line(tmp_path, mask_shape, fill, message):
  mask_path = str(tmp_path / 'mask.png')
  iio.imwrite(mask_path, np.full(mask_shape, fill, np.uint8))
  result = _run_cli('--config=experiments/configs/poisson.py:clone,tiny',
                    f'--config.mask={mask_path}', f'--workdir={tmp_path / "run"}')
  assert result.returncode == 2
  assert result.stderr.strip().splitlines()[-1].startswith('error: ')
  assert message in result.stderr.strip().splitlines()[-1]


@pytest.mark.slow
def test_killed_clone_run_resumes_and_ends_like_an_uninterrupted_one(tmp_path):
  flags = ['--config=experiments/configs/poisson.py:clone,tiny', '--config.rules=normal',
           '--config.local_edit=', '--config.steps=3000', '--config.checkpoint_every=100',
           '--config.log_every=500', '--config.eval_every=1000']
  killed = tmp_path / 'killed'
  kill_after_first_checkpoint('experiments.poisson', flags, killed,
                              killed / 'checkpoints' / 'clone_rgb_normal', timeout=180)
  assert not (killed / 'metrics.json').exists()
  resumed = _run_cli(*flags, f'--workdir={killed}')
  assert resumed.returncode == 0, resumed.stderr[-2000:]
  assert 'Resumed from checkpoint at step' in resumed.stderr
  fresh = _run_cli(*flags, f'--workdir={tmp_path / "fresh"}')
  assert fresh.returncode == 0, fresh.stderr[-2000:]
  a = json.loads((killed / 'metrics.json').read_text())['results']['normal']['siren']
  b = json.loads((tmp_path / 'fresh' / 'metrics.json').read_text())['results']['normal']['siren']
  assert a['resumed_from_step'] > 0 and b['resumed_from_step'] is None
  assert a['steps'] == b['steps'] == 3000
  assert a['psnr_inside_vs_direct'] == b['psnr_inside_vs_direct']
  assert (iio.imread(killed / 'clone_normal_siren_2x.png') ==
          iio.imread(tmp_path / 'fresh' / 'clone_normal_siren_2x.png')).all()
