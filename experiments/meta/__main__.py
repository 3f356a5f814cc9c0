r"""Meta-learned initialisation (Tancik et al. 2021): meta-trains the starting weights of a field
model on random crops of the photo corpus, or evaluates a learned init on its test photos.

  python -m tools.fetch_photos --data_dir=/tmp/siren_photos
  python -m experiments.meta --config=experiments/configs/meta.py --workdir=/tmp/meta \
      --config.data_dir=/tmp/siren_photos
  python -m experiments.meta --config=experiments/configs/meta.py:evaluate \
      --workdir=/tmp/meta_eval --config.data_dir=/tmp/siren_photos \
      --config.init=/tmp/meta/init_grey.init
  python -m experiments.meta --config=experiments/configs/meta.py:combine \
      --workdir=/tmp/meta_seeds --config.evaluations=/tmp/meta_eval,/tmp/meta_eval_s1
"""

from typing import Any

import ml_collections

from experiments import common
from experiments.meta import combine, evaluate, train

TASK_FUNCTIONS = {'train': train.train, 'evaluate': evaluate.evaluate, 'combine': combine.combine}


def run_task(config: ml_collections.ConfigDict, workdir: str) -> dict[str, Any]:
  """Checks the config, then runs config.task; returns what it wrote."""
  train.check_config(config)
  return TASK_FUNCTIONS[config.task](config, workdir)


if __name__ == '__main__':
  common.run(run_task, default_config='experiments/configs/meta.py')
