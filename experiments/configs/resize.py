"""Config for experiments.resize: super-resolution by sampling a fitted SIREN on a denser grid.

Variants ``--config=experiments/configs/resize.py:[TASK][,SCALE][,key=value...]`` (grammar in
``configs/common.py``):
  TASK   compare  (default) 256x256 cameraman ground truth, box-downsampled x4 (64x64) and x2
                  (128x128); SIREN (width 256, 3 hidden layers) fitted 500 steps on each and
                  rendered at 256x256, vs nearest/bilinear/bicubic/Lanczos.
                  config.photos='corpus:test' runs the comparison over a photo set instead
                  (RGB; each photo's short side resized to image_size, centre square,
                  PIL-bicubic downsampled; config.model_file adds the learned model's row).
         upscale  fit a user's image (config.input; default the built-in 172x448 'text', 300
                  steps) and render it config.factor times larger (or at out_height/out_width)
                  to config.output, saving the fitted network too; an input ending in .inr
                  re-renders a saved network without fitting. Use config.tile_size for large
                  images (tiles fit together, checkpoint and resume like any fit).
                  config.method=learned resizes with a trained learned-resize model instead
                  (config.model_file, from python -m experiments.sr): no fit, any size, in
                  tiles of config.tile_size input pixels (0: 192).
  SCALE  paper    512x512 ground truth (x4: 128x128, x2: 256x256), 5,000 steps: for a GPU/TPU;
                  photos resized as the reference code does (config.data.resize) but on the
                  half_pixel grid, the geometry of the box-downsampled inputs.
         tiny     32x32 ground truth (x4: 8x8, x2: 16x16), width 32, 20 steps: for tests.
         large    (upscale only) the setting for multi-megapixel photos that bench/large_image.py
                  found best on the 2-core CPU: 64-pixel tiles (overlap 4), each a SIREN of
                  width 32 with 2 hidden layers, Adam 1e-3, random pixels per step chosen
                  automatically (>= 256 per tile: 313,600 at 2048x2048), up to 20,000 steps,
                  stopping at 30 dB on the input (docs/large_images.md).
Timings: bench/RESULTS.md.
"""

import ml_collections

from experiments.configs import common

TASKS = ('compare', 'upscale')
SCALES = {
    'paper': {'image_size': 512, 'steps': 5000, 'eval_every': 500, 'log_every': 500,
              'checkpoint_every': 1000, 'data.resize': common.REFERENCE_DATA['data.resize']},
    'tiny': {**common.FIELD_TINY, 'image_size': 32, 'optimizer.learning_rate': 1e-3,
             'crop_size': 0.5, 'tile_overlap': 4},
    'large': {'tile_size': 64, 'tile_overlap': 4, 'model.hidden_features': 32,
              'model.hidden_layers': 2, 'optimizer.learning_rate': 1e-3, 'batch_pixels': -1,
              'target_psnr': 30.0, 'steps': 20_000, 'eval_every': 200, 'log_every': 100,
              'checkpoint_every': 1000},
}


def get_config(variant: str = '') -> ml_collections.ConfigDict:
  task, scale, assignments = common.parse_variant(variant, experiment='resize', modes=TASKS,
                                                  default_mode='compare', scales=tuple(SCALES))
  if scale == 'large' and task != 'upscale':
    raise ValueError(f'bad resize config variant {variant!r}: scale large is for the upscale '
                     'task (resize.py:upscale,large)')
  config = ml_collections.ConfigDict()
  config.task = task  # One of TASKS.
  # --- compare ---
  config.image = 'camera'  # A built-in name (siren_jax.images.BUILTIN_IMAGES) or a file path.
  config.mode = 'grey'  # 'grey' or 'rgb' (upscale: '' keeps the file's channels).
  config.image_size = 256  # Ground-truth side length; must be divisible by every factor.
  config.factors = '4,2'  # Integer downsampling factors to evaluate.
  # A photo set ('corpus[:SPLIT]', 'folder:/path'; siren_jax.data.crops.open_photos) to compare
  # on instead of config.image: each photo (a stereo pair's first view) in RGB, its short side
  # resized to image_size and its centred square the ground truth, downsampled by PIL bicubic
  # as the learned model was trained. '' = config.image.
  config.photos = ''
  config.data_dir = ''  # Where the corpus is built; '' = the tensorflow_datasets default.
  # The zoomed crop in the figure, as fractions of the image (cameraman's head and camera).
  config.crop_top = 0.12
  config.crop_left = 0.38
  config.crop_size = 0.3
  # Early stopping: > 0 holds this share of the low-resolution pixels out (random, fixed by
  # config.seed), fits the rest for config.steps steps, and refits all of them for the step
  # count (an evaluation step, config.eval_every) with the best held-out PSNR. 0: fit all
  # pixels for config.steps steps.
  config.holdout = 0.0
  # --- upscale ---
  config.input = ''  # Image path or built-in name, or a .inr file saved by an earlier run.
  config.factor = 2.0  # Scale factor, used when out_height and out_width are 0.
  config.out_height = 0  # Output height; 0 = from factor (or from out_width and the aspect).
  config.out_width = 0
  config.output = ''  # Output PNG; '' = WORKDIR/upscaled.png.
  config.method = 'siren'  # 'siren': fit the image and render it; 'learned': config.model_file.
  # A learned-resize model file (python -m experiments.sr): upscale with method=learned, and a
  # row of compare over config.photos.
  config.model_file = ''
  config.network_output = ''  # Fitted-network file; '' = WORKDIR/fitted.inr.
  config.param_dtype = 'float32'  # Of the saved network: 'float32' or 'float16' (half size).
  config.tile_size = 0  # > 0: fit in overlapping tiles of this many pixels (large images).
  config.tile_overlap = 16
  config.tile_ramp = 'cosine'  # Blending of tile overlaps: 'cosine' or 'linear'.
  # --- both ---
  # Preparation of the images. compare needs the half_pixel grid: its inputs are box averages,
  # whose centres are the means of the centres they cover only on that grid.
  common.add_data_fields(config)
  config.max_pixels = 4096 * 4096  # Largest output (and input) image allowed, in pixels.
  common.add_field_fit_fields(config, model='siren')  # config.model.name: common.FIELD_MODELS.
  config.steps_per_call = 10
  config.eval_every = 100
  config.log_every = 100
  config.checkpoint_every = 500
  if task == 'upscale':
    config.input = 'text'
    config.mode = ''
    config.steps = 300
  return common.finish(config, scale, SCALES, assignments)
