"""experiments/configs/meta.py: its tasks and scales, all valid."""

import pytest

from experiments.configs import meta as meta_config
from experiments.meta import train


@pytest.mark.parametrize('variant', ['', 'evaluate,init=x.init', 'paper', 'tiny',
                                     'evaluate,tiny,init=x.init', 'paper,colour=rgb'])
def test_every_variant_is_valid(variant):
  train.check_config(meta_config.get_config(variant))


def test_paper_scale_is_tancik_et_al_maml_setting():
  # Tancik et al. 2021: MAML, 2 inner SGD steps at 1e-2 on the whole image, outer Adam 1e-5,
  # meta-batch 3.
  config = meta_config.get_config('paper')
  assert (config.meta.algorithm, config.meta.first_order) == ('maml', False)
  assert (config.inner.name, config.inner.learning_rate, config.inner.steps) == ('sgd', 1e-2, 2)
  assert config.optimizer.learning_rate == 1e-5 and config.meta.meta_batch == 3
  assert config.meta.inner_pixels == config.meta.outer_pixels == 0


def test_the_default_is_the_cpu_setting_and_tests_use_synthetic_photos():
  config = meta_config.get_config('')
  # The measured CPU default (docs/meta_init.md): second-order MAML, 400 outer steps.
  assert (config.task, config.meta.algorithm, config.meta.first_order) == ('train', 'maml', False)
  assert (config.steps, config.image_size, config.inner.steps) == (400, 256, 4)
  assert config.fit.optimizer.learning_rate == 1e-4 and config.fit.steps == 500
  assert meta_config.get_config('tiny').dataset.startswith('synthetic')
  with pytest.raises(ValueError, match="bad meta config variant 'huge'"):
    meta_config.get_config('huge')
