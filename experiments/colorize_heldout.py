r"""Held-out colourisation: k-fold by photo over the offline natural photos, every model with
several seeds, against the grey and lightness-histogram baselines (docs/colorization.md).

  python -m experiments.colorize_heldout --config=experiments/configs/colorize.py:heldout \
      --workdir=/tmp/heldout
"""

from experiments import common
from experiments.colorize import heldout as colorize_heldout

if __name__ == '__main__':
  common.run(colorize_heldout.run, default_config='experiments/configs/colorize.py:heldout',
             workdir_help='Directory for heldout.json, heldout.md and heldout.png.')
