r"""Fits an image with SIREN and baseline MLPs (paper Fig. 1).

  python -m experiments.fit_image --config=experiments/configs/fit_image.py --workdir=/tmp/fit
  python -m experiments.fit_image --config=experiments/configs/fit_image.py:paper \
      --workdir=/tmp/fit_paper --config.image=astronaut --config.mode=rgb
"""

from absl import app, flags
from ml_collections import config_flags

from experiments import common, fit_image_lib

FLAGS = flags.FLAGS
flags.DEFINE_string('workdir', None, 'Directory for metrics, figures and checkpoints.')
config_flags.DEFINE_config_file('config', 'experiments/configs/fit_image.py',
                                'Config file (path[:variant]).', lock_config=True)


@common.main_with_clean_errors
def main(argv: list[str]) -> None:
  del argv  # Checked by main_with_clean_errors.
  fit_image_lib.train_and_evaluate(FLAGS.config, common.require_workdir(FLAGS.workdir))


if __name__ == '__main__':
  app.run(main)
