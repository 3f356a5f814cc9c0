"""experiments/configs/poisson.py: its variants."""

import pytest

from experiments.configs import poisson as poisson_configs


def test_unknown_config_variant_is_a_clear_error():
  with pytest.raises(ValueError, match="bad poisson config variant 'gradient'"):
    poisson_configs.get_config('gradient')
