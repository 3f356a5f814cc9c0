r"""Trains a colouriser (the original report): Wallner's conv model (FR, SRS, S130) or the FC SIREN.

  python -m experiments.colorize --config=experiments/configs/colorize.py:SRS --workdir=/tmp/srs
  python -m experiments.colorize --config=experiments/configs/colorize.py:FC --workdir=/tmp/fc
  python -m experiments.colorize --config=experiments/configs/colorize.py:SRS,paper \
      --config.dataset=folder:/data/beach --workdir=/tmp/srs_paper
"""

from absl import app, flags
from ml_collections import config_flags

from experiments import colorize_lib, common

FLAGS = flags.FLAGS
flags.DEFINE_string('workdir', None, 'Directory for metrics, figures and checkpoints.')
config_flags.DEFINE_config_file('config', 'experiments/configs/colorize.py',
                                'Config file (path[:MODEL[,SCALE]]).', lock_config=True)


@common.main_with_clean_errors
def main(argv: list[str]) -> None:
  del argv  # Checked by main_with_clean_errors.
  colorize_lib.train_and_evaluate(FLAGS.config, common.require_workdir(FLAGS.workdir))


if __name__ == '__main__':
  app.run(main)
