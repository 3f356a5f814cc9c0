"""experiments.meta.train (``python -m experiments.meta``) on the tiny synthetic config: the
init file and curves it writes, a killed meta-training resuming bit-identically, one-line
errors."""

import json
import subprocess
import sys

import numpy as np
import pytest

from experiments.configs import meta as meta_config
from experiments.meta import train
from siren_jax import init_file
from tests.helpers import kill_after_first_checkpoint, REPO_ROOT, subprocess_env


def _tiny(variant=''):
  return meta_config.get_config('tiny' + (',' + variant if variant else ''))


def _run_cli(*args, timeout=240):
  return subprocess.run([sys.executable, '-m', 'experiments.meta', *args], cwd=REPO_ROOT,
                        env=subprocess_env(), capture_output=True, text=True, timeout=timeout)


@pytest.mark.slow
def test_tiny_meta_training_writes_the_init_file_curves_and_metrics(tmp_path):
  out = train.train(_tiny(), str(tmp_path))
  learned = init_file.load(str(tmp_path / 'init_grey.init'))
  assert learned.model == train.model_spec(_tiny())
  assert learned.trained_on['dataset'] == 'synthetic:train'
  assert learned.trained_on['algorithm'] == 'maml' and learned.trained_on['steps'] == 4
  curves = json.loads((tmp_path / 'curves.json').read_text())
  assert curves['steps'] == [0, 1, 2]
  assert set(curves['learned']) == {'sinusoid_2_0', 'sinusoid_2_1'}
  assert (tmp_path / 'curves.png').stat().st_size > 0
  # Evaluations at steps 0, 2, 4; the random init's curve is the same at each.
  assert [r['step'] for r in out['history']] == [0, 2, 4]
  assert len({r['random_psnr_after_2'] for r in out['history']}) == 1
  # At step 0 the learned init is the random one.
  assert out['history'][0]['psnr_after_2'] == out['history'][0]['random_psnr_after_2']
  np.testing.assert_allclose(curves['learned_mean'][2], out['history'][-1]['psnr_after_2'],
                             rtol=1e-6)


@pytest.mark.slow
def test_reptile_and_rgb_variants_train(tmp_path):
  config = _tiny('meta.algorithm=reptile,colour=rgb,inner.name=sgd,inner.learning_rate=0.01')
  out = train.train(config, str(tmp_path))
  assert init_file.load(str(tmp_path / 'init_rgb.init')).model['out_features'] == 3
  assert out['steps'] == 4 and out['history'][-1]['psnr'] > 0


@pytest.mark.slow
def test_killed_meta_training_resumes_bit_identically(tmp_path):
  flags = ['--config=experiments/configs/meta.py:tiny', '--config.steps=1500',
           '--config.checkpoint_every=50', '--config.log_every=50', '--config.eval_every=1500']
  killed = tmp_path / 'killed'
  kill_after_first_checkpoint('experiments.meta', flags, killed,
                              killed / 'checkpoints' / 'maml_siren_grey', timeout=180)
  assert not (killed / 'init_grey.init').exists()
  resumed = _run_cli(*flags, f'--workdir={killed}')
  assert resumed.returncode == 0, resumed.stderr[-2000:]
  assert 'Resumed from checkpoint at step' in resumed.stderr
  fresh = _run_cli(*flags, f'--workdir={tmp_path / "fresh"}')
  assert fresh.returncode == 0, fresh.stderr[-2000:]
  a = init_file.load(str(killed / 'init_grey.init'))
  b = init_file.load(str(tmp_path / 'fresh' / 'init_grey.init'))
  for x, y in zip(_leaves(a.params), _leaves(b.params)):
    np.testing.assert_array_equal(x, y)
  killed_metrics = json.loads((killed / 'metrics.json').read_text())
  fresh_metrics = json.loads((tmp_path / 'fresh' / 'metrics.json').read_text())
  assert killed_metrics['resumed_from_step'] > 0
  assert killed_metrics['history'] == fresh_metrics['history']


def _leaves(params):
  import jax
  return [np.asarray(leaf) for leaf in jax.tree.leaves(params)]


@pytest.mark.parametrize('assignment, message', [
    ('meta.algorithm=anil', 'config.meta.algorithm must be one of reptile, maml'),
    ('colour=lab', 'config.colour must be one of grey, rgb'),
    ('inner.name=lamb', 'config.inner.name must be one of sgd, adam'),
    ('fit.supervision=laplacian', 'config.fit.supervision must be one of image, gradient'),
    ('meta.inner_pixels=1000', 'config.meta.inner_pixels=1000 must be at most'),
    ('meta.crop_sizes=16,x', 'config.meta.crop_sizes must be comma-separated integers'),
    ('dataset=corpus:test', 'is a test split: never meta-train on it'),
    ('fit.optimizer.learning_rate=-1', 'config.fit.optimizer.learning_rate'),
    ('meta.crop_scale_min=0', 'config.meta.crop_scale_min must be a positive number'),
])
def test_bad_config_values_are_one_line_errors(assignment, message):
  key, _, value = assignment.partition('=')
  config = _tiny()
  group, _, field = key.rpartition('.')
  target = config
  for name in filter(None, group.split('.')):
    target = target[name]
  target[field] = type(target[field])(value) if not isinstance(target[field], str) else value
  with pytest.raises(ValueError, match=message):
    train.check_config(config)


def test_command_line_errors_are_one_line_with_exit_status_2(tmp_path):
  result = _run_cli('--config=experiments/configs/meta.py:tiny', '--config.colour=lab',
                    f'--workdir={tmp_path}')
  assert result.returncode == 2
  assert result.stderr.strip().splitlines()[-1].startswith('error: config.colour must be')
