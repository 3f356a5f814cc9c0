"""siren_jax.sr.upscale and the learned method of experiments.resize: tiles equal one shot, and
every bad input."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
from flax import serialization

from experiments import resize_lib
from experiments.configs import resize as resize_config
from siren_jax import images, inr_file
from siren_jax.sr import upscale
from tests.helpers import TINY_SR_SPEC, subprocess_env

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SPEC = TINY_SR_SPEC


def test_tiled_upscaling_equals_one_shot(sr_params):
  image = np.random.default_rng(0).uniform(-1, 1, (30, 31, 3)).astype(np.float32)
  whole = upscale.upscale(SPEC, sr_params, image, 75, 62, tile_size=0)
  tiled = upscale.upscale(SPEC, sr_params, image, 75, 62, tile_size=12, max_queries=700)
  np.testing.assert_allclose(tiled, whole, atol=1e-4)


def test_too_small_or_wrong_channel_inputs_are_refused(sr_params):
  side = SPEC.min_input_side  # 2 * (3 + 2 * 1) + 1 = 11.
  assert side == 11
  with pytest.raises(ValueError, match='receptive field of 11x11'):
    upscale.upscale(SPEC, sr_params, np.zeros((10, 40, 3), np.float32), 20, 80)
  with pytest.raises(ValueError, match='3-channel'):
    upscale.upscale(SPEC, sr_params, np.zeros((20, 20, 1), np.float32), 40, 40)


def _config(image, model, **fields):
  config = resize_config.get_config('upscale')
  config.input, config.method, config.model_file = image, 'learned', model
  for key, value in fields.items():
    config[key] = value
  return config


@pytest.fixture(scope='module')
def photos(tmp_path_factory):
  folder = tmp_path_factory.mktemp('photos')
  rng = np.random.default_rng(1)
  images.save_png(str(folder / 'rgb.png'), rng.uniform(-1, 1, (24, 20, 3)))
  images.save_png(str(folder / 'grey.png'), rng.uniform(-1, 1, (24, 20, 1)))
  images.save_png(str(folder / 'small.png'), rng.uniform(-1, 1, (9, 30, 3)))
  return folder


def test_learned_upscale_writes_the_asked_size_and_converts_grey(photos, sr_model_path, tmp_path):
  info = resize_lib.train_and_evaluate(
      _config(str(photos / 'rgb.png'), sr_model_path, factor=2.5), str(tmp_path / 'a'))
  assert info['output_size'] == [60, 50] and not info['converted_grey_to_rgb']
  assert images.read_image(info['output']).shape[:2] == (60, 50)
  assert json.loads((tmp_path / 'a' / 'config.json').read_text())['config']['method'] == 'learned'
  info = resize_lib.train_and_evaluate(
      _config(str(photos / 'grey.png'), sr_model_path, out_width=33), str(tmp_path / 'b'))
  assert info['converted_grey_to_rgb'] and info['output_size'] == [40, 33]
  assert images.read_image(info['output']).shape == (40, 33, 1)


@pytest.mark.parametrize('name, fields, error', [
    ('rgb.png', {'factor': 0.0}, 'scale factor must be a positive number'),
    ('rgb.png', {'factor': -2.0}, 'scale factor must be a positive number'),
    ('rgb.png', {'out_height': -1}, 'out_height must be an integer >= 0'),
    ('small.png', {}, 'smaller than the model.s receptive field'),
])
def test_bad_learned_upscale_inputs_raise_one_line_errors(photos, sr_model_path, tmp_path, name,
                                                          fields, error):
  with pytest.raises(ValueError, match=error):
    resize_lib.train_and_evaluate(_config(str(photos / name), sr_model_path, **fields),
                                  str(tmp_path))


def test_learned_method_needs_a_model_file(photos, tmp_path):
  with pytest.raises(ValueError, match='config.model_file'):
    resize_lib.train_and_evaluate(_config(str(photos / 'rgb.png'), ''), str(tmp_path))


def test_an_inr_as_model_file_is_an_error_line_and_exit_2(photos, tmp_path):
  inr = str(tmp_path / 'fitted.inr')
  with open(inr, 'wb') as f:
    f.write(serialization.msgpack_serialize({'format': inr_file.FORMAT, 'version': 1}))
  proc = subprocess.run(
      [sys.executable, '-m', 'experiments.resize',
       '--config=experiments/configs/resize.py:upscale', f'--workdir={tmp_path / "w"}',
       f'--config.input={photos / "rgb.png"}', '--config.method=learned',
       f'--config.model_file={inr}'],
      cwd=REPO_ROOT, capture_output=True, text=True, timeout=300, env=subprocess_env())
  assert proc.returncode == 2
  last = proc.stderr.strip().splitlines()[-1]
  assert last.startswith('error: ') and 'not a siren_jax learned-resize model file' in last
  assert not (tmp_path / 'w').exists()
