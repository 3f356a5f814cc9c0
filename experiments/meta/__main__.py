r"""Meta-learned initialisation (Tancik et al. 2021): meta-trains the starting weights of a field
model on random crops of the photo corpus, or evaluates a learned init on its test photos.

  python -m tools.fetch_photos --data_dir=/tmp/siren_photos
  python -m experiments.meta --config=experiments/configs/meta.py --workdir=/tmp/meta \
      --config.data_dir=/tmp/siren_photos
  python -m experiments.meta --config=experiments/configs/meta.py:evaluate \
      --workdir=/tmp/meta_eval --config.data_dir=/tmp/siren_photos \
      --config.init=/tmp/meta/init_grey.init
"""

from experiments import common
from experiments.meta import evaluate, train

train_or_evaluate = common.train_or_evaluate(train.check_config, train.train, evaluate.evaluate)

if __name__ == '__main__':
  common.run(train_or_evaluate, default_config='experiments/configs/meta.py')
