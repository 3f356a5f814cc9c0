r"""Poisson reconstruction and gradient-domain merging of images (paper Sec. 4.1).

  python -m experiments.poisson --config=experiments/configs/poisson.py:grad --workdir=/tmp/grad
  python -m experiments.poisson --config=experiments/configs/poisson.py:laplacian --workdir=/tmp/lap
  python -m experiments.poisson --config=experiments/configs/poisson.py:merge --workdir=/tmp/merge
  python -m experiments.poisson --config=experiments/configs/poisson.py:blend --workdir=/tmp/blend \
      --config.mask=/path/to/mask.png
"""

from absl import app, flags
from ml_collections import config_flags

from experiments import common, poisson_lib

FLAGS = flags.FLAGS
flags.DEFINE_string('workdir', None, 'Directory for metrics, figures and checkpoints.')
config_flags.DEFINE_config_file('config', 'experiments/configs/poisson.py',
                                'Config file (path[:MODE[_SCALE]]).', lock_config=True)


@common.main_with_clean_errors
def main(argv: list[str]) -> None:
  del argv  # Checked by main_with_clean_errors.
  poisson_lib.train_and_evaluate(FLAGS.config, common.require_workdir(FLAGS.workdir))


if __name__ == '__main__':
  app.run(main)
