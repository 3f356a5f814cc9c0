"""experiments.meta.evaluate: the learned vs random comparison worked by hand on given curves,
the tiny end to end run (its random fit is the normal Adam fit, checked against an independent
loop; its finished fits restored in another workdir, for another init), and a learned init for
another model as one error line."""

import json
import shutil
import subprocess
import sys

import jax
import numpy as np
import optax
import pytest

from experiments.configs import meta as meta_config
from experiments.meta import evaluate, train
from siren_jax import fitting, grids, metrics, models, poisson, render, training
from siren_jax.models import fields
from tests.helpers import REPO_ROOT, subprocess_env


def _run(psnr, seconds=None):
  return {'steps': list(range(len(psnr))), 'psnr': psnr,
          'train_seconds': seconds or [float(i) for i in range(len(psnr))]}


def test_compare_finds_the_steps_to_the_random_inits_final_psnr():
  learned = _run([20.0, 25.0, 31.0, 33.0, 34.0], [0.0, 2.0, 3.0, 4.0, 5.0])
  random = _run([10.0, 15.0, 20.0, 26.0, 30.0])
  row = evaluate.compare(learned, random, [1, 4])
  assert row['target_psnr'] == 30.0
  assert row['learned'] == {'psnr_after_1': 25.0, 'psnr_after_4': 34.0, 'steps_to_target': 2,
                            'seconds_to_target': 3.0}
  assert row['random']['steps_to_target'] == 4
  never = evaluate.compare(_run([5.0, 6.0, 7.0, 8.0, 9.0]), random, [1])
  assert never['learned']['steps_to_target'] is None


def test_summary_is_mean_and_sample_std_over_photos_and_seeds():
  rows = [evaluate.compare(_run([20.0, 31.0]), _run([10.0, 30.0]), [1]),
          evaluate.compare(_run([20.0, 21.0]), _run([10.0, 30.0]), [1])]
  stats = evaluate.summary(rows, [1])
  assert stats['learned']['psnr_after_1']['mean'] == pytest.approx(26.0)
  assert stats['learned']['psnr_after_1']['std'] == pytest.approx(np.sqrt(50.0))  # ddof 1.
  assert stats['learned']['reached'] == 1 and stats['random']['reached'] == 2
  assert stats['learned_within_tenth'] == 0  # 1 step is not <= 1 / 10 of 1.
  assert 'mean ± std (2)' in evaluate.results_table(
      [{'photo': 'a', 'seed': 0, **r} for r in rows], stats, [1])


@pytest.fixture(scope='module')
def tiny_init(tmp_path_factory):
  workdir = tmp_path_factory.mktemp('meta_train')
  train.train(meta_config.get_config('tiny'), str(workdir))
  return str(workdir / 'init_grey.init')


@pytest.mark.slow
def test_tiny_evaluation_compares_every_photo_and_seed(tmp_path, tiny_init):
  config = meta_config.get_config('evaluate,tiny')
  config.init, config.seeds, config.max_photos = tiny_init, '0,1', 2
  out = evaluate.evaluate(config, str(tmp_path))
  assert [(r['photo'], r['seed']) for r in out['rows']] == [
      ('sinusoid_3_0', 0), ('sinusoid_3_0', 1), ('sinusoid_3_1', 0), ('sinusoid_3_1', 1)]
  assert 'mean ± std (4)' in (tmp_path / 'results.md').read_text()
  assert (tmp_path / 'psnr.png').stat().st_size > 0
  written = json.loads((tmp_path / 'metrics.json').read_text())
  assert written['summary']['rows'] == 4
  # The random fit is the normal fit: Adam 1e-4 on the full image from the seed's init.
  random = written['runs']['photo01_random_s1']
  image = train.views(config, train.open_photos(config, config.test_dataset))[1][1]
  spec = train.model_spec(config)
  model = fields.make_field_model(**spec)
  state = training.TrainState.create(
      apply_fn=models.apply_fn(model), params=fields.init_params(model, jax.random.PRNGKey(1)),
      tx=optax.adam(1e-4))
  coords, values = grids.image_to_samples(image)
  step = training.make_train_step(fitting.image_loss, steps_per_call=config.fit.steps)
  state, _ = step(state, {'coords': coords, 'values': values})
  fit = render.render(state.apply_fn, state.params, *image.shape[:2])
  assert random['steps'] == list(range(config.fit.steps + 1))
  np.testing.assert_allclose(random['psnr'][-1], float(metrics.psnr(fit, image)), rtol=1e-5)
  # One named photo in the same workdir: its fits are the full run's, restored, not refitted.
  config.photos = 'sinusoid_3_1'
  again = evaluate.evaluate(config, str(tmp_path))
  assert [(r['photo'], r['seed']) for r in again['rows']] == [('sinusoid_3_1', 0),
                                                              ('sinusoid_3_1', 1)]
  assert again['rows'] == out['rows'][2:]
  restored = again['runs']['photo01_random_s1']
  assert (restored['psnr'], restored['train_seconds']) == (random['psnr'],
                                                           random['train_seconds'])
  assert restored['seconds_per_step'] is None  # Restored whole: no step ran.


@pytest.mark.slow
def test_another_init_restores_random_fits_copied_from_a_finished_evaluation(
    tmp_path, tiny_init):
  config = meta_config.get_config('evaluate,tiny')
  config.init, config.max_photos = tiny_init, 1
  first = evaluate.evaluate(config, str(tmp_path / 'first'))
  other = meta_config.get_config('tiny')
  other.seed = 1
  train.train(other, str(tmp_path / 'other'))
  # The random fits depend on the seed, the photo and config.fit, not on the init: copied into
  # a fresh workdir, they are restored (their fingerprints match) and only the learned fit runs.
  shutil.copytree(tmp_path / 'first' / 'checkpoints' / 'photo00_random_s0',
                  tmp_path / 'second' / 'checkpoints' / 'photo00_random_s0')
  config.init = str(tmp_path / 'other' / 'init_grey.init')
  second = evaluate.evaluate(config, str(tmp_path / 'second'))
  random, restored = first['runs']['photo00_random_s0'], second['runs']['photo00_random_s0']
  assert (restored['psnr'], restored['train_seconds']) == (random['psnr'],
                                                           random['train_seconds'])
  assert restored['seconds_per_step'] is None  # Restored whole: no step ran.
  learned = second['runs']['photo00_learned']
  assert learned['seconds_per_step'] is not None  # Fitted from the other init.
  assert learned['psnr'] != first['runs']['photo00_learned']['psnr']
  assert second['rows'][0]['target_psnr'] == first['rows'][0]['target_psnr']
  # A random fit of another seed is another run: its copy is refused, not silently reused.
  shutil.copytree(tmp_path / 'first' / 'checkpoints' / 'photo00_random_s0',
                  tmp_path / 'third' / 'checkpoints' / 'photo00_random_s1')
  config.seeds = '1'
  with pytest.raises(ValueError, match='seed: 0 there, 1 here'):
    evaluate.evaluate(config, str(tmp_path / 'third'))


def test_photos_selects_test_photos_by_name_keeping_their_index():
  config = meta_config.get_config('evaluate,tiny')
  photos = train.open_photos(config, config.test_dataset)
  everything = evaluate.selected_views(config, photos)
  assert [(i, name) for i, name, _ in everything] == [
      (i, f'sinusoid_3_{i}') for i in range(len(photos))]
  config.photos = 'sinusoid_3_3, sinusoid_3_1'
  chosen = evaluate.selected_views(config, photos)
  assert [(i, name) for i, name, _ in chosen] == [(1, 'sinusoid_3_1'), (3, 'sinusoid_3_3')]
  np.testing.assert_array_equal(chosen[1][2], everything[3][2])
  config.photos, config.max_photos = 'sinusoid_3_3', 2
  with pytest.raises(ValueError, match=r"config.photos: 'sinusoid_3_3' names 0 of the first 2 "
                     r'test photos \(config.max_photos=2\) \(sinusoid_3_0, sinusoid_3_1\)'):
    evaluate.selected_views(config, photos)
  config.photos = ' , '
  with pytest.raises(ValueError, match="config.photos=' , ' names no photo"):
    evaluate.selected_views(config, photos)


def test_photos_are_named_by_their_file_stem_when_it_is_unique():
  config = meta_config.get_config('evaluate,tiny')

  class Photos(list):
    names = ['a/coffee.png', 'b/Path/2560x1600.jpg', 'c/Glow/2560x1600.jpg']

  photos = Photos(np.zeros((3, 8, 8, 3), np.uint8))
  config.photos = 'coffee,c/Glow/2560x1600.jpg'
  assert [i for i, _, _ in evaluate.selected_views(config, photos)] == [0, 2]
  config.photos = '2560x1600'
  with pytest.raises(ValueError, match="'2560x1600' names 2 of the 3 test photos"):
    evaluate.selected_views(config, photos)


def test_gradient_supervised_evaluation_is_the_poisson_fit_scored_after_matching_the_mean(
    tmp_path, tiny_init):
  config = meta_config.get_config('evaluate,tiny')
  config.init, config.max_photos, config.fit.supervision = tiny_init, 1, 'gradient'
  out = evaluate.evaluate(config, str(tmp_path))
  random = out['runs']['photo00_random_s0']
  image = train.views(config, train.open_photos(config, config.test_dataset))[0][1]
  model = fields.make_field_model(**train.model_spec(config))
  state = training.TrainState.create(
      apply_fn=models.apply_fn(model), params=fields.init_params(model, jax.random.PRNGKey(0)),
      tx=optax.adam(1e-4))
  coords, _ = grids.image_to_samples(image)
  target = poisson.gradient_target(image).reshape(len(coords), -1, 2)
  step = training.make_train_step(poisson.gradient_loss, steps_per_call=config.fit.steps)
  state, _ = step(state, {'coords': coords, 'gradients': target})
  fit = render.render(state.apply_fn, state.params, *image.shape[:2])
  np.testing.assert_allclose(random['psnr'][-1], poisson.fair_psnr(np.asarray(fit), image),
                             rtol=1e-5)
  # Not the image fit's number: the field's constant is free, and matched before scoring.
  assert random['psnr'][-1] != pytest.approx(float(metrics.psnr(fit, image)), rel=1e-3)


def test_an_init_for_another_model_is_one_error_line(tmp_path, tiny_init):
  result = subprocess.run(
      [sys.executable, '-m', 'experiments.meta', '--config=experiments/configs/meta.py:'
       'evaluate,tiny', f'--config.init={tiny_init}', '--config.model.hidden_features=8',
       f'--workdir={tmp_path}'], cwd=REPO_ROOT, env=subprocess_env(), capture_output=True,
      text=True, timeout=240)
  assert result.returncode == 2
  last = result.stderr.strip().splitlines()[-1]
  assert last.startswith('error: learned init') and 'hidden_features: init 16 != config 8' in last
