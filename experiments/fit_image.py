r"""Fits an image with SIREN and baseline MLPs (paper Fig. 1).

  python -m experiments.fit_image --config=experiments/configs/fit_image.py --workdir=/tmp/fit
  python -m experiments.fit_image --config=experiments/configs/fit_image.py:paper \
      --workdir=/tmp/fit_paper --config.image=astronaut --config.mode=rgb
"""

from experiments import common, fit_image_lib

if __name__ == '__main__':
  common.run(fit_image_lib.train_and_evaluate, default_config='experiments/configs/fit_image.py')
