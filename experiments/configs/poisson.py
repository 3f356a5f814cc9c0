"""Config for experiments.poisson: images from their gradients or Laplacian, and gradient-domain
merging and blending of two images (paper Sec. 4.1, Perez et al. 2003).

Variants ``--config=experiments/configs/poisson.py:MODE[,SCALE][,key=value...]`` (grammar in
``configs/common.py``):
  MODE   grad       reconstruct ``image`` from its Sobel gradient (default).
         laplacian  reconstruct ``image`` from its five-point Laplacian.
         merge      compose the gradients of ``image`` and ``image_b`` by every rule in ``rules``,
                    in every colour mode of ``colors`` (default grey and rgb: 6 fits).
         blend      insert the ``mask`` region of ``image_b`` into ``image`` (RGB): naive paste vs
                    gradient-domain insertion ('masked') and mixed gradients inside the mask.
         clone      Perez seamless cloning of the ``mask`` region of ``image_b`` (source) into
                    ``image`` (destination) at ``position``: direct sparse solve, SIREN, OpenCV,
                    and ``local_edit`` (docs/poisson_editing.md).
  SCALE  (none)     CPU defaults: 64x64, SIREN width 128 (3 hidden layers), lr 1e-4, full-image
                    steps; minutes per mode on a 2-core CPU.
         paper      the paper's setting for a GPU/TPU: 256x256 (merge 512x512 as the paper's
                    composite), width 256, 10,000 steps, with the reference code's image
                    preparation (``config.data``: PIL bilinear resize, linspace grid; clone,
                    which is not the paper's, keeps the half_pixel grid).
         tiny       16x16, width 32, 2 hidden layers, 10 steps: for tests.
"""

import ml_collections

from experiments.configs import common

MODES = ('grad', 'laplacian', 'merge', 'blend', 'clone')
MODE_DEFAULTS = {
    'grad': {},
    'laplacian': {'steps': 300},
    'merge': {'colors': 'grey,rgb', 'steps': 150},
    'blend': {'image': 'coffee', 'image_b': 'chelsea', 'colors': 'rgb', 'rules': 'masked,mixed',
              'steps': 300},
    # Destination, source (any sizes); mask: 'ellipse'/'rectangle' centred in the source
    # (mask_height x mask_width fractions) or a mask image of the source's size; rules from
    # siren_jax.poisson.seamless.RULES.
    'clone': {'image': 'coffee', 'image_b': 'chelsea', 'colors': 'rgb', 'rules': 'normal,mixed',
              'mask_height': 0.7, 'mask_width': 0.45, 'steps': 300},
}


def scales(mode: str) -> dict[str, dict]:
  tiny = {**common.FIELD_TINY, 'image_size': 16, 'steps': 10, 'eval_every': 5, 'log_every': 5,
          'checkpoint_every': 5}
  if mode == 'merge':
    tiny['colors'] = 'grey'
  if mode == 'blend':
    tiny['rules'] = 'masked'
  if mode == 'clone':
    tiny['image_scale'] = 0.08
  paper = {**common.FIELD_PAPER, **common.REFERENCE_DATA,
           'image_size': 512 if mode == 'merge' else 256}
  if mode == 'clone':  # Its network loss and mask placement are written for the half_pixel grid.
    paper['data.grid'] = 'half_pixel'
  return {'paper': paper, 'tiny': tiny}


def get_config(variant: str = 'grad') -> ml_collections.ConfigDict:
  mode, scale, assignments = common.parse_variant(variant, experiment='poisson', modes=MODES,
                                                  default_mode='grad')
  config = ml_collections.ConfigDict()
  config.mode = mode
  config.image = 'camera'  # Image A: a built-in name (siren_jax.images.BUILTIN_IMAGES) or a path.
  config.image_b = 'astronaut'  # Image B (merge, blend).
  config.colors = 'grey'  # Colour modes, comma-separated: grey and/or rgb (one for grad/laplacian).
  config.image_size = 64  # Every image is resized to this square side (0: keep; sizes must agree).
  common.add_data_fields(config)  # config.data.resize, config.data.grid.
  config.rules = 'mean,mixed,masked'  # merge/blend: composition rules (siren_jax.poisson.RULES).
  # Region of B used by 'masked' (and by every rule in blend): 'ellipse' or 'rectangle' centred,
  # mask_height x mask_width as fractions of the image; or a mask image path (nonzero = inside),
  # which must have the images' final size.
  config.mask = 'ellipse'
  config.mask_height = 0.5
  config.mask_width = 0.5
  common.add_field_fit_fields(config, model='siren')  # config.model.name: common.FIELD_MODELS.
  config.model.hidden_features = 128
  if mode == 'clone':
    config.image_scale = 0.25  # Destination, source, mask and position are scaled by this.
    config.siren_rules = ''  # Rules that also get a SIREN fit ('' = all of rules).
    config.position = ''  # 'Y,X' in destination pixels (before image_scale); '' = its centre.
    config.anchor = 'center'  # position is the mask's bounding-box centre, or 'top_left'.
    config.local_edit = 'illumination'  # '', 'illumination' or 'color', inside the placed mask.
    config.illumination_alpha = 0.2  # OpenCV's defaults; alpha in grey levels (0..255).
    config.illumination_beta = 0.4
    config.color_factors = '1.5,0.5,0.5'  # r,g,b multipliers of the gradients ('color').
    config.guidance_weight = 0.01  # Guidance vs value term of the SIREN's loss.
    config.render_scale = 2.0  # The SIREN's extra rendering, x the destination's size.
  common.apply_overrides(config, MODE_DEFAULTS[mode], f'mode {mode!r}')
  return common.finish(config, scale, scales(mode), assignments)
