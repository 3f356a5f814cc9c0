r"""Held-out colourisation: k-fold by photo over the offline natural photos, every model with
several seeds, against the grey and lightness-histogram baselines (docs/colorization.md).

  python -m experiments.colorize_heldout --config=experiments/configs/colorize.py:heldout \
      --workdir=/tmp/heldout
"""

from absl import app, flags
from ml_collections import config_flags

from experiments import colorize_heldout_lib, common

FLAGS = flags.FLAGS
flags.DEFINE_string('workdir', None, 'Directory for heldout.json, heldout.md and heldout.png.')
config_flags.DEFINE_config_file('config', 'experiments/configs/colorize.py:heldout',
                                'Config file (path[:MODEL[,SCALE]]).', lock_config=True)


@common.main_with_clean_errors
def main(argv: list[str]) -> None:
  del argv  # Checked by main_with_clean_errors.
  colorize_heldout_lib.run(FLAGS.config, common.require_workdir(FLAGS.workdir))


if __name__ == '__main__':
  app.run(main)
