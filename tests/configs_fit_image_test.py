"""experiments/configs/fit_image.py: its variants."""

import pytest

from experiments.configs import fit_image as fit_image_config


def test_config_overrides_and_variants():
  assert fit_image_config.get_config('paper').image_size == 256
  assert fit_image_config.get_config('paper').steps >= 1000
  with pytest.raises(ValueError, match="bad fit_image config variant 'huge'"):
    fit_image_config.get_config('huge')
