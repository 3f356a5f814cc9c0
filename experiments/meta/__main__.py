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

from experiments import common
from experiments.meta import combine, evaluate, train

run_task = common.train_or_evaluate(train.check_config, train.train, evaluate.evaluate,
                                    combine=combine.combine)

if __name__ == '__main__':
  common.run(run_task, default_config='experiments/configs/meta.py')
