"""Config for experiments.fit_image: fit one image with SIREN and the paper's Fig. 1 baselines.

Variants (``--config=experiments/configs/fit_image.py:VARIANT``):
  ''     (default) 128x128 cameraman, 4 models x 300 steps: ~3 minutes on a 2-core CPU.
  paper  256x256 cameraman, 10,000 steps, eval every 100: the paper's setting, for a GPU/TPU.
  tiny   32x32, 20 steps: for tests.
"""

import ml_collections

from experiments import field_training


def get_config(variant: str = '') -> ml_collections.ConfigDict:
  config = ml_collections.ConfigDict()
  config.image = 'camera'  # A built-in name (siren_jax.images.BUILTIN_IMAGES) or a file path.
  config.mode = 'grey'  # 'grey' or 'rgb'.
  config.image_size = 128  # Side length the image is resized to (0 keeps its size).
  config.models = 'siren,relu_pe,relu,tanh'  # Comma-separated: siren, relu, tanh, relu_pe.
  config.steps = 300
  field_training.add_model_fields(config)
  if variant == 'paper':
    config.image_size = 256
    config.steps = 10_000
    config.eval_every = 100
    config.log_every = 500
    config.checkpoint_every = 1000
    config.steps_per_call = 10
  elif variant == 'tiny':
    config.image_size = 32
    config.steps = 20
    config.hidden_features = 32
    config.hidden_layers = 2
    config.eval_every = 10
    config.log_every = 10
    config.checkpoint_every = 10
  elif variant:
    raise ValueError(f'unknown fit_image config variant {variant!r}; choose paper or tiny')
  return config
