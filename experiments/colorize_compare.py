r"""Trains several colourisers (default FR, SRS, S130) under one seed, data and epoch budget and
compares how fast their losses fall (the report: sine + relu (SRS) converges ~3x faster).

  python -m experiments.colorize_compare --config=experiments/configs/colorize.py \
      --workdir=/tmp/colorize_compare

Writes WORKDIR/<MODEL>/ (each model's full colorize outputs), compare.png, compare.md and
compare.json.
"""

from experiments import common
from experiments.colorize import compare as colorize_compare

if __name__ == '__main__':
  common.run(colorize_compare.compare, default_config='experiments/configs/colorize.py')
