"""experiments/configs/resize.py: the large scale is the benchmarked tiled setting."""

import pytest

from experiments.configs import resize as resize_config
from siren_jax import sampling


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
