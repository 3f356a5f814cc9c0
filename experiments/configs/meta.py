"""Config for experiments.meta: a meta-learned initialisation of a field model (Tancik et al.
2021), meta-trained on random crops of the photo corpus, and its evaluation.

Variants ``--config=experiments/configs/meta.py:[TASK][,SCALE][,key=value...]`` (grammar in
``configs/common.py``):
  TASK   train     (default) meta-train on crops of config.dataset, validation curves (PSNR
                   against test-time steps, learned vs random init) on config.val_dataset;
                   writes WORKDIR/init_<colour>.init.
         evaluate  the init file config.init vs random inits on config.test_dataset with the
                   normal fit (config.fit: Adam 1e-4, full image, config.fit.steps steps).
         combine   several evaluations' metrics.json (config.evaluations: their workdirs,
                   e.g. the inits of three meta-training seeds) in one table: per evaluation,
                   over the evaluations' means and over every fit.
  SCALE  ''        the CPU default: SIREN 256 x 3 for 256^2 images, second-order MAML with 4
                   inner Adam steps on 4096-pixel subsets of 256^2 crops, meta-batch 2, 400
                   outer steps (about 5-6 minutes on 2 CPU cores); Reptile is
                   --config.meta.algorithm=reptile.
         paper     Tancik et al.'s image setting at 256^2 crops: MAML (second order), 2 inner
                   SGD steps at 1e-2 on the full crop, outer Adam 1e-5, meta-batch 3; for a
                   GPU/TPU.
         tiny      seconds, for tests: a synthetic class of sinusoid photos at 16^2.
"""

import ml_collections

from experiments.configs import common

TASKS = ('train', 'evaluate', 'combine')
ALGORITHMS = ('reptile', 'maml')
COLOURS = ('grey', 'rgb')
INNER_OPTIMIZERS = ('sgd', 'adam')
SUPERVISIONS = ('image', 'gradient')  # evaluate: config.fit.supervision.
SCALES = {
    'paper': {'meta.algorithm': 'maml', 'meta.meta_batch': 3, 'meta.inner_pixels': 0,
              'meta.outer_pixels': 0, 'meta.crop_sizes': '256', 'inner.name': 'sgd',
              'inner.learning_rate': 1e-2, 'inner.steps': 2, 'optimizer.learning_rate': 1e-5,
              'steps': 150_000, 'log_every': 500, 'eval_every': 5000,
              'checkpoint_every': 5000, 'eval_steps': '1,10,50'},
    'tiny': {'dataset': 'synthetic:train', 'val_dataset': 'synthetic:validation',
             'test_dataset': 'synthetic:test', 'image_size': 16,
             'model.hidden_features': 16, 'model.hidden_layers': 2, 'meta.meta_batch': 2,
             'meta.crop_sizes': '16', 'meta.inner_pixels': 64, 'meta.outer_pixels': 64,
             'inner.steps': 2, 'inner.learning_rate': 1e-3, 'optimizer.learning_rate': 1e-3,
             'steps': 4, 'log_every': 2, 'eval_every': 2, 'checkpoint_every': 2,
             'eval_steps': '1,2', 'fit.steps': 4, 'fit.report_steps': '1,4'},
}


def get_config(variant: str = '') -> ml_collections.ConfigDict:
  task, scale, assignments = common.parse_variant(variant, experiment='meta', modes=TASKS,
                                                  default_mode='train', scales=tuple(SCALES))
  config = ml_collections.ConfigDict()
  config.task = task  # One of TASKS.
  # Photos (configs.common): the corpus's splits, 'folder:/path', or 'synthetic[:SPLIT]'
  # (siren_jax.meta.tasks.SinusoidPhotos).
  common.add_photo_datasets(config)
  config.colour = 'grey'  # 'grey' (L* / 50 - 1, the crops' grey view) or 'rgb'.
  # The image side the init is for: the model spec's image side, validation and test images
  # (centre squares of the photos resized to it).
  config.image_size = 256
  common.add_data_fields(config)  # config.data.grid (config.data.resize is not used).
  # The field model (config.model, as fit_image's) and, for training, the OUTER optimiser
  # (config.optimizer); seed, steps, intervals and run fields as every field fit.
  common.add_field_fit_fields(config, model='siren')
  config.optimizer.learning_rate = 1e-4
  config.steps = 400
  config.log_every = 25
  config.eval_every = 200
  config.checkpoint_every = 50
  config.meta = ml_collections.ConfigDict(dict(
      algorithm='maml',  # One of ALGORITHMS.
      first_order=False,  # MAML only: drop the second-order terms (FOMAML).
      meta_batch=2,  # Tasks per outer step (split over the devices).
      crop_sizes='256',  # Comma-separated crop sides (pixels); one drawn per step.
      crop_scale_min=0.1,  # Crop side as a fraction of the photo's short side.
      crop_scale_max=1.0,
      inner_pixels=4096,  # Random pixels per inner step (0: the whole crop).
      outer_pixels=4096,  # MAML's outer loss pixels (0: the whole crop).
  ))
  # The inner loop: optimiser ('sgd' or 'adam'), its learning rate and steps.
  config.inner = ml_collections.ConfigDict(dict(name='adam', learning_rate=1e-4, steps=4))
  # train: the validation curves run this many test-time steps (the largest) and report these.
  config.eval_steps = '1,10,20'
  # The normal fit, from the learned or a random init: validation curves and evaluate.
  config.fit = ml_collections.ConfigDict(dict(
      optimizer=common.optimizer(1e-4),
      steps=500,
      report_steps='1,10,50,500',  # evaluate: PSNR after these steps.
      # evaluate: what the fits train on: 'image' (the pixels) or 'gradient' (only the image's
      # gradient, the Poisson reconstruction; PSNR after matching the mean).
      supervision='image',
  ))
  # --- evaluate ---
  config.init = ''  # The learned-init file to evaluate (written by the train task).
  config.seeds = '0'  # Comma-separated seeds of the random inits it is compared with.
  config.max_photos = 0  # > 0: only the first this many test photos.
  # Comma-separated test photos to evaluate, e.g. to finish the last ones of a stopped run: each
  # by its name (the results' `photo` column) or its unique file stem ('coffee'); '' every photo
  # (of the first max_photos).
  config.photos = ''
  config.batch_pixels = 0  # The normal fit is full-image.
  # --- combine ---
  # Comma-separated workdirs of finished evaluations of one setting (same photos and fit).
  config.evaluations = ''
  # Comma-separated steps to report PSNR and lead at ('' the report steps every evaluation has).
  config.combine_steps = ''
  # The target is the random init's PSNR after this many steps (1..config.fit.steps, e.g. 50 of
  # 200-step fits); 0: after the fits' last step, as evaluate reports it.
  config.target_step = 0
  for key, value in SCALES.get(scale, {}).items():
    group, _, field = key.rpartition('.')
    (config[group] if group else config)[field] = value
  return common.finish(config, '', {}, assignments)
