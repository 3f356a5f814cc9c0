"""Config for experiments.fit_image: fit one image with SIREN and the paper's Fig. 1 baselines.

Variants (``--config=experiments/configs/fit_image.py:[SCALE][,key=value...]``, grammar in
``configs/common.py``):
  ''     (default) 128x128 cameraman, 4 models x 300 steps: a few minutes on a 2-core CPU.
  paper  256x256 cameraman, 10,000 steps, eval every 100: the paper's setting, for a GPU/TPU,
         with the reference code's image preparation (``config.data``: PIL bilinear resize,
         linspace grid).
  tiny   32x32, 20 steps: for tests.
"""

import ml_collections

from experiments.configs import common

SCALES = {
    'paper': {**common.FIELD_PAPER, **common.REFERENCE_DATA, 'image_size': 256},
    'tiny': {**common.FIELD_TINY, 'image_size': 32},
}


def get_config(variant: str = '') -> ml_collections.ConfigDict:
  _, scale, assignments = common.parse_variant(variant, experiment='fit_image')
  config = ml_collections.ConfigDict()
  config.image = 'camera'  # A built-in name (siren_jax.images.BUILTIN_IMAGES) or a file path.
  config.mode = 'grey'  # 'grey' or 'rgb'.
  config.image_size = 128  # Side length the image is resized to (0 keeps its size).
  common.add_data_fields(config)  # config.data.resize, config.data.grid.
  # Comma-separated, from common.FIELD_MODELS; they share config.model (which has no name).
  config.models = 'siren,relu_pe,relu,tanh'
  common.add_field_fit_fields(config, model=None)
  config.steps = 300
  config.figure_max_side = 512  # figure.png shows images and derivatives at most this large.
  return common.finish(config, scale, SCALES, assignments)
