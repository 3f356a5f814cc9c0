"""experiments.resize_lib (``python -m experiments.resize``) end to end: the compare and upscale
tasks, their outputs and errors."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image
from skimage.metrics import peak_signal_noise_ratio

from experiments import common, resize_lib
from experiments.configs import resize as resize_config
from siren_jax import grids, images, inr_file, metrics, sampling
from tests.helpers import kill_after_first_checkpoint, REPO_ROOT, subprocess_env


def _run_entry_point(workdir, *overrides, variant='tiny'):
  return subprocess.run(
      [sys.executable, '-m', 'experiments.resize',
       f'--config=experiments/configs/resize.py:{variant}', f'--workdir={workdir}', *overrides],
      cwd=REPO_ROOT, capture_output=True, text=True, timeout=300,
      env=subprocess_env())


@pytest.mark.slow
def test_compare_entry_point_writes_figure_metrics_and_networks(tmp_path):
  proc = _run_entry_point(tmp_path)
  assert proc.returncode == 0, proc.stderr[-2000:]
  assert os.path.getsize(tmp_path / 'comparison.png') > 0
  with open(tmp_path / 'metrics.json') as f:
    output = json.load(f)
  assert set(output['factors']) == {'x4', 'x2'}
  for name, result in output['factors'].items():
    assert set(result['methods']) == {'nearest', 'bilinear', 'bicubic', 'lanczos', 'siren'}
    assert result['low_res'][0] * int(name[1:]) == 32
    # The stored network re-renders the fitted low-res image the run measured.
    fitted = inr_file.load(str(tmp_path / result['network_file']))
    truth = images.load_image('camera', mode='grey', size=32)
    low = resize_lib.box_downsample(truth, int(name[1:]))
    rendered = fitted.render(fitted.height, fitted.width)
    assert float(metrics.psnr(rendered, low)) == pytest.approx(result['fit_psnr_on_low_res'],
                                                               abs=1e-3)


def test_box_downsample_averages_blocks_and_upsamplers_keep_constants():
  image = np.arange(4 * 6 * 2, dtype=np.float32).reshape(4, 6, 2)
  low = resize_lib.box_downsample(image, 2)
  np.testing.assert_allclose(low[1, 2], image[2:4, 4:6].mean(axis=(0, 1)))
  constant = np.full((5, 7, 1), 0.25, np.float32)
  for method in resize_lib.CLASSICAL:
    np.testing.assert_allclose(resize_lib.classical_resize(constant, 15, 21, method), 0.25,
                               atol=1e-5)
  # Half-pixel convention: bilinear x2 of a linear ramp is the ramp sampled at the new centres.
  ramp = grids.make_grid(8, 8)[..., 1:]
  up = resize_lib.classical_resize(np.asarray(ramp), 16, 16, 'bilinear')
  np.testing.assert_allclose(up[4:12, 4:12], np.asarray(grids.make_grid(16, 16)[4:12, 4:12, 1:]),
                             atol=1e-5)


def _upscale_config(**overrides):
  config = resize_config.get_config('upscale,tiny')
  config.steps = 10
  config.eval_every = config.log_every = config.checkpoint_every = 0  # One save, at the end.
  config.update(overrides)
  return config


@pytest.fixture(scope='module')
def small_png(tmp_path_factory):
  path = str(tmp_path_factory.mktemp('input') / 'small.png')
  images.save_png(path, images.load_image('astronaut', mode='rgb', size=(12, 20)))
  return path


@pytest.mark.slow
@pytest.mark.parametrize('tile_size', [0, 8])
def test_upscale_writes_png_and_network_that_rerenders(small_png, tmp_path, tile_size):
  output = str(tmp_path / 'big.png')
  info = resize_lib.train_and_evaluate(
      _upscale_config(input=small_png, factor=2.5, output=output, tile_size=tile_size,
                      tile_overlap=2), str(tmp_path / 'fit'))
  assert info['output_size'] == [30, 50]
  big = images.load_image(output)
  assert big.shape == (30, 50, 3)
  # A second run re-renders the saved network at another size without fitting.
  again = str(tmp_path / 'again.png')
  info = resize_lib.train_and_evaluate(
      _upscale_config(input=info['network'], out_width=40, output=again), str(tmp_path / 'rr'))
  assert info['output_size'] == [24, 40]
  expected = inr_file.load(info['network']).render(24, 40)
  np.testing.assert_allclose(images.load_image(again), np.clip(expected, -1, 1), atol=2.5 / 255)


@pytest.mark.parametrize('overrides, error, message', [
    ({'factor': 0.0}, ValueError, 'scale factor must be a positive number'),
    ({'factor': -3.0}, ValueError, 'scale factor must be a positive number'),
    ({'out_height': -1}, ValueError, 'out_height must be an integer >= 0'),
    ({'factor': 100.0, 'max_pixels': 10_000}, ValueError, 'exceeds the limit of 10,000'),
    ({'max_pixels': 100}, ValueError, 'exceeds the limit of 100'),
    ({'input': '/nonexistent/photo.png'}, FileNotFoundError, 'image not found'),
    ({'input': ''}, ValueError, 'config.input is empty'),
    ({'task': 'compare', 'factors': '3'}, ValueError, 'not divisible by factor 3'),
    ({'task': 'compare', 'factors': '0'}, ValueError, 'not an integer factor'),
])


def test_bad_upscale_settings_raise_one_line_errors(small_png, tmp_path, overrides, error,
                                                    message):
  with pytest.raises(error, match=message) as e:
    resize_lib.train_and_evaluate(_upscale_config(**{'input': small_png, **overrides}),
                                  str(tmp_path))
  assert '\n' not in str(e.value)


def test_unreadable_input_is_a_clean_cli_error(tmp_path):
  bad = tmp_path / 'broken.png'
  bad.write_text('not an image')
  proc = _run_entry_point(tmp_path / 'w', '--config.task=upscale', f'--config.input={bad}')
  assert proc.returncode == 2
  assert proc.stderr.strip().splitlines()[-1].startswith('error: cannot read image')


@pytest.mark.slow
def test_killed_tiled_upscale_resumes_and_writes_the_same_png(small_png, tmp_path):
  """A tiled fit checkpoints like any fit: SIGKILL mid-fit, rerun, same PNG as a fresh run."""
  flags = ['--config=experiments/configs/resize.py:upscale,tiny', f'--config.input={small_png}',
           '--config.tile_size=8', '--config.tile_overlap=2', '--config.steps=3000',
           '--config.checkpoint_every=100', '--config.eval_every=1000',
           '--config.log_every=100']
  killed = tmp_path / 'killed'
  kill_after_first_checkpoint('experiments.resize', flags, killed,
                              killed / 'checkpoints' / 'tiles')
  assert not (killed / 'upscaled.png').exists()

  resumed = _run_entry_point(killed, *flags[1:], variant='upscale,tiny')
  assert resumed.returncode == 0, resumed.stderr[-2000:]
  assert 'Resumed from checkpoint at step' in resumed.stderr
  fresh = _run_entry_point(tmp_path / 'fresh', *flags[1:], variant='upscale,tiny')
  assert fresh.returncode == 0, fresh.stderr[-2000:]
  np.testing.assert_array_equal(images.read_image(str(killed / 'upscaled.png')),
                                images.read_image(str(tmp_path / 'fresh' / 'upscaled.png')))


def test_photo_truth_is_the_centred_square_after_resizing_the_short_side():
  photo = np.random.default_rng(0).integers(0, 256, (20, 30, 3)).astype(np.uint8)
  # Short side already the size: no resampling, the columns 5..24 mapped to [-1, 1].
  np.testing.assert_allclose(resize_lib.photo_truth(photo, 20),
                             photo[:, 5:25] / 127.5 - 1.0, atol=1e-6)
  # 40x60 -> short side 20 is a 20x30 photo; a constant stays constant.
  constant = np.full((40, 60, 3), 51, np.uint8)
  np.testing.assert_allclose(resize_lib.photo_truth(constant, 20), 51 / 127.5 - 1.0, atol=1e-5)
  assert resize_lib.photo_truth(constant, 20).shape == (20, 20, 3)


@pytest.fixture(scope='module')
def photo_folder(tmp_path_factory):
  folder = tmp_path_factory.mktemp('photos')
  rng = np.random.default_rng(2)
  for name, shape in [('a.png', (48, 60, 3)), ('b.png', (50, 48, 3)), ('small.png', (30, 40, 3))]:
    images.save_png(str(folder / name), rng.uniform(-1, 1, shape))
  return folder


@pytest.mark.slow
def test_compare_over_photos_scores_every_method_as_scikit_image(photo_folder, sr_model_path,
                                                                 tmp_path):
  config = resize_config.get_config('compare,tiny')
  config.update({'photos': f'folder:{photo_folder}', 'image_size': 48, 'steps': 10,
                 'model_file': sr_model_path})
  output = resize_lib.train_and_evaluate(config, str(tmp_path))
  assert set(output['scores']) == {'a.png', 'b.png'}  # small.png is under 48 pixels.
  methods = {'nearest', 'bilinear', 'bicubic', 'lanczos', 'siren', 'learned'}
  assert set(output['summary']['x4']) == set(output['summary']['x2']) == methods
  # Bicubic x2 by PIL directly, scored by scikit-image on the interior shaved by 2 pixels
  # (data range 2 on [-1, 1]); a.png is 48x60, so its truth is columns 6..53 as they are.
  truth = images.load_image(str(photo_folder / 'a.png'), mode='rgb')[:, 6:54]
  low = np.stack([np.asarray(Image.fromarray(truth[..., c], 'F').resize((24, 24), Image.BICUBIC))
                  for c in range(3)], -1)
  up = np.stack([np.asarray(Image.fromarray(low[..., c], 'F').resize((48, 48), Image.BICUBIC))
                 for c in range(3)], -1)
  expected = peak_signal_noise_ratio(truth[2:-2, 2:-2], np.clip(up, -1, 1)[2:-2, 2:-2],
                                     data_range=2.0)
  assert output['scores']['a.png']['x2']['bicubic']['psnr'] == pytest.approx(expected, abs=1e-3)
  stats = output['summary']['x2']['lanczos']
  assert stats['gain']['mean'] == 0.0 and stats['psnr']['n'] == 2
  mean = np.mean([output['scores'][p]['x2']['siren']['psnr'] for p in ('a.png', 'b.png')])
  assert output['summary']['x2']['siren']['psnr']['mean'] == pytest.approx(mean)
  assert output['fits']['a.png']['x4']['steps'] == 10
  table = (tmp_path / 'table.md').read_text()
  assert '| x2 | learned |' in table and '| a.png |' in table
  # A rerun resumes every fit at its last step (no training) and scores the same.
  again = resize_lib.train_and_evaluate(config, str(tmp_path))
  assert again['fits']['b.png']['x2']['resumed_from_step'] == 10
  assert again['scores'] == output['scores']


def test_compare_over_photos_smaller_than_the_size_is_a_one_line_error(tmp_path):
  images.save_png(str(tmp_path / 'small.png'), np.zeros((30, 40, 3), np.float32))
  config = resize_config.get_config('compare,tiny')
  config.update({'photos': f'folder:{tmp_path}', 'image_size': 48})
  with pytest.raises(ValueError, match='no photo with a short side of at least') as e:
    resize_lib.train_and_evaluate(config, str(tmp_path / 'w'))
  assert '\n' not in str(e.value) and not (tmp_path / 'w').exists()


def _holdout_config(**overrides):
  config = resize_config.get_config('tiny')
  config.holdout, config.eval_every, config.steps_per_call = 0.25, 5, 5
  config.update(overrides)
  return config


def test_choose_steps_scores_only_pixels_the_fit_never_saw(tmp_path):
  # Every kept pixel is 0 and every held-out one is 1: a fit that trains on the kept pixels
  # only predicts ~0 there (PSNR ~6 dB at an error of 1); one that saw them would approach 1.
  config = _holdout_config(steps=40)
  image = np.zeros((16, 16, 1), np.float32)
  _, held = sampling.holdout_split(16 * 16, config.holdout, config.seed)
  image.reshape(-1)[held] = 1.0
  writer = common.ScalarWriter(str(tmp_path / 'tb'))
  chosen = resize_lib.choose_steps(config, str(tmp_path), 'zeros', image, writer)
  writer.close()
  assert chosen['held_out_pixels'] == len(held) == 64
  assert [s for s, _ in chosen['curve']] == list(range(5, 41, 5))
  assert max(p for _, p in chosen['curve']) < 9.0
  best = max(chosen['curve'], key=lambda point: point[1])
  assert (chosen['steps'], chosen['best_psnr']) == tuple(best)


def test_compare_with_holdout_refits_all_pixels_for_the_chosen_steps(tmp_path):
  config = _holdout_config(factors='2')
  output = resize_lib.compare(config, str(tmp_path))
  record = output['factors']['x2']
  chosen = record['holdout']
  assert chosen['steps'] in [s for s, _ in chosen['curve']]
  assert record['steps'] == chosen['steps']
  assert os.path.isdir(tmp_path / 'checkpoints' / 'siren_x2_holdout')
  assert os.path.isdir(tmp_path / 'checkpoints' / f'siren_x2_es{chosen["steps"]}')


@pytest.mark.parametrize('overrides,error', [
    ({'holdout': 1.0}, 'config.holdout must be in [0, 1)'),
    ({'holdout': 0.1, 'eval_every': 0}, 'config.holdout needs config.eval_every > 0'),
    ({'task': 'upscale', 'holdout': 0.1, 'input': 'text'}, 'is for the compare task'),
])
def test_bad_holdout_settings_are_one_line_errors(overrides, error):
  config = resize_config.get_config('tiny')
  config.update(overrides)
  with pytest.raises(ValueError, match=error.replace('[', r'\[').replace(')', r'\)')):
    resize_lib.check_config(config)


def test_photo_rows_name_the_init_and_the_early_stopping():
  config = resize_config.get_config('tiny')
  assert resize_lib.fit_method(config) == 'siren'
  config.init, config.holdout = '/some/init.init', 0.1
  assert resize_lib.fit_method(config) == 'siren_init_es'
