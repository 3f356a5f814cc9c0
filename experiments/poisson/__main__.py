r"""Poisson reconstruction and gradient-domain merging of images (paper Sec. 4.1).

  python -m experiments.poisson --config=experiments/configs/poisson.py:grad --workdir=/tmp/grad
  python -m experiments.poisson --config=experiments/configs/poisson.py:laplacian --workdir=/tmp/lap
  python -m experiments.poisson --config=experiments/configs/poisson.py:merge --workdir=/tmp/merge
  python -m experiments.poisson --config=experiments/configs/poisson.py:blend --workdir=/tmp/blend \
      --config.mask=/path/to/mask.png
"""

from experiments import common
from experiments.poisson import train as poisson_train

if __name__ == '__main__':
  common.run(poisson_train.train_and_evaluate, default_config='experiments/configs/poisson.py')
