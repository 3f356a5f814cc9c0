"""Config for experiments.reproduce: every reproduction of the paper and the report, one command.

Variants ``--config=experiments/configs/reproduce.py[:SCALE][,key=value...]`` (grammar in
``configs/common.py``):
  cpu    (default) the most faithful reproduction that fits ~45 minutes of an idle 2-core CPU:
         Fig. 1 at the paper's 256x256 for 500 steps (not 10,000); Poisson at 64x64, width 128,
         500 (gradient) / 300 (Laplacian) steps (not 256x256, width 256, 10,000); the grey
         merge at 64x64, 150 steps (not 512x512, 10,000); resizing at 256x256 ground truth, 500
         steps per fit (not 512x512, 5,000); colourisation under the held-out protocol (3
         folds by photo, 2 seeds) at 32x32 crops, width x0.25, 100 epochs (not 256x256 crops,
         full width, 1000 epochs).
  paper  the paper's sizes and step counts (GPU/TPU): every part's own ``paper`` scale.
  tiny   seconds per part, for CI: checks the machinery and the report's structure only.

Each ``*_variant`` field is the variant string handed to that experiment's own config file
(``fit_image.py``, ``poisson.py``, ``resize.py``, ``colorize.py``), so any of its fields can be
changed from here, e.g. ``--config.fit_variant=paper,steps=2000``.

The parts that reproduce the paper's figures (fit: Fig. 1; reconstruct: Table 1; merge: the
composite of Sec. 4.1) prepare their images as the SIREN reference code does at every scale
(``REFERENCE_DATA``: PIL bilinear resizing, the linspace grid), so that their numbers can be
set against the reference's; resize, clone and colorize are this project's own protocols.
"""

import ml_collections

from experiments.configs import common

# Run order: cheap parts first, so that a run cut short still reports something from most parts.
PARTS = ('merge', 'resize', 'reconstruct', 'fit', 'colorize', 'clone')
NATURAL_PHOTOS = 'camera,astronaut,coffee,chelsea,rocket,stereo_motorcycle'
SCALE_NAMES = ('cpu', 'paper', 'tiny')
REFERENCE_DATA = ','.join(f'{k}={v}' for k, v in common.REFERENCE_DATA.items())
PAPER_FIGURE_VARIANTS = ('fit_variant', 'grad_variant', 'laplacian_variant', 'merge_variant')

# Per scale: the variant of each experiment's config (its own grammar).
VARIANTS = {
    'cpu': {
        'fit_variant': 'image_size=256,steps=500',
        'grad_variant': 'grad,steps=500',
        'laplacian_variant': 'laplacian,steps=300',
        'merge_variant': 'merge,colors=grey',
        'clone_variant': 'clone',
        'resize_variant': 'compare',
        'colorize_variant': 'heldout,heldout_seeds=2',
    },
    'paper': {
        'fit_variant': 'paper',
        'grad_variant': 'grad,paper',
        'laplacian_variant': 'laplacian,paper',
        'merge_variant': 'merge,paper,colors=grey',
        'clone_variant': 'clone,paper',
        'resize_variant': 'compare,paper',
        'colorize_variant': 'paper,dataset=embedded:natural',
    },
    'tiny': {
        'fit_variant': 'tiny',
        'grad_variant': 'grad,tiny',
        'laplacian_variant': 'laplacian,tiny',
        'merge_variant': 'merge,tiny,rules=mean',
        'clone_variant': 'clone,tiny',
        'resize_variant': 'compare,tiny',
        'colorize_variant': 'tiny,epochs=2,heldout_seeds=1',
    },
}


def get_config(variant: str = '') -> ml_collections.ConfigDict:
  scale, _, assignments = common.parse_variant(variant, experiment='reproduce',
                                               modes=SCALE_NAMES, default_mode='cpu')
  config = ml_collections.ConfigDict()
  config.scale = scale  # One of SCALE_NAMES; the claims table tests each claim at some scales.
  config.parts = ','.join(PARTS)  # Parts to run, comma-separated, in this order.
  # Models of Table 1 (config.model.name of experiments.poisson), SIREN first.
  config.poisson_models = 'siren,tanh,relu_pe'
  config.resize_images = NATURAL_PHOTOS  # Every built-in natural photo ('cat' is 'chelsea').
  config.resize_mode = 'grey'
  # Colourisers of the report compared under the held-out protocol (colorize_heldout's models).
  config.colorize_models = 'FR,SRS,S130'
  for key, value in VARIANTS[scale].items():
    config[key] = f'{value},{REFERENCE_DATA}' if key in PAPER_FIGURE_VARIANTS else value
  config.report_only = False  # Only rewrite REPORT.md from the finished parts in the workdir.
  config.max_figure_bytes = 300_000  # Figures copied into the report are shrunk below this.
  return common.apply_overrides(config, assignments, 'config variant')
