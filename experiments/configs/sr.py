"""Config for experiments.sr: learned resizing, a conv encoder with a coordinate decoder (LIIF).

Variants ``--config=experiments/configs/sr.py:[TASK][,SCALE][,key=value...]`` (grammar in
``configs/common.py``):
  TASK   train     (default) train on random patches of the corpus's train split at random
                   scales x1-x4, validation PSNR on its validation photos; writes the model file.
         evaluate  the model file (config.model_file) vs PIL bicubic and Lanczos on the
                   corpus's test photos at config.eval_scales.
  SCALE  ''        CPU-sized: encoder 32 channels x 4 residual blocks, decoder 4 x 64, batch 8 of
                   32x32 inputs with 576 target pixels each (LIIF: 16 of 48x48, 2304).
         paper     LIIF's EDSR-baseline setting (64 x 16 encoder, decoder 4 x 256, batch 16,
                   2304 queries): for a GPU/TPU.
         tiny      seconds, for tests.
"""

import ml_collections

from experiments.configs import common

TASKS = ('train', 'evaluate')
SCALES = {
    'paper': {'model.encoder_features': 64, 'model.encoder_blocks': 16,
              'model.decoder_hidden': 256, 'batch_size': 16, 'input_size': 48, 'queries': 2304,
              'steps': 1_000_000, 'eval_every': 5000, 'log_every': 500,
              'checkpoint_every': 5000},
    'tiny': {'model.encoder_features': 8, 'model.encoder_blocks': 1, 'model.decoder_hidden': 16,
             'model.decoder_layers': 2, 'batch_size': 2, 'input_size': 16, 'queries': 64,
             'steps': 4, 'eval_every': 2, 'log_every': 2, 'checkpoint_every': 2,
             'val_size': 48, 'eval_size': 48, 'eval_scales': '2,3'},
}


def get_config(variant: str = '') -> ml_collections.ConfigDict:
  task, scale, assignments = common.parse_variant(variant, experiment='sr', modes=TASKS,
                                                  default_mode='train', scales=tuple(SCALES))
  config = ml_collections.ConfigDict()
  config.task = task  # One of TASKS.
  common.add_photo_datasets(config)
  # siren_jax.sr.liif.Spec fields.
  config.model = ml_collections.ConfigDict({
      'encoder_features': 32, 'encoder_blocks': 4, 'activation': 'sine',
      'decoder_hidden': 64, 'decoder_layers': 4, 'first_omega0': 30.0, 'hidden_omega0': 30.0,
      'feature_unfold': True, 'local_ensemble': True, 'cell_decode': True})
  config.optimizer = common.optimizer(1e-4)  # LIIF's Adam 1e-4.
  config.batch_size = 8
  config.input_size = 32  # Low-resolution patch side (LIIF: 48).
  config.queries = 576  # Target pixels per patch (LIIF: 2304).
  config.scale_min = 1.0
  config.scale_max = 4.0
  config.seed = 0
  config.steps = 600
  config.log_every = 50
  config.eval_every = 100
  config.checkpoint_every = 100
  config.val_size = 192  # Centre crops of this side of the validation photos, scored at x2/x4.
  config.model_file = ''  # train: where to write it ('' = WORKDIR/model.sr); evaluate: read.
  # --- evaluate ---
  config.eval_scales = '2,3,4,2.5,3.3,6,8'
  config.eval_size = 240  # Centre crop side of each test photo (the ground truth).
  config.tile_size = 192  # Input tile side when upscaling (siren_jax.sr.upscale).
  common.add_run_fields(config)
  if task == 'evaluate':
    config.steps = 0
  for key, value in SCALES.get(scale, {}).items():
    group, _, field = key.rpartition('.')
    (config[group] if group else config)[field] = value
  return common.finish(config, '', {}, assignments)
