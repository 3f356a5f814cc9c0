r"""Resizes images through the coordinate grid: SIREN super-resolution vs classical resampling.

  python -m experiments.resize --config=experiments/configs/resize.py --workdir=/tmp/resize
  python -m experiments.resize --config=experiments/configs/resize.py:upscale \
      --workdir=/tmp/up --config.input=photo.png --config.factor=3 --config.output=/tmp/big.png
  python -m experiments.resize --config=experiments/configs/resize.py:upscale \
      --workdir=/tmp/up2 --config.input=/tmp/up/fitted.inr --config.out_width=2000
"""

from absl import app, flags
from ml_collections import config_flags

from experiments import common, resize_lib

FLAGS = flags.FLAGS
flags.DEFINE_string('workdir', None, 'Directory for metrics, figures, networks and checkpoints.')
config_flags.DEFINE_config_file('config', 'experiments/configs/resize.py',
                                'Config file (path[:variant]).', lock_config=True)


@common.main_with_clean_errors
def main(argv: list[str]) -> None:
  del argv  # Checked by main_with_clean_errors.
  resize_lib.train_and_evaluate(FLAGS.config, common.require_workdir(FLAGS.workdir))


if __name__ == '__main__':
  app.run(main)
