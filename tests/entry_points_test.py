"""Entry points as the ecosystem's behave (experiments/common.py): config files found from any
directory, bad inputs as one line and exit 2, --help listing the run's flags, config.json before
the first step, progress lines with an ETA, TensorBoard images and profiler traces."""

from __future__ import annotations

import gzip
import json
import logging
import os
import struct
import subprocess
import sys

import ml_collections
import numpy as np
import pytest
from tensorboardX.proto import event_pb2

from experiments import common, fit_image_lib
from experiments.configs import fit_image as fit_image_config
from siren_jax import images, inr_file, training
from tests.helpers import subprocess_env

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CONFIGS = os.path.join(REPO_ROOT, 'experiments', 'configs')


# Config files.

@pytest.mark.parametrize('given', ['experiments/configs/fit_image.py', 'configs/fit_image.py',
                                   'fit_image.py'])
def test_config_paths_resolve_relative_to_the_experiments_package_from_any_directory(
    tmp_path, monkeypatch, given):
  monkeypatch.chdir(tmp_path)
  assert common.resolve_config(f'{given}:tiny,steps=3') == (
      f'{os.path.join(CONFIGS, "fit_image.py")}:tiny,steps=3')


def test_a_config_path_relative_to_the_current_directory_comes_first(tmp_path, monkeypatch):
  monkeypatch.chdir(tmp_path)
  (tmp_path / 'fit_image.py').write_text('def get_config():\n  return None\n')
  assert common.resolve_config('fit_image.py') == str(tmp_path / 'fit_image.py')
  # The default config is never taken from the current directory.
  assert common.resolve_config('fit_image.py', search_cwd=False) == os.path.join(
      CONFIGS, 'fit_image.py')


def test_resolve_config_flag_rewrites_both_flag_forms_and_nothing_else(tmp_path, monkeypatch):
  monkeypatch.chdir(tmp_path)
  argv = ['prog', '--config=fit_image.py:tiny', '--config.steps=3', '--workdir', 'w']
  assert common.resolve_config_flag(argv) == [
      'prog', f'--config={CONFIGS}/fit_image.py:tiny', '--config.steps=3', '--workdir', 'w']
  assert common.resolve_config_flag(['prog', '--config', 'poisson.py:grad']) == [
      'prog', '--config', f'{CONFIGS}/poisson.py:grad']


def test_bad_config_files_are_one_line_errors(tmp_path):
  with pytest.raises(FileNotFoundError, match=r"config file not found: 'nope.py' \(looked in"):
    common.resolve_config('nope.py')
  with pytest.raises(IsADirectoryError, match='is a directory; give a config file'):
    common.resolve_config(CONFIGS)
  broken = tmp_path / 'broken.py'
  broken.write_text('import ml_collections\n\ndef get_config(:\n  pass\n')
  with pytest.raises(ValueError, match=r"broken.py' line 3: invalid syntax"):
    common.resolve_config(str(broken))


# Bad inputs on the command line: one line, exit 2, no workdir.

def _broken_config(tmp_path) -> str:
  path = tmp_path / 'broken.py'
  path.write_text('def get_config(:\n')
  return str(path)


@pytest.mark.parametrize('flags, message', [
    (['--config=nope.py'], "error: config file not found: 'nope.py'"),
    (['--config=experiments/configs'], "error: --config='experiments/configs' is a directory"),
    (['--config=BROKEN'], "error: config file 'BROKEN' line 1: invalid syntax"),
    (['--config.image_size=100000'],
     'error: config.image_size=100000 asks for 100000x100000 = 10,000,000,000 pixels, over the '
     'limit of 16,777,216 (4096 squared)'),
    (['--config.profile_steps=5,2'],
     "error: config.profile_steps must be FIRST,LAST with 0 <= FIRST < LAST (the optimiser "
     "steps to trace), got '5,2'"),
    (['--config.sine=fast'], "error: config.sine must be one of auto, fast_sine, jnp, got 'fast'"),
], ids=['missing', 'directory', 'syntax', 'image_size', 'profile_steps', 'sine'])
def test_bad_inputs_are_one_error_line_exit_2_and_write_nothing(tmp_path, flags, message):
  broken = _broken_config(tmp_path)
  flags = [f.replace('BROKEN', broken) for f in flags]
  workdir = tmp_path / 'work'
  result = subprocess.run(
      [sys.executable, '-m', 'experiments.fit_image', *flags, f'--workdir={workdir}'],
      cwd=REPO_ROOT, capture_output=True, text=True, timeout=120, env=subprocess_env())
  assert result.returncode == 2, result.stderr[-2000:]
  lines = result.stderr.strip().splitlines()
  assert lines[-1].startswith(message.replace('BROKEN', broken)), lines[-1]
  assert [line for line in lines if line.startswith('error:')] == lines[-1:]
  assert 'Traceback' not in result.stderr and not workdir.exists()


def test_help_lists_the_flags_of_every_run():
  result = subprocess.run([sys.executable, '-m', 'experiments.poisson', '--help'], cwd=REPO_ROOT,
                          capture_output=True, text=True, timeout=120, env=subprocess_env())
  assert result.returncode == 1 and not result.stderr  # absl's --help exits 1.
  for flag in ('--workdir', '--config', '--[no]distributed', '--coordinator_address',
               '--num_processes', '--process_id'):
    assert f'  {flag}:' in result.stdout, result.stdout


@pytest.mark.slow
def test_an_entry_point_started_from_another_directory_runs_its_default_config(tmp_path):
  # No --config: the default, found through the package; tiny by overrides.
  workdir = tmp_path / 'work'
  result = subprocess.run(
      [sys.executable, '-m', 'experiments.fit_image', '--config.models=siren',
       '--config.image_size=32', '--config.model.hidden_features=16', '--config.model.hidden_layers=1',
       '--config.steps=4', '--config.eval_every=2', '--config.log_every=2',
       '--config.checkpoint_every=2', f'--workdir={workdir}'],
      cwd=tmp_path, capture_output=True, text=True, timeout=300, env=subprocess_env())
  assert result.returncode == 0, result.stderr[-3000:]
  with open(workdir / 'config.json') as f:
    record = json.load(f)
  assert record['config']['image'] == 'camera' and record['config']['steps'] == 4
  # 2 -> 16 -> 16 -> 1: (2 * 16 + 16) + (16 * 16 + 16) + (16 * 1 + 1) = 48 + 272 + 17.
  assert record['parameters'] == {'siren': 337}
  assert record['devices']['platform'] == 'cpu' and record['versions']['jax']
  with open(workdir / 'metrics.json') as f:
    assert json.load(f)['models']['siren']['steps'] == 4
  assert '[siren] step 4/4' in result.stderr and 'eta' in result.stderr


# What a run writes to watch it.

def _events(directory) -> list[event_pb2.Event]:
  """Every record of the TensorBoard event files in ``directory`` (TFRecord framing)."""
  events = []
  for name in sorted(os.listdir(directory)):
    data, offset = (directory / name).read_bytes(), 0
    while offset < len(data):
      (length,) = struct.unpack('<Q', data[offset:offset + 8])
      events.append(event_pb2.Event.FromString(data[offset + 12:offset + 12 + length]))
      offset += 12 + length + 4
  return events


@pytest.mark.slow
def test_fit_image_writes_config_first_images_to_tensorboard_pngs_networks_and_a_trace(
    tmp_path, monkeypatch):
  config = fit_image_config.get_config('tiny')
  config.update({'models': 'siren', 'steps': 6, 'eval_every': 3, 'log_every': 3,
                 'checkpoint_every': 3, 'profile_steps': '2,4'})
  seen = []
  real_loop = training.train_loop

  def loop(*args, **kwargs):
    seen.append(sorted(os.listdir(tmp_path)))
    return real_loop(*args, **kwargs)

  monkeypatch.setattr(training, 'train_loop', loop)
  output = fit_image_lib.train_and_evaluate(config, str(tmp_path))
  assert seen and 'config.json' in seen[0]  # Before the first step.

  events = _events(tmp_path / 'tb')
  shown = {(e.step, v.tag) for e in events for v in e.summary.value if v.HasField('image')}
  assert shown == {(step, f'siren/images/{name}') for step in (0, 3, 6)
                   for name in ('fit', 'grad_magnitude', 'laplacian')}

  # The PNG is the network's rendering in 8 bits; the network re-renders it.
  png = images.load_image(str(tmp_path / 'siren.png'))
  rendered = inr_file.load(str(tmp_path / 'siren.inr')).render(32, 32)
  np.testing.assert_allclose(png, np.clip(rendered, -1, 1), atol=1.01 / 255)
  assert output['models']['siren']['psnr'] > 5

  traces = [os.path.join(d, n) for d, _, names in os.walk(tmp_path / 'profile' / 'siren')
            for n in names]
  assert any(t.endswith('.xplane.pb') for t in traces), traces
  (trace,) = [t for t in traces if t.endswith('.trace.json.gz')]
  with gzip.open(trace) as f:
    assert json.load(f)['traceEvents']


# Progress lines.

def test_eta_from_the_rate_since_the_first_progress_line():
  now = [100.0]
  eta = common.Eta(total=100, clock=lambda: now[0])
  assert eta(10, steps_per_sec=2.0) == pytest.approx(45.0)  # (100 - 10) / 2.
  now[0] = 110.0
  assert eta(30, steps_per_sec=50.0) == pytest.approx(35.0)  # 70 steps at 10 s / 20 steps.
  assert eta(30) == pytest.approx(35.0)
  assert common.Eta(total=5)(1) is None  # No rate yet.


@pytest.mark.parametrize('seconds, text', [(0.4, '0s'), (4.6, '5s'), (65, '1m05s'),
                                           (3725.2, '1h02m05s')])
def test_format_duration(seconds, text):
  assert common.format_duration(seconds) == text


def test_progress_lines_end_with_the_eta(caplog):
  # The absl logger's own level too: an entry point run earlier in this process may have
  # raised it.
  with caplog.at_level(logging.INFO, logger='absl'):
    common.log_progress('siren', 100, 500, {'loss': 0.00123}, eta_seconds=125)
  assert caplog.records[-1].getMessage() == '[siren] step 100/500  loss=0.00123  eta 2m05s'


@pytest.mark.slow  # Builds and installs the wheel (installed_wheel: once per process).
def test_installed_entry_points_run_from_any_directory_with_their_packaged_configs(
    installed_wheel, tmp_path):
  venv, python, env = installed_wheel.venv, installed_wheel.python, installed_wheel.env
  elsewhere = tmp_path / 'elsewhere'
  elsewhere.mkdir()
  result = subprocess.run(
      [python, '-m', 'experiments.fit_image', '--config=fit_image.py:tiny',
       '--config.models=siren', '--config.steps=2', '--config.eval_every=2',
       '--config.log_every=2', '--config.checkpoint_every=2', '--workdir=w'],
      cwd=elsewhere, capture_output=True, text=True, timeout=300,
      env={**env, 'JAX_PLATFORMS': 'cpu'})
  assert result.returncode == 0, result.stderr[-3000:]
  with open(elsewhere / 'w' / 'config.json') as f:
    assert json.load(f)['versions']['siren_jax'] == '0.2.0'
  assert f'{venv}' in result.stderr  # The config came from the installed package.


def test_train_or_evaluate_checks_the_config_then_runs_the_task_it_names():
  calls = []
  def check(config):
    calls.append('check')
    if config.task not in ('train', 'evaluate'):
      raise ValueError('bad task')
  run = common.train_or_evaluate(check, lambda c, w: calls.append(('train', w)) or {'ran': 'train'},
                                 lambda c, w: calls.append(('evaluate', w)) or {'ran': 'evaluate'})
  assert run(ml_collections.ConfigDict({'task': 'evaluate'}), 'W') == {'ran': 'evaluate'}
  assert run(ml_collections.ConfigDict({'task': 'train'}), 'V') == {'ran': 'train'}
  assert calls == ['check', ('evaluate', 'W'), 'check', ('train', 'V')]
  with pytest.raises(ValueError, match='bad task'):  # Checked before either runs.
    run(ml_collections.ConfigDict({'task': 'other'}), 'X')
  assert len(calls) == 5
  # A third task by name, beside the two.
  with_combine = common.train_or_evaluate(
      lambda config: calls.append('check'), lambda c, w: {'ran': 'train'},
      lambda c, w: {'ran': 'evaluate'}, combine=lambda c, w: {'ran': 'combine'})
  assert with_combine(ml_collections.ConfigDict({'task': 'combine'}), 'Y') == {'ran': 'combine'}
  assert with_combine(ml_collections.ConfigDict({'task': 'train'}), 'Y') == {'ran': 'train'}
  assert calls[-2:] == ['check', 'check']
