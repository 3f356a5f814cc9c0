"""experiments.resize end to end: the compare and upscale tasks, their outputs and errors."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from experiments import resize_lib
from experiments.configs import resize as resize_config
from siren_jax import grids, images, inr_file, metrics, sampling
from tests.conftest import kill_after_first_checkpoint, subprocess_env

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


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


def test_large_scale_is_the_benchmarked_tiled_setting_and_only_for_upscale():
  config = resize_config.get_config('upscale,large')
  # bench/large_image.py's best 2048^2 setting (docs/large_images.md), as bench's flag defaults.
  from bench import large_image  # pylint: disable=g-import-not-at-top
  from absl import flags  # pylint: disable=g-import-not-at-top
  bench = {f.name: f.default for f in flags.FLAGS.get_flags_for_module(large_image)}
  assert (config.tile_size, config.tile_overlap, config.model.hidden_features,
          config.model.hidden_layers, config.optimizer.learning_rate) == (
              bench['tile_size'], bench['tile_overlap'], bench['width'], bench['hidden_layers'],
              bench['learning_rate'])
  # Pixels per step: auto, >= 256 per tile; a 2048^2 canvas has 35 x 35 = 1225 64-pixel tiles
  # (stride 60), so 313,600 per step, at least the benchmarked 262,144 (~214 per tile).
  assert config.batch_pixels == -1
  assert sampling.resolve_batch_pixels(-1, 2048 * 2048, 1225) == 313_600 >= bench['batch_pixels']
  assert config.target_psnr == bench['target_psnr'] == 30.0
  with pytest.raises(ValueError, match='scale large is for the upscale task'):
    resize_config.get_config('compare,large')


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
