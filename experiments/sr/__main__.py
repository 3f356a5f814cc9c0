r"""Learned resizing: trains a conv encoder + coordinate decoder (LIIF) on the photo corpus, and
evaluates it against bicubic and Lanczos on the corpus's test photos.

  python -m tools.fetch_photos --data_dir=/tmp/siren_photos
  python -m experiments.sr --config=experiments/configs/sr.py --workdir=/tmp/sr \
      --config.data_dir=/tmp/siren_photos
  python -m experiments.sr --config=experiments/configs/sr.py:evaluate --workdir=/tmp/sr_eval \
      --config.data_dir=/tmp/siren_photos --config.model_file=/tmp/sr/model.sr
"""

from experiments import common
from experiments.sr import evaluate, train

train_or_evaluate = common.train_or_evaluate(train.check_config, train.train, evaluate.evaluate)

if __name__ == '__main__':
  common.run(train_or_evaluate, default_config='experiments/configs/sr.py')
