"""experiments.colorize.photo (``python -m experiments.colorize_photo``): any size in, the
input's size out, and a one-line error for a workdir with no trained colouriser."""

import subprocess
import sys

import numpy as np
import pytest

from experiments.colorize import photo as colorize_photo
from experiments.colorize import train as colorize_train
from experiments.configs import colorize as colorize_config
from siren_jax.colorize import colour
from tests.helpers import REPO_ROOT, subprocess_env, wavy_grey


@pytest.mark.parametrize('variant', ['FR,tiny', 'FC,tiny'])
def test_colorize_photo_keeps_the_input_size_for_conv_and_fc(variant):
  """Any size and aspect, grey in: RGB out at the input's resolution, its lightness unchanged
  (chroma is predicted at the model's scale and only the chroma is upsampled)."""
  config = colorize_config.get_config(variant)
  config.photo_side = 24  # The model's scale: the 60 x 100 photo is colourised at 24 x 40.
  state = colorize_train.make_state(config)
  grey = wavy_grey(60, 100).astype(np.float32).clip(-1, 1)
  rgb = colorize_photo.colorize(config, state, grey)
  assert rgb.shape == (60, 100, 3) and np.isfinite(rgb).all()
  lightness, _ = colour.rgb_to_scaled_lab(rgb)
  # L is kept except where the predicted colour leaves the sRGB gamut and is clipped.
  assert np.median(np.abs(lightness - grey)) < 1e-3


@pytest.mark.slow
def test_photo_cli_prints_one_line_error_for_an_untrained_workdir(tmp_path):
  process = subprocess.run(
      [sys.executable, '-m', 'experiments.colorize_photo',
       '--config=experiments/configs/colorize.py:SRS,tiny', f'--workdir={tmp_path}',
       f'--input={tmp_path}/in.png', f'--output={tmp_path}/out.png'],
      cwd=REPO_ROOT, capture_output=True, text=True, timeout=120,
      env=subprocess_env())
  assert process.returncode == 2
  assert process.stderr.strip().splitlines()[-1].startswith('error: ')
  assert 'no trained colouriser' in process.stderr
