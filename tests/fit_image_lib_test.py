"""experiments.fit_image_lib (``python -m experiments.fit_image``) end to end on tiny configs:
outputs, resume after a kill, clear errors."""

import json
import os
import subprocess
import sys

import jax
import numpy as np
import pytest

from experiments import fit_image_lib
from experiments.configs import fit_image as fit_image_config
from siren_jax import checkpoints, training
from tests.helpers import kill_after_first_checkpoint, REPO_ROOT, subprocess_env


def _run_cli(*args, timeout=240):
  env = subprocess_env()
  return subprocess.run([sys.executable, '-m', 'experiments.fit_image', *args], cwd=REPO_ROOT,
                        env=env, capture_output=True, text=True, timeout=timeout)


def _tiny(**overrides):
  config = fit_image_config.get_config('tiny')
  config.update(overrides)
  return config


@pytest.mark.slow
def test_tiny_run_writes_every_output(tmp_path):
  out = fit_image_lib.train_and_evaluate(_tiny(models='siren,relu'), str(tmp_path))
  for name in ('figure.png', 'psnr.png', 'metrics.json'):
    assert (tmp_path / name).stat().st_size > 0
  assert os.listdir(tmp_path / 'tb')
  assert os.listdir(tmp_path / 'checkpoints' / 'siren')
  written = json.loads((tmp_path / 'metrics.json').read_text())
  assert set(written['models']) == {'siren', 'relu'}
  siren = written['models']['siren']
  assert siren['steps'] == 20 and siren['seconds_per_step'] > 0
  assert [r['step'] for r in siren['psnr_history']] == [0, 10, 20]
  assert out['models']['siren']['psnr'] == pytest.approx(siren['psnr'])


@pytest.mark.slow
def test_siren_is_far_ahead_of_the_baselines_at_equal_steps(tmp_path):
  # The README's claim at a size the test suite can afford: 32x32 cameraman, width 64.
  config = _tiny(steps=150, model={'hidden_features': 64, 'hidden_layers': 3}, eval_every=150,
                 log_every=150, checkpoint_every=0)
  psnr = {k: v['psnr'] for k, v in fit_image_lib.train_and_evaluate(config, str(tmp_path))
          ['models'].items()}
  for baseline in ('relu', 'relu_pe', 'tanh'):
    assert psnr['siren'] > psnr[baseline] + 8.0, psnr


@pytest.mark.slow
def test_killed_run_resumes_from_its_checkpoint_and_ends_like_an_uninterrupted_one(tmp_path):
  flags = ['--config=experiments/configs/fit_image.py:tiny', '--config.models=siren',
           '--config.steps=4000', '--config.checkpoint_every=100', '--config.log_every=100',
           '--config.eval_every=1000']
  killed_dir = tmp_path / 'killed'
  kill_after_first_checkpoint('experiments.fit_image', flags, killed_dir,
                              killed_dir / 'checkpoints' / 'siren', timeout=180)
  assert not (killed_dir / 'metrics.json').exists()

  resumed = _run_cli(*flags, f'--workdir={killed_dir}')
  assert resumed.returncode == 0, resumed.stderr[-2000:]
  assert 'Resumed from checkpoint at step' in resumed.stderr
  fresh = _run_cli(*flags, f'--workdir={tmp_path / "fresh"}')
  assert fresh.returncode == 0, fresh.stderr[-2000:]

  killed_metrics = json.loads((killed_dir / 'metrics.json').read_text())['models']['siren']
  fresh_metrics = json.loads((tmp_path / 'fresh' / 'metrics.json').read_text())['models']['siren']
  assert killed_metrics['resumed_from_step'] > 0 and fresh_metrics['resumed_from_step'] is None
  assert killed_metrics['psnr'] == fresh_metrics['psnr']
  assert killed_metrics['psnr_history'] == fresh_metrics['psnr_history']

  def final_params(workdir):
    template = training.TrainState.create(apply_fn=None, params=_tiny_params(), tx=_adam())
    manager = checkpoints.make_manager(str(workdir / 'checkpoints' / 'siren'))
    state, _ = checkpoints.restore_latest(manager, template)
    manager.close()
    return state

  a, b = final_params(killed_dir), final_params(tmp_path / 'fresh')
  assert int(a.step) == int(b.step) == 4000
  for x, y in zip(jax.tree.leaves(a.params), jax.tree.leaves(b.params)):
    np.testing.assert_array_equal(np.asarray(x), np.asarray(y))


def _adam():
  import optax
  return optax.adam(_tiny().optimizer.learning_rate)


def _tiny_params():
  from experiments import driver
  return driver.field_state(_tiny(), driver.model_spec(_tiny(), 'siren', 1, 32)).params


@pytest.mark.parametrize('flag, message', [
    ('--config.image=/no/such/file.png', 'image not found'),
    ('--config.image=cameraman', 'built-in image'),
    ('--config.models=siren,gelu', "unknown model 'gelu'"),
    ('--config.steps=0', 'config.steps must be a positive number'),
    ('--config.optimizer.learning_rate=-1',
     'config.optimizer.learning_rate must be a positive number'),
    ('--config.mode=cmyk', 'config.mode must be one of'),
    ('--config.steps_per_call=3', 'must be a multiple of config.steps_per_call'),
])
@pytest.mark.slow
def test_bad_input_exits_with_one_clear_line(tmp_path, flag, message):
  result = _run_cli('--config=experiments/configs/fit_image.py:tiny', flag,
                    f'--workdir={tmp_path}')
  assert result.returncode == 2, result.stderr[-2000:]  # The README promises status 2.
  error_lines = [l for l in result.stderr.splitlines() if l.startswith('error:')]
  assert len(error_lines) == 1 and message in error_lines[0], result.stderr[-2000:]
  assert 'Traceback' not in result.stderr


def test_unreadable_image_file_is_a_clear_error(tmp_path):
  bad = tmp_path / 'broken.png'
  bad.write_bytes(b'\x89PNG garbage')
  result = _run_cli('--config=experiments/configs/fit_image.py:tiny', f'--config.image={bad}',
                    f'--workdir={tmp_path / "w"}')
  assert result.returncode == 2 and 'error: cannot read image' in result.stderr
  assert 'Traceback' not in result.stderr
