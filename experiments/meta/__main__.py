r"""Meta-learned initialisation (Tancik et al. 2021): meta-trains the starting weights of a field
model on random crops of the photo corpus, or evaluates a learned init on its test photos.

  python -m tools.fetch_photos --data_dir=/tmp/siren_photos
  python -m experiments.meta --config=experiments/configs/meta.py --workdir=/tmp/meta \
      --config.data_dir=/tmp/siren_photos
  python -m experiments.meta --config=experiments/configs/meta.py:evaluate \
      --workdir=/tmp/meta_eval --config.data_dir=/tmp/siren_photos \
      --config.init=/tmp/meta/init_grey.init
"""

import ml_collections

from experiments import common
from experiments.meta import evaluate, train


def train_or_evaluate(config: ml_collections.ConfigDict, workdir: str) -> dict:
  """Runs config.task ('train' or 'evaluate'); returns what it wrote to metrics.json."""
  train.check_config(config)
  if config.task == 'evaluate':
    return evaluate.evaluate(config, workdir)
  return train.train(config, workdir)


if __name__ == '__main__':
  common.run(train_or_evaluate, default_config='experiments/configs/meta.py')
