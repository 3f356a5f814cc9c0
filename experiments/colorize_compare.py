r"""Trains several colourisers (default FR, SRS, S130) under one seed, data and epoch budget and
compares how fast their losses fall (the report: sine + relu (SRS) converges ~3x faster).

  python -m experiments.colorize_compare --config=experiments/configs/colorize.py \
      --workdir=/tmp/colorize_compare

Writes WORKDIR/<MODEL>/ (each model's full colorize outputs), compare.png, compare.md and
compare.json.
"""

from absl import app, flags
from ml_collections import config_flags

from experiments import colorize_compare_lib, common

FLAGS = flags.FLAGS
flags.DEFINE_string('workdir', None, 'Directory for the per-model runs and the comparison.')
config_flags.DEFINE_config_file('config', 'experiments/configs/colorize.py',
                                'Config file (path[:SCALE]); config.compare_models lists models.',
                                lock_config=True)


@common.main_with_clean_errors
def main(argv: list[str]) -> None:
  del argv  # Checked by main_with_clean_errors.
  colorize_compare_lib.compare(FLAGS.config, common.require_workdir(FLAGS.workdir))


if __name__ == '__main__':
  app.run(main)
