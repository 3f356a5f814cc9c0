"""Config for experiments.poisson: images from their gradients or Laplacian, and gradient-domain
merging and blending of two images (paper Sec. 4.1, Perez et al. 2003).

Variants ``--config=experiments/configs/poisson.py:MODE[_SCALE]``:
  MODE   grad       reconstruct ``image`` from its Sobel gradient.
         laplacian  reconstruct ``image`` from its five-point Laplacian.
         merge      compose the gradients of ``image`` and ``image_b`` by every rule in ``rules``,
                    in every colour mode of ``colors`` (default grey and rgb: 6 fits).
         blend      insert the ``mask`` region of ``image_b`` into ``image`` (RGB): naive paste vs
                    gradient-domain insertion ('masked') and mixed gradients inside the mask.
         clone      Perez seamless cloning of the ``mask`` region of ``image_b`` (source) into
                    ``image`` (destination) at ``position``: direct sparse solve, SIREN, OpenCV,
                    and ``local_edit`` (docs/poisson_editing.md).
  SCALE  (none)     CPU defaults, 64x64, SIREN width 128 (3 hidden layers), lr 1e-4, full-image
                    steps. Measured on a 2-core CPU shared with other jobs: grad 500 steps at
                    0.52 s/step (4.8 min), laplacian 300 steps at 0.62 s/step (4.1 min), merge
                    6 fits x 150 steps (4.9 min), blend 2 RGB fits x 300 steps (6.1 min).
         paper      the paper's setting for a GPU/TPU: 256x256 (merge 512x512 as the paper's
                    composite), width 256, 10,000 steps.
         tiny       16x16, width 32, 2 hidden layers, 10 steps: for tests.
"""

import ml_collections

from experiments import field_training
from experiments.poisson_lib import MODES
SCALES = ('', 'paper', 'tiny')


def get_config(variant: str = 'grad') -> ml_collections.ConfigDict:
  mode, _, scale = (variant or 'grad').partition('_')
  if mode not in MODES or scale not in SCALES:
    raise ValueError(f'unknown poisson config variant {variant!r}; use MODE or MODE_SCALE with '
                     f'MODE in {", ".join(MODES)} and SCALE in paper, tiny')
  config = ml_collections.ConfigDict()
  config.mode = mode
  config.image = 'camera'  # Image A: a built-in name (siren_jax.images.BUILTIN_IMAGES) or a path.
  config.image_b = 'astronaut'  # Image B (merge, blend).
  config.colors = 'grey'  # Colour modes, comma-separated: grey and/or rgb (one for grad/laplacian).
  config.image_size = 64  # Every image is resized to this square side (0: keep; sizes must agree).
  config.rules = 'mean,mixed,masked'  # merge/blend: composition rules (siren_jax.poisson.RULES).
  # Region of B used by 'masked' (and by every rule in blend): 'ellipse' or 'rectangle' centred,
  # mask_height x mask_width as fractions of the image; or a mask image path (nonzero = inside),
  # which must have the images' final size.
  config.mask = 'ellipse'
  config.mask_height = 0.5
  config.mask_width = 0.5
  config.model = 'siren'  # siren, relu, tanh or relu_pe.
  config.steps = 500
  field_training.add_model_fields(config)
  config.hidden_features = 128
  if mode == 'laplacian':
    config.steps = 300
  elif mode == 'merge':
    config.colors = 'grey,rgb'
    config.steps = 150
  elif mode == 'blend':
    config.image, config.image_b = 'coffee', 'chelsea'
    config.colors = 'rgb'
    config.rules = 'masked,mixed'
    config.steps = 300
  elif mode == 'clone':
    config.image, config.image_b = 'coffee', 'chelsea'  # Destination, source (any sizes).
    config.colors = 'rgb'  # One colour mode: grey or rgb.
    config.image_scale = 0.25  # Destination, source, mask and position are scaled by this.
    config.rules = 'normal,mixed'  # siren_jax.seamless.RULES.
    config.siren_rules = ''  # Rules that also get a SIREN fit ('' = all of rules).
    # mask: 'ellipse'/'rectangle' (centred in the source, mask_height x mask_width fractions)
    # or a mask image of the source's size (non-zero = inside).
    config.mask_height = 0.7
    config.mask_width = 0.45
    config.position = ''  # 'Y,X' in destination pixels (before image_scale); '' = its centre.
    config.anchor = 'center'  # position is the mask's bounding-box centre, or 'top_left'.
    config.local_edit = 'illumination'  # '', 'illumination' or 'color', inside the placed mask.
    config.illumination_alpha = 0.2  # OpenCV's defaults; alpha in grey levels (0..255).
    config.illumination_beta = 0.4
    config.color_factors = '1.5,0.5,0.5'  # r,g,b multipliers of the gradients ('color').
    config.guidance_weight = 0.01  # Guidance vs value term of the SIREN's loss.
    config.render_scale = 2.0  # The SIREN's extra rendering, x the destination's size.
    config.steps = 300
  if scale == 'paper':
    config.image_size = 512 if mode == 'merge' else 256
    config.hidden_features = 256
    config.steps = 10_000
    config.eval_every = 100
    config.log_every = 500
    config.checkpoint_every = 1000
    config.steps_per_call = 10
  elif scale == 'tiny':
    config.image_size = 16
    config.hidden_features = 32
    config.hidden_layers = 2
    config.steps = 10
    config.eval_every = 5
    config.log_every = 5
    config.checkpoint_every = 5
    if mode == 'merge':
      config.colors = 'grey'
    if mode == 'blend':
      config.rules = 'masked'
    if mode == 'clone':
      config.image_scale = 0.08
  return config
