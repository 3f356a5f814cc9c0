"""A learned init (``--config.init=PATH``, ``siren_jax.init_file``) saved, loaded and used by
every field entry point: fit_image, poisson (grad, clone), resize (compare, upscale whole and in
tiles). Each fit starts from the init's params, its outputs record it, a resume with another init
is refused, and an init of another model is one ``error:`` line before anything is written.

The init used renders a constant: its last layer's kernel is zero and its bias ``LEVEL``, so the
PSNR of the step-0 evaluation is a closed form, 10 log10(4 / mean((image - LEVEL)^2)) on [-1, 1]
images, which no random init comes near.
"""

from __future__ import annotations

import hashlib
import json
import logging
import subprocess
import sys

import jax
import imageio.v3 as iio
import numpy as np
import pytest

from experiments import driver, fit_image_lib, resize_lib
from experiments.configs import common as config_common
from experiments.configs import fit_image as fit_image_config
from experiments.configs import poisson as poisson_config
from experiments.configs import resize as resize_config
from experiments.poisson import clone as clone_lib
from experiments.poisson import train as poisson_train
from siren_jax import images, init_file, inr_file
from siren_jax.models import fields
from tests.helpers import REPO_ROOT, subprocess_env

LEVEL = 0.25


def _constant_psnr(image: np.ndarray, level: float = LEVEL) -> float:
  """PSNR (dB; range 2) of the constant ``level`` against ``image`` in [-1, 1]."""
  return float(10 * np.log10(4.0 / np.mean((np.asarray(image, np.float64) - level) ** 2)))


def _save_constant_init(path: str, spec: dict, level: float = LEVEL) -> str:
  """An init of ``spec`` whose network outputs ``level`` everywhere (hidden layers random)."""
  params = fields.init_params(fields.make_field_model(**spec), jax.random.PRNGKey(11))
  last = sorted(params)[-1]
  params[last] = {'kernel': np.zeros_like(params[last]['kernel']),
                  'bias': np.full_like(params[last]['bias'], level)}
  init_file.save(path, params, model=spec, trained_on={'source': 'a test: constant output'})
  return path


def _init_for(config, tmp_path, channels: int, name: str = 'siren.init', **model) -> str:
  """A constant init of the network ``config`` fits (with ``model`` fields changed)."""
  config = config.copy_and_resolve_references()
  config.model.update(model)
  spec = driver.model_spec(config, 'siren', channels, 32)
  return _save_constant_init(str(tmp_path / name), spec)


def _sha256(path: str) -> str:
  with open(path, 'rb') as f:
    return hashlib.sha256(f.read()).hexdigest()


def _fit_image(**overrides):
  config = fit_image_config.get_config('tiny')
  return config_common.apply_overrides(
      config, {'models': 'siren,relu', 'steps': 1, **overrides}, 'test')


def _poisson(mode: str, **overrides):
  config = poisson_config.get_config(f'{mode},tiny')
  return config_common.apply_overrides(config, {'steps': 1, **overrides}, 'test')


def _resize(task: str, **overrides):
  config = resize_config.get_config(f'{task},tiny')
  return config_common.apply_overrides(config, {'steps': 1, 'steps_per_call': 1, **overrides},
                                       'test')


def _assert_records(record: dict, path: str) -> None:
  assert record['path'] == path and record['sha256'] == _sha256(path)
  assert record['model'] == 'siren' and record['trained_on']['source'].startswith('a test')


@pytest.mark.slow
def test_fit_image_starts_the_inits_model_from_it_and_the_baselines_at_random(tmp_path):
  config = _fit_image()
  path = _init_for(config, tmp_path, channels=1)
  config.init = path
  out = fit_image_lib.train_and_evaluate(config, str(tmp_path / 'run'))
  image = images.load_image(config.image, mode=config.mode, size=config.image_size,
                            resize_method=config.data.resize)
  siren, relu = out['models']['siren'], out['models']['relu']
  assert siren['psnr_history'][0]['step'] == 0
  assert siren['psnr_history'][0]['psnr'] == pytest.approx(_constant_psnr(image), abs=1e-3)
  assert abs(relu['psnr_history'][0]['psnr'] - _constant_psnr(image)) > 0.1
  _assert_records(siren['init'], path)
  assert relu['init'] is None
  written = json.loads((tmp_path / 'run' / 'metrics.json').read_text())
  assert written['models']['siren']['init'] == siren['init']
  assert inr_file.load(str(tmp_path / 'run' / 'siren.inr')).metadata['init'] == siren['init']


@pytest.mark.slow
def test_poisson_grad_fit_starts_from_the_init(tmp_path):
  config = _poisson('grad')
  config.init = path = _init_for(config, tmp_path, channels=1)
  out = poisson_train.train_and_evaluate(config, str(tmp_path / 'run'))
  image = images.load_image(config.image, mode='grey', size=config.image_size,
                            resize_method=config.data.resize)
  # Poisson PSNRs match the field's mean to the image's first: a constant becomes the image's
  # mean, 10 log10(4 / var(image)).
  first = out['results']['grey']['siren']['psnr_history'][0]
  assert first['step'] == 0
  assert first['psnr'] == pytest.approx(_constant_psnr(image, float(np.mean(image))), abs=1e-3)
  _assert_records(out['init'], path)


@pytest.mark.slow
def test_clone_starts_every_rules_fit_from_the_init(tmp_path):
  # One Adam step of 1e-12 moves no parameter by more than ~1e-12: the saved networks are the
  # init's params.
  config = _poisson('clone', local_edit='', **{'optimizer.learning_rate': 1e-12})
  config.init = path = _init_for(config, tmp_path, channels=3)
  out = clone_lib.run(config, str(tmp_path / 'run'))
  init = init_file.load(path)
  for rule in ('normal', 'mixed'):
    network = inr_file.load(str(tmp_path / 'run' / f'clone_{rule}.inr'))
    for fitted, start in zip(jax.tree.leaves(network.params), jax.tree.leaves(init.params)):
      np.testing.assert_allclose(np.asarray(fitted), np.asarray(start), atol=1e-9)
    _assert_records(network.metadata['init'], path)
  _assert_records(out['init'], path)


@pytest.mark.slow
def test_resize_compare_starts_each_factors_fit_from_the_init(tmp_path):
  config = _resize('compare', **{'optimizer.learning_rate': 1e-12})
  config.init = path = _init_for(config, tmp_path, channels=1)
  out = resize_lib.train_and_evaluate(config, str(tmp_path / 'run'))
  truth = images.load_image(config.image, mode=config.mode, size=config.image_size,
                            resize_method=config.data.resize)
  for factor in (4, 2):
    side = config.image_size // factor
    low = truth.reshape(side, factor, side, factor, 1).mean(axis=(1, 3))
    assert out['factors'][f'x{factor}']['fit_psnr_on_low_res'] == pytest.approx(
        _constant_psnr(low), abs=1e-3)
    network = inr_file.load(str(tmp_path / 'run' / f'siren_x{factor}.inr'))
    assert network.metadata['init'] == out['init']
  _assert_records(out['init'], path)


@pytest.mark.slow
def test_resize_compare_over_photos_starts_every_fit_from_the_init(tmp_path):
  rng = np.random.default_rng(5)
  for name in ('a.png', 'b.png'):
    images.save_png(str(tmp_path / 'photos' / name), rng.uniform(-1, 1, (32, 40, 3)))
  config = _resize('compare', **{'optimizer.learning_rate': 1e-12, 'steps': 1})
  config.update({'photos': f'folder:{tmp_path / "photos"}', 'image_size': 32, 'mode': 'rgb'})
  config.init = _init_for(config, tmp_path, channels=3)
  out = resize_lib.train_and_evaluate(config, str(tmp_path / 'run'))
  for name in ('a.png', 'b.png'):
    truth = resize_lib.photo_truth(iio.imread(tmp_path / 'photos' / name), 32)
    assert set(out['scores'][name]['x2']) >= {'siren_init', 'lanczos'}
    for factor in (4, 2):
      low = resize_lib.classical_resize(truth, 32 // factor, 32 // factor, 'bicubic')
      assert out['fits'][name][f'x{factor}']['fit_psnr_on_low_res'] == pytest.approx(
          _constant_psnr(low), abs=1e-3)
  # A grey init cannot start these RGB fits: one line, nothing written.
  config.init = _init_for(config, tmp_path, channels=1, name='grey.init')
  with pytest.raises(ValueError, match='out_features') as e:
    resize_lib.train_and_evaluate(config, str(tmp_path / 'other'))
  assert '\n' not in str(e.value) and not (tmp_path / 'other').exists()


@pytest.fixture(scope='module')
def small_png(tmp_path_factory):
  path = str(tmp_path_factory.mktemp('input') / 'small.png')
  images.save_png(path, images.load_image('camera', mode='grey', size=(20, 28)))
  return path


@pytest.mark.slow
@pytest.mark.parametrize('tile_size', [0, 12])
def test_upscale_starts_the_fit_and_every_tile_from_the_init(small_png, tmp_path, tile_size):
  config = _resize('upscale', input=small_png, mode='grey', tile_size=tile_size, tile_overlap=4,
                   output=str(tmp_path / 'big.png'))
  config.init = path = _init_for(config, tmp_path, channels=1)
  out = resize_lib.train_and_evaluate(config, str(tmp_path / 'run'))
  if tile_size:
    assert out['num_tiles'] == 6  # 20x28 in tiles of 12 overlapping by 4: 2 x 3.
  # Every tile renders LEVEL, and so does their blend.
  first = out['psnr_history'][0]
  assert first['step'] == 0
  assert first['psnr'] == pytest.approx(_constant_psnr(images.load_image(small_png)), abs=1e-3)
  _assert_records(out['init'], path)
  assert inr_file.load(out['network']).metadata['init'] == out['init']


def _entry_points(tmp_path):
  """(name, config, run) of every field entry point on its tiny config, one step."""
  return [('fit_image', _fit_image(), fit_image_lib.train_and_evaluate),
          ('poisson', _poisson('grad'), poisson_train.train_and_evaluate),
          ('clone', _poisson('clone'), clone_lib.run),
          ('compare', _resize('compare'), resize_lib.train_and_evaluate),
          ('upscale', _resize('upscale', input='camera', mode='grey', tile_size=128),
           resize_lib.train_and_evaluate)]


def test_an_init_of_another_model_is_refused_before_anything_is_written(tmp_path):
  for name, config, run in _entry_points(tmp_path):
    channels = 3 if name == 'clone' else 1
    config.init = _init_for(config, tmp_path, channels, f'{name}.init', hidden_features=16)
    workdir = tmp_path / name
    with pytest.raises(ValueError, match=r"config.init: learned init '.*' is for another model: "
                                         r'hidden_features: init 16 != config 32;') as error:
      run(config, str(workdir))
    assert '\n' not in str(error.value)
    assert not workdir.exists(), name


def test_missing_and_foreign_init_files_are_refused_before_anything_is_written(tmp_path):
  foreign = tmp_path / 'foreign.init'
  foreign.write_bytes(b'not an init')
  for name, config, run in _entry_points(tmp_path):
    for path, error, message in (
        (str(tmp_path / 'missing.init'), FileNotFoundError, 'learned-init file not found'),
        (str(foreign), ValueError, 'not a siren_jax learned-init file')):
      config.init = path
      with pytest.raises(error, match=f'config.init: .*{message}'):
        run(config, str(tmp_path / name))
      assert not (tmp_path / name).exists(), name


def test_fit_image_refuses_an_init_for_a_model_it_does_not_fit(tmp_path):
  config = _fit_image(models='relu,tanh')
  config.init = _init_for(config, tmp_path, channels=1)
  with pytest.raises(ValueError, match=r"is an init for siren but config.models \('relu,tanh'\) "
                                       r'does not list siren'):
    fit_image_lib.train_and_evaluate(config, str(tmp_path / 'run'))
  assert not (tmp_path / 'run').exists()


def test_an_upscale_without_a_fit_refuses_an_init(tmp_path):
  config = _resize('upscale', input=str(tmp_path / 'fitted.inr'))
  config.init = _init_for(config, tmp_path, channels=1)
  with pytest.raises(ValueError, match='config.init starts a fit, and this upscale fits nothing'):
    resize_lib.train_and_evaluate(config, str(tmp_path / 'run'))


def test_an_init_learned_on_small_crops_starts_a_larger_image(tmp_path):
  """The spec's num_frequencies follows the image size; a SIREN ignores it (init_file)."""
  config = _fit_image(models='siren')
  config.init = _init_for(config, tmp_path, channels=1)  # Learned for 32-pixel images.
  init = driver.load_init(config)
  driver.check_init(config, init, driver.model_spec(config, 'siren', 1, 512), (512, 512))


def test_an_init_used_at_another_size_than_it_was_learned_at_is_a_warning(tmp_path, caplog):
  config = _fit_image(models='siren')
  spec = driver.model_spec(config, 'siren', 1, 32)
  path = str(tmp_path / 'crops.init')
  init_file.save(path, fields.init_params(fields.make_field_model(**spec), jax.random.PRNGKey(0)),
                 model=spec, trained_on={'crop_sizes': [32]})
  config.init = path
  init = driver.load_init(config)
  with caplog.at_level(logging.WARNING, logger='absl'):
    driver.check_init(config, init, spec, (32, 32))
  assert not [r for r in caplog.records if 'pixel crops' in r.getMessage()]
  with caplog.at_level(logging.WARNING, logger='absl'):
    driver.check_init(config, init, driver.model_spec(config, 'siren', 1, 128), (128, 96))
  (warning,) = [r.getMessage() for r in caplog.records if 'pixel crops' in r.getMessage()]
  assert warning.startswith('config.init: the init was learned on 32-pixel crops')
  assert '128x96' in warning


@pytest.mark.slow
def test_resuming_with_another_init_is_refused(tmp_path):
  config = _fit_image(models='siren')
  config.init = _init_for(config, tmp_path, channels=1)
  fit_image_lib.train_and_evaluate(config, str(tmp_path / 'run'))
  other = _save_constant_init(str(tmp_path / 'other.init'), init_file.load(config.init).model,
                              level=-0.5)
  for init in (other, ''):
    config.init, config.steps = init, 2
    with pytest.raises(ValueError, match=r'holds checkpoints \(steps 1\) of a different run '
                                         r'\(init: '):
      fit_image_lib.train_and_evaluate(config, str(tmp_path / 'run'))


@pytest.mark.slow
def test_a_run_from_an_init_resumes_bit_identically(tmp_path):
  config = _fit_image(models='siren', steps=4, checkpoint_every=2, eval_every=2, log_every=2)
  config.init = _init_for(config, tmp_path, channels=1)
  fresh = fit_image_lib.train_and_evaluate(config, str(tmp_path / 'fresh'))['models']['siren']
  config.steps = 2
  fit_image_lib.train_and_evaluate(config, str(tmp_path / 'resumed'))
  config.steps = 4
  resumed = fit_image_lib.train_and_evaluate(config, str(tmp_path / 'resumed'))['models']['siren']
  assert (resumed['resumed_from_step'], fresh['resumed_from_step']) == (2, None)
  assert resumed['psnr_history'][-1] == fresh['psnr_history'][-1]
  networks = [inr_file.load(str(tmp_path / run / 'siren.inr')) for run in ('fresh', 'resumed')]
  for a, b in zip(*(jax.tree.leaves(n.params) for n in networks)):
    np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


@pytest.mark.slow
@pytest.mark.parametrize('case, message', [
    ('rgb', 'out_features: init 3 != config 1'),  # An RGB init for a grey fit.
    ('missing', 'config.init: learned-init file not found'),
])
def test_cli_reports_a_bad_init_in_one_error_line(tmp_path, case, message):
  path = (_init_for(_fit_image(), tmp_path, channels=3) if case == 'rgb'
          else str(tmp_path / 'missing.init'))
  result = subprocess.run(
      [sys.executable, '-m', 'experiments.fit_image',
       '--config=experiments/configs/fit_image.py:tiny', f'--config.init={path}',
       f'--workdir={tmp_path / "run"}'],
      cwd=REPO_ROOT, env=subprocess_env(), capture_output=True, text=True, timeout=240)
  assert result.returncode == 2, result.stderr[-2000:]
  error_lines = [l for l in result.stderr.splitlines() if l.startswith('error:')]
  assert len(error_lines) == 1 and message in error_lines[0], result.stderr[-2000:]
  assert 'Traceback' not in result.stderr
  assert not (tmp_path / 'run').exists()
