"""What a run does when things go wrong (docs/failures.md): divergence, damaged checkpoints,
strict metrics.json, run fingerprints, validation before the workdir, unknown config fields."""

import glob
import json
import logging
import math
import os
import shutil
import subprocess
import sys

import imageio.v3 as iio
import jax
import numpy as np
import optax
import pytest

from experiments import common, driver, fit_image_lib, resize_lib
from experiments.colorize import train as colorize_train
from experiments.poisson import train as poisson_train
from experiments.configs import colorize as colorize_config
from experiments.configs import fit_image as fit_image_config
from experiments.configs import poisson as poisson_config
from experiments.configs import resize as resize_config
from siren_jax import checkpoints, fitting, grids, images, layers, training
from tests.helpers import REPO_ROOT, subprocess_env

BAD_FROM = 16  # _batches(): batch_fn(step) holds NaN targets from this step on.


def _state(learning_rate=1e-3):
  model = layers.Siren(out_features=1, hidden_features=16, hidden_layers=1)
  return training.create_train_state(model, jax.random.PRNGKey(0), np.zeros((1, 2), np.float32),
                                     optax.adam(learning_rate))


def _batches(bad_steps=lambda step: step >= BAD_FROM):
  """batch_fn over the 16x16 cameraman whose targets are NaN at the ``bad_steps``."""
  coords, values = grids.image_to_samples(images.load_image('camera', size=16))
  good = {'coords': coords, 'values': values}
  bad = {'coords': coords, 'values': np.full_like(values, np.nan)}
  return lambda step: bad if bad_steps(step) else good


def _all_finite(tree):
  return all(np.isfinite(np.asarray(x)).all() for x in jax.tree.leaves(tree)
             if np.issubdtype(np.asarray(x).dtype, np.floating))


def _restore(directory):
  manager = checkpoints.make_manager(str(directory))
  try:
    return checkpoints.restore_latest(manager, _state())
  finally:
    manager.close()


def _loop(directory, num_steps=20, nan_policy='stop', batch_fn=None, steps_per_call=1,
          checkpoint_every=5):
  step = training.make_train_step(fitting.image_loss, nan_policy=nan_policy,
                                  steps_per_call=steps_per_call)
  manager = checkpoints.make_manager(str(directory))
  try:
    return training.train_loop(_state(), step, batch_fn or _batches(), num_steps=num_steps,
                               checkpoint_manager=manager, checkpoint_every=checkpoint_every)
  finally:
    manager.close()


# Divergence.

@pytest.mark.parametrize('steps_per_call, every, kept', [(1, 5, [10, 15]), (4, 4, [12, 16])])
def test_divergence_stops_saves_nothing_bad_and_keeps_the_last_good_checkpoint(
    tmp_path, steps_per_call, every, kept):
  # Checkpoints every 5 steps, the newest two kept: 5, 10, 15 saved, 5 rotated out. The update
  # of step BAD_FROM + 1 = 17 is the first non-finite one; the check at the step-20 save stops.
  # (4 steps per call: saves at 4..16; the call 16 -> 20 goes bad at its first step, 17.)
  with pytest.raises(training.DivergenceError) as error:
    _loop(tmp_path, steps_per_call=steps_per_call, checkpoint_every=every)
  assert error.value.step == BAD_FROM + 1 and math.isnan(error.value.loss)
  message = str(error.value)
  assert 'diverged at step 17' in message
  assert "lower the learning rate, or pass nan_policy='skip'" in message
  assert f'last good checkpoint is step {kept[-1]}' in message and '\n' not in message
  assert sorted(int(d) for d in os.listdir(tmp_path) if d.isdigit()) == kept
  state, _ = _restore(tmp_path)
  assert int(state.step) == kept[-1]
  assert _all_finite(state.params) and _all_finite(state.opt_state)


def test_skip_policy_keeps_the_old_state_for_a_bad_step():
  step = training.make_train_step(fitting.image_loss, nan_policy='skip', donate=False)
  batch_fn = _batches()
  state, metrics = step(_state(), batch_fn(0))
  assert int(metrics[training.NONFINITE_STEPS]) == 0
  skipped, metrics = step(state, batch_fn(BAD_FROM))
  assert int(metrics[training.NONFINITE_STEPS]) == 1
  assert int(skipped.step) == int(state.step) + 1  # The data schedule moves on.
  for old, new in zip(jax.tree.leaves((state.params, state.opt_state)),
                      jax.tree.leaves((skipped.params, skipped.opt_state))):
    np.testing.assert_array_equal(np.asarray(old), np.asarray(new))


def test_skip_policy_counts_skipped_steps_and_finishes_with_a_finite_state(tmp_path):
  result = _loop(tmp_path, nan_policy='skip', batch_fn=_batches(lambda s: s in (3, 4, 12)))
  assert result.skipped_steps == 3 and int(result.state.step) == 20
  assert _all_finite(result.params)
  _, record = _restore(tmp_path)
  assert record['skipped_steps'] == 3


def test_a_clean_run_records_no_skipped_steps_and_warns_of_none(tmp_path, caplog):
  with caplog.at_level(logging.WARNING):
    result = _loop(tmp_path, num_steps=6, nan_policy='skip', batch_fn=_batches(lambda s: False))
  assert result.skipped_steps == 0 and int(result.state.step) == 6
  _, record = _restore(tmp_path)
  assert record['skipped_steps'] == 0
  assert not [r for r in caplog.records if 'non-finite' in r.getMessage()]
  # Run again: it resumes at its last step and has nothing to do, still with no skipped step.
  again = _loop(tmp_path, num_steps=6, nan_policy='skip', batch_fn=_batches(lambda s: False))
  assert again.resumed_from == 6 and again.skipped_steps == 0


@pytest.mark.slow
def test_fit_image_with_a_huge_learning_rate_stops_with_one_line_and_no_bad_outputs(tmp_path):
  result = subprocess.run(
      [sys.executable, '-m', 'experiments.fit_image',
       '--config=experiments/configs/fit_image.py:tiny', '--config.models=siren',
       '--config.optimizer.learning_rate=1e20', f'--workdir={tmp_path}'],
      cwd=REPO_ROOT, capture_output=True, text=True, timeout=300,
      env=subprocess_env())
  assert result.returncode == 2, result.stderr[-2000:]
  last = result.stderr.strip().splitlines()[-1]
  assert last.startswith('error: [siren] training diverged at step '), last
  assert 'lower config.optimizer.learning_rate' in last.lower() and 'Traceback' not in result.stderr
  assert not (tmp_path / 'metrics.json').exists() and not (tmp_path / 'figure.png').exists()
  assert not [d for d in os.listdir(tmp_path / 'checkpoints' / 'siren') if d.isdigit()]


# Strict JSON.

def test_metrics_json_is_strict_json_with_null_for_non_finite_numbers(tmp_path):
  path = tmp_path / 'metrics.json'
  common.write_json(str(path), {'psnr': float('nan'), 'curve': [1.0, float('inf'), -np.inf],
                                'nested': {'x': np.float64('nan')}, 'ok': 2.5, 'n': None})

  def reject(name):
    raise ValueError(f'non-strict JSON constant {name}')

  assert json.loads(path.read_text(), parse_constant=reject) == {
      'psnr': None, 'curve': [1.0, None, None], 'nested': {'x': None}, 'ok': 2.5, 'n': None}


def test_seconds_per_step_is_none_not_nan_when_unmeasured():
  step = training.make_train_step(fitting.image_loss)
  result = training.train_loop(_state(), step, _batches(lambda s: False), num_steps=2)
  assert result.seconds_per_step is None  # One host sync: its interval includes compilation.


# Damaged checkpoints.

def _damage_truncate_data(step_dir):
  # The arrays' bytes, in the OCDBT database orbax merges the per-process ones into (the
  # ocdbt.process_0/ files beside it are not read on restore).
  data = max(glob.glob(str(step_dir / 'state' / 'd' / '*')), key=os.path.getsize)
  with open(data, 'r+b') as f:
    f.truncate(os.path.getsize(data) // 2)


def _damage_empty_state_metadata(step_dir):
  (step_dir / 'state' / '_METADATA').write_bytes(b'')


@pytest.fixture
def two_checkpoints(tmp_path):
  """Checkpoints at steps 15 and 20 of a finished 20-step run (and its final params), copied
  to a path this process has not read: tensorstore caches what it wrote by path, and a
  damaged file must be read from disk, as a new process would."""
  result = _loop(tmp_path / 'run', batch_fn=_batches(lambda s: False))
  shutil.copytree(tmp_path / 'run', tmp_path / 'copy')
  assert sorted(int(d) for d in os.listdir(tmp_path / 'copy') if d.isdigit()) == [15, 20]
  return tmp_path / 'copy', result


@pytest.mark.parametrize('damage', [_damage_truncate_data, _damage_empty_state_metadata])
def test_a_damaged_newest_checkpoint_falls_back_to_the_older_one_logged(two_checkpoints, damage,
                                                                         caplog):
  directory, _ = two_checkpoints
  damage(directory / '20')
  with caplog.at_level(logging.WARNING):
    state, _ = _restore(directory)
  assert int(state.step) == 15 and _all_finite(state.params)
  (warning,) = [r.getMessage() for r in caplog.records if 'Cannot restore' in r.getMessage()]
  assert 'at step 20' in warning and warning.endswith('; trying the next older one')
  # Resuming sets the damaged one aside (kept for inspection), retrains 15 -> 20 and saves it.
  with caplog.at_level(logging.WARNING):
    resumed = _loop(directory, batch_fn=_batches(lambda s: False))
  assert resumed.resumed_from == 15 and int(resumed.state.step) == 20
  assert (directory / '20.damaged').is_dir() and (directory / '20').is_dir()
  assert int(_restore(directory)[0].step) == 20


def test_every_checkpoint_damaged_is_a_one_line_error(two_checkpoints, caplog):
  directory, _ = two_checkpoints
  _damage_truncate_data(directory / '20')
  _damage_empty_state_metadata(directory / '15')
  with caplog.at_level(logging.WARNING):
    with pytest.raises(ValueError, match='no checkpoint in .* can be restored') as error:
      _restore(directory)
  warnings = [r.getMessage() for r in caplog.records if 'Cannot restore' in r.getMessage()]
  assert [('at step 20' in w, 'trying the next older one' in w) for w in warnings] == [
      (True, True), (False, False)]  # Step 15 is the oldest: nothing older to try.
  assert 'step 20' in str(error.value) and 'step 15' in str(error.value)
  assert '\n' not in str(error.value) and 'delete them' in str(error.value)
  # An entry point's driver gives the same diagnosis with the advice in config fields.
  workdir = directory.parent / 'work'
  shutil.copytree(directory, driver.checkpoint_dir(str(workdir), 'siren'))
  writer = common.ScalarWriter(str(workdir / 'tensorboard'))
  try:
    with pytest.raises(ValueError, match='no checkpoint in .* can be restored') as error:
      driver.run(_state(), fitting.image_loss, workdir=str(workdir), tag='siren',
                 schedule=driver.Schedule(20, checkpoint_every=5), writer=writer,
                 batch_fn=_batches(), process_local_batches=False)
  finally:
    writer.close()
  assert 'step 20' in str(error.value) and 'step 15' in str(error.value)
  assert '\n' not in str(error.value) and '--config.resume=False' in str(error.value)


# Run identity.

def _tiny_fit(**overrides):
  config = fit_image_config.get_config('tiny')
  config.update({'models': 'siren', 'model': {'hidden_features': 16}, 'eval_every': 0,
                 'log_every': 0, **overrides})
  return config


@pytest.mark.slow
def test_a_workdir_refuses_another_image_resumes_the_same_run_and_trains_longer(tmp_path,
                                                                                caplog):
  first = fit_image_lib.train_and_evaluate(_tiny_fit(), str(tmp_path))['models']['siren']
  assert first['steps'] == 20 and first['resumed_from_step'] is None
  with pytest.raises(ValueError, match='of a different run') as error:
    fit_image_lib.train_and_evaluate(_tiny_fit(image='astronaut'), str(tmp_path))
  message = str(error.value)
  assert 'data_sha256' in message and "source: 'camera' there, 'astronaut' here" in message
  assert '--config.resume=False' in message and '\n' not in message
  again = fit_image_lib.train_and_evaluate(_tiny_fit(), str(tmp_path))['models']['siren']
  assert again['resumed_from_step'] == 20 and again['psnr'] == first['psnr']
  # More steps (and another cadence) is the same run: it resumes and trains on.
  longer = fit_image_lib.train_and_evaluate(_tiny_fit(steps=30, checkpoint_every=5),
                                            str(tmp_path))['models']['siren']
  assert longer['resumed_from_step'] == 20 and longer['steps'] == 30
  # Fewer steps than its checkpoints is refused: resuming would return the longer run as this.
  with pytest.raises(ValueError, match='up to step 30, past this run\'s 20 steps') as error:
    fit_image_lib.train_and_evaluate(_tiny_fit(), str(tmp_path))
  assert '--config.resume=False' in str(error.value) and '\n' not in str(error.value)
  # resume=False starts over, saying so.
  with caplog.at_level(logging.WARNING):
    fresh = fit_image_lib.train_and_evaluate(_tiny_fit(image='astronaut', resume=False),
                                             str(tmp_path))['models']['siren']
  assert fresh['resumed_from_step'] is None and 'config.resume=False: deleting' in caplog.text


def test_checkpoints_past_the_runs_steps_are_refused_unless_deleted(tmp_path, caplog):
  directory = tmp_path / 'checkpoints' / 'siren'
  (directory / '20').mkdir(parents=True)
  fingerprint = {'seed': 0}
  (directory / driver.RUN_FILE).write_text(json.dumps(fingerprint))
  driver.claim_checkpoints(str(directory), fingerprint, num_steps=20)  # Done: restored whole.
  driver.claim_checkpoints(str(directory), fingerprint, num_steps=30)  # Trains on.
  with pytest.raises(ValueError, match=r"up to step 20, past this run's 19 steps; train to at "
                     r'least 20 steps, use a fresh --workdir, or --config.resume=False'):
    driver.claim_checkpoints(str(directory), fingerprint, num_steps=19)
  # Another run's checkpoints are named as such first, whatever their steps.
  with pytest.raises(ValueError, match="of a different run \\(seed: 0 there, 1 here\\)"):
    driver.claim_checkpoints(str(directory), {'seed': 1}, num_steps=19)
  with caplog.at_level(logging.WARNING):
    driver.claim_checkpoints(str(directory), fingerprint, resume=False, num_steps=19)
  assert not (directory / '20').exists() and 'config.resume=False: deleting' in caplog.text


def test_fingerprint_ignores_steps_and_cadence_but_not_the_learning_rate():
  batch = {'values': np.zeros((4, 1), np.float32)}
  spec = driver.model_spec(_tiny_fit(), 'siren', 1, 32)

  def fingerprint(**overrides):
    return driver.field_fingerprint(_tiny_fit(**overrides), spec, batch, fitting.image_loss,
                                    source='camera')

  base = fingerprint()
  assert not driver.fingerprint_differences(
      json.loads(json.dumps(base)), fingerprint(steps=999, eval_every=7, checkpoint_every=3,
                                                log_every=1, render_chunk_points=8))
  assert driver.fingerprint_differences(
      json.loads(json.dumps(base)), fingerprint(optimizer={'learning_rate': 1e-2})) == [
          'optimizer.learning_rate: 0.0001 there, 0.01 here']
  wider = driver.field_fingerprint(_tiny_fit(), driver.model_spec(
      _tiny_fit(model={'hidden_features': 8}), 'siren', 1, 32),
                                   batch, fitting.image_loss, source='camera')
  assert driver.fingerprint_differences(json.loads(json.dumps(base)), wider) == [
      'model.hidden_features: 16 there, 8 here']


# Validation before anything is written.

@pytest.mark.parametrize('shape', [(1, 1), (3, 100_000)])
def test_a_tiny_image_is_refused_before_the_workdir_is_created(tmp_path, shape):
  image = tmp_path / 'tiny.png'
  iio.imwrite(image, np.full(shape, 128, np.uint8))
  workdir = tmp_path / 'work'
  with pytest.raises(ValueError, match=r'too small to score: SSIM needs at least 7x7') as error:
    fit_image_lib.train_and_evaluate(_tiny_fit(image=str(image), image_size=0), str(workdir))
  assert str(error.value).endswith('; set config.image_size or use a larger image')
  assert not workdir.exists()


def test_other_experiments_validate_before_the_workdir_is_created(tmp_path, monkeypatch):
  workdir = tmp_path / 'work'
  config = resize_config.get_config('tiny')
  config.update({'image_size': 4, 'factors': '2'})
  with pytest.raises(ValueError, match='too small to score'):
    resize_lib.train_and_evaluate(config, str(workdir))
  mask = tmp_path / 'mask.png'
  iio.imwrite(mask, np.full((5, 5), 255, np.uint8))
  config = poisson_config.get_config('blend,tiny')
  config.mask = str(mask)
  with pytest.raises(ValueError, match='mask .* is 5x5 but the images are 16x16'):
    poisson_train.train_and_evaluate(config, str(workdir))
  monkeypatch.setattr(colorize_train.jax, 'device_count', lambda: 3)
  config = colorize_config.get_config('SRS,tiny')
  with pytest.raises(ValueError, match='batch_size=4 does not split over the 3 devices'):
    colorize_train.train_and_evaluate(config, str(workdir))
  assert not workdir.exists()


# Unknown config fields, in every entry point.

@pytest.mark.parametrize('module, config', [
    ('fit_image', 'fit_image.py:tiny'), ('poisson', 'poisson.py:grad,tiny'),
    ('resize', 'resize.py:tiny'), ('colorize', 'colorize.py:SRS,tiny'),
    ('colorize_compare', 'colorize.py:tiny'), ('colorize_photo', 'colorize.py:SRS,tiny')])
def test_an_unknown_config_field_is_one_line_and_exit_2(tmp_path, module, config):
  result = subprocess.run(
      [sys.executable, '-m', f'experiments.{module}', f'--config=experiments/configs/{config}',
       '--config.seeed=1', f'--workdir={tmp_path / "w"}'],
      cwd=REPO_ROOT, capture_output=True, text=True, timeout=120,
      env=subprocess_env())
  assert result.returncode == 2, result.stderr[-2000:]
  assert result.stderr.strip().splitlines() == [
      "error: unknown config field 'seeed' (did you mean 'seed'?)"]
  assert not (tmp_path / 'w').exists()
