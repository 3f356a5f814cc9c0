r"""Trains a colouriser (the original report): Wallner's conv model (FR, SRS, S130) or the FC SIREN.

  python -m experiments.colorize --config=experiments/configs/colorize.py:SRS --workdir=/tmp/srs
  python -m experiments.colorize --config=experiments/configs/colorize.py:FC --workdir=/tmp/fc
  python -m experiments.colorize --config=experiments/configs/colorize.py:SRS,paper \
      --config.dataset=folder:/data/beach --workdir=/tmp/srs_paper
"""

from experiments import common
from experiments.colorize import train as colorize_train

if __name__ == '__main__':
  common.run(colorize_train.train_and_evaluate, default_config='experiments/configs/colorize.py')
