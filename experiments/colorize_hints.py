r"""Colourisation from a few colour hints, evaluated: hints sampled from each photo's truth at
several counts and seeds, Levin et al.'s direct solve and a SIREN fitted to the same problem,
against the grey baseline and the truth (docs/colorization.md).

  python -m experiments.colorize_hints --workdir=/tmp/hints
  python -m experiments.colorize_hints --workdir=/tmp/hints_corpus \
      --config.hints.photos=folder:/data/corpus
"""

from experiments import common
from experiments.colorize import hints_eval

if __name__ == '__main__':
  common.run(hints_eval.run, default_config='experiments/configs/colorize.py',
             workdir_help='Directory for hints.json, hints.md and hints.png.')
