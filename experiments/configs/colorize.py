"""Config for experiments.colorize (and colorize_compare, colorize_photo).

Variants (``--config=experiments/configs/colorize.py:MODEL[,SCALE][,key=value...]``, grammar in
``configs/common.py``):
  MODEL  FR (relu, tanh out; the original), SRS (sine first and last layer), S130 (sine
         everywhere): Wallner's conv colouriser; FC: the fully connected SIREN. Default FR.
  SCALE  ''    CPU-sized: 64x64 crops of the embedded photos, width x0.25, 300 epochs (FC: 16x16);
               a few minutes per model on a 2-core CPU.
         paper the report's scale for a GPU/TPU: 256x256, full width, batch 20, 1000 epochs
               (FC: 48x48, batch 70, 1000 epochs). Point config.dataset at real data.
         tiny  16x16, a few epochs: for tests.
         heldout  experiments.colorize_heldout's CPU scale: 3 folds of the natural photos at a
               short side of 128, 32x32 crops (FC 16x16), width x0.25, 100 epochs, 3 seeds.
         corpus   experiments.colorize_heldout on the photo corpus (set config.data_dir): train on
               random crops of its train split, evaluate on its 9 test photos; CPU-sized
               (64x64 crops, FC 16x16, width x0.25, 2 batches of 16 per epoch, 400 epochs).
         corpus_paper  the same at the report's scale, for a GPU: 256x256 crops, full width,
               2 batches of 20 per epoch (its 40 images), 1000 epochs, loss threshold 0.002.
e.g. ``colorize.py:SRS``, ``colorize.py:FC,paper``, ``colorize.py:S130,tiny``.
The report's sine init is the default (first omega0 1/30 with U(-1, 1) weights); the SIREN
paper's: ``--config.model.sine_init=paper --config.model.first_omega0=30
--config.model.hidden_omega0=30``.
"""

import ml_collections

from experiments.configs import common
from siren_jax import names

MODELS = names.COLORIZER_MODELS
SCALES = (*common.SCALES, 'heldout', 'corpus', 'corpus_paper')


def scales(fc: bool) -> dict[str, dict]:
  return {
      'paper': {'image_size': 48 if fc else 256, 'batch_size': 70 if fc else 20,
                'model.width_scale': 1.0, 'epochs': 1000, 'eval_every_epochs': 5,
                'checkpoint_every_epochs': 50},
      'tiny': {'image_size': 8 if fc else 16, 'batch_size': 4, 'model.width_scale': 0.125,
               'epochs': 2, 'max_eval_examples': 8, 'checkpoint_every_epochs': 1,
               'num_figure_examples': 2, 'heldout_folds': 'astronaut;chelsea',
               'heldout_models': 'FR,FC', 'heldout_seeds': 2, 'heldout_eval_side': 40,
               'heldout_fc_image_size': 8},
      # The held-out protocol's CPU scale (experiments.colorize_heldout, docs/colorization.md).
      # Width x0.125 leaves 2-4 channels in the last decoder layers; there FR and SRS often died
      # to a constant colour (dead relus) on this data, so the CPU default x0.25 it is.
      'heldout': {'dataset': 'embedded:natural', 'image_size': 32, 'photo_side': 128,
                  'model.width_scale': 0.25, 'batch_size': 16, 'epochs': 100,
                  'eval_every_epochs': 5, 'max_eval_examples': 32},
      # The held-out protocol on the photo corpus (docs/colorization.md). An epoch is
      # heldout_epoch_crops random crops whatever the number of training photos, so the points
      # of the learning curve train for the same steps.
      'corpus': {'dataset': 'corpus', 'image_size': 16 if fc else 64, 'model.width_scale': 0.25,
                 'batch_size': 16, 'heldout_epoch_crops': 32, 'epochs': 400,
                 'eval_every_epochs': 10, 'max_eval_examples': 32},
      'corpus_paper': {'dataset': 'corpus', 'image_size': 48 if fc else 256,
                       'model.width_scale': 1.0, 'batch_size': 70 if fc else 20,
                       'heldout_epoch_crops': 140 if fc else 40, 'epochs': 1000,
                       'eval_every_epochs': 5, 'checkpoint_every_epochs': 50,
                       'max_eval_examples': 40, 'heldout_loss_threshold': 0.002,
                       'heldout_fc_image_size': 48, 'heldout_eval_side': 512},
  }


def get_config(variant: str = '') -> ml_collections.ConfigDict:
  model, scale, assignments = common.parse_variant(variant, experiment='colorize', modes=MODELS, scales=SCALES,
                                                   default_mode='FR')
  fc = model == 'FC'

  config = ml_collections.ConfigDict()
  config.model = ml_collections.ConfigDict(dict(
      name=model,  # One of MODELS.
      # Conv colouriser.
      width_scale=0.25,  # Multiplies every hidden channel count; 1.0 = Wallner's widths.
      sine_init='report',  # 'report' or 'paper' (see siren_jax.colorize.colorizers).
      first_omega0=1.0 / 30.0,
      hidden_omega0=1.0,
      # '' (off), 'thumbnail' (parameter-free stand-in), 'global' (Iizuka et al.'s jointly
      # trained global branch) or 'file:PATH' (a pretrained projection, .npy/.msgpack; see
      # colorizers).
      fusion='',
      # Conv only: take (L, hint ab, hint mask) as input (Zhang et al. 2017); the held-out
      # protocol trains it with hints sampled from the truth and scores it at heldout_hint_counts.
      hint_inputs=False,
      # FC SIREN colouriser.
      fc_sine_layers=3,
      fc_first_omega0=30.0,
      fc_hidden_omega0=30.0,
  ))
  # Wallner: Adam with Keras' default 1e-3. FC: 1e-4 diverged after ~30 epochs here.
  config.optimizer = common.optimizer(3e-5 if fc else 1e-3)
  # Data: 'embedded' (scikit-image photos), 'folder:/path' or 'tfds:NAME[:SPLIT]'.
  config.dataset = 'embedded'
  config.data_dir = ''  # TFDS data dir ('' = $TFDS_DATA_DIR or ~/tensorflow_datasets).
  config.image_key = 'image'  # TFDS feature holding the image.
  config.image_size = 16 if fc else 64
  config.batch_size = 16
  config.val_fraction = 0.1
  config.test_fraction = 0.1
  config.split_seed = 0
  config.max_eval_examples = 64
  config.photo_side = 0  # Embedded photos' short side before tiling (0: 4 x image_size).
  config.shard_data_by_process = True  # Multi-host: each process loads its slice of a batch.
  # Batches are split over all devices (batch_size must divide by their number); the train state
  # is replicated, or 'shard_kernels' splits large kernels over the devices (the FC model's).
  config.param_sharding = 'replicate'
  config.epochs = 300
  config.seed = 0
  # Loop, evaluation and outputs (intervals in epochs).
  config.eval_every_epochs = 1
  config.checkpoint_every_epochs = 10
  config.loss_threshold = 0.002  # The report's train-loss level for 'epochs to reach'.
  config.num_figure_examples = 4
  config.compare_models = 'FR,SRS,S130'  # experiments.colorize_compare.
  # experiments.colorize_photo: tiles at the model's scale (0 / -1: the defaults of
  # colorize_photo.tiling).
  config.photo_tile = 0
  config.photo_overlap = -1
  config.photo_margin = -1
  # experiments.colorize_heldout (k-fold by photo; see docs/colorization.md).
  config.heldout_folds = 'astronaut,rocket;chelsea,stereo_motorcycle;coffee,grace_hopper'
  config.heldout_models = 'FR,SRS,S130,FC,SRS+global'
  config.heldout_seeds = 3
  config.heldout_train_extra = ''  # e.g. 'colorwheel,logo': synthetic photos added to training.
  config.heldout_eval_side = 256  # Test photos' short side (chroma predicted at photo_side).
  config.heldout_histogram_bins = 32
  config.heldout_loss_threshold = 0.01  # Train MSE of ab / 128 for 'epochs to'.
  config.heldout_fc_loss_threshold = 0.02  # FC: train MSE of RGB in [-1, 1].
  config.heldout_fc_image_size = 16
  config.heldout_fc_learning_rate = 3e-5  # FC's config.optimizer.learning_rate.
  # Corpus mode (config.dataset 'corpus[/CONFIG]'): one split, train on crops of the corpus's
  # train photos, test on its test photos (the manifest fixes both).
  config.heldout_train_photos = 0  # The first N train photos in the manifest's order; 0: all.
  config.heldout_crop_scale = (0.25, 1.0)  # Crop side as a fraction of the photo's short side.
  config.heldout_epoch_crops = 32  # Random crops per epoch (a multiple of batch_size).
  # Learning curve: 'N1,N2,...' more training-set sizes (first N train photos) for
  # heldout_curve_model ('': the best model of the main table by held-out RGB PSNR).
  config.heldout_curve = ''
  config.heldout_curve_model = ''
  # Models with config.model.hint_inputs: training crops get 0..heldout_train_hints points read
  # from their truth (log-uniform count); each test photo is scored with these many points
  # (hints.sample, hint seed = the run's seed), beside Levin et al.'s solve of the same hints.
  config.heldout_train_hints = 100
  config.heldout_hint_counts = '1,10,100'

  # Colourising from colour hints, no trained model (experiments.colorize_photo --hints=PATH,
  # and the evaluation experiments.colorize_hints; docs/colorization.md).
  config.hints = ml_collections.ConfigDict({
      'method': 'levin',  # 'levin': Levin et al.'s direct solve; 'siren': a field fitted to it.
      # levin: a photo over tile x tile pixels is solved in overlapping tiles, the whole problem
      # first at a short side of coarse_side (its border values for the tiles).
      'tile': 384, 'overlap': 96, 'coarse_side': 512,
      # siren: fitted at a short side of at most fit_side, rendered at the photo's size, to the
      # gradient-domain form of Levin's problem ('gradient') or Levin's own ('levin').
      'form': 'gradient', 'fit_side': 256, 'steps': 100, 'learning_rate': 1e-3,
      'smoothness_weight': 1.0, 'seed': 0,
      'model': {'hidden_features': 32, 'hidden_layers': 2, 'first_omega0': 10.0,
                'hidden_omega0': 30.0},
      # Evaluation (experiments.colorize_hints): photos 'natural', 'A,B,...' (offline photos),
      # 'folder:/path' (its test/ subfolder if it has one) or 'corpus[/CONFIG][:SPLIT]' (the
      # photo corpus built in config.data_dir; default split test), at a short side of eval_side;
      # hints sampled from the truth, KIND:COUNT with KIND points or strokes.
      'photos': 'natural', 'eval_side': 256, 'seeds': 3, 'stroke_length': 9,
      'settings': 'points:1,points:10,points:100,strokes:10',
      'siren_settings': 'points:10',  # The SIREN costs ~20x the direct solve on the CPU.
      'figure_setting': 'points:10', 'figure_photos': 3,
  })

  common.add_run_fields(config)  # nan_policy, resume.
  return common.finish(config, scale, scales(fc), assignments)
