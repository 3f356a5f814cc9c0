r"""Reproduces the paper's figures and tables and the report's claims with one command.

  python -m experiments.reproduce --workdir=/tmp/repro                       # cpu scale
  python -m experiments.reproduce --config=experiments/configs/reproduce.py:tiny --workdir=/tmp/r
  python -m experiments.reproduce --config=experiments/configs/reproduce.py:paper --workdir=DIR

Writes DIR/<part>/ (each part's experiments), DIR/REPORT.md and DIR/reproduction_figures/.
A rerun skips finished parts and resumes an interrupted one.
"""

from experiments import common
from experiments.reproduce import run as reproduce_run

if __name__ == '__main__':
  common.run(reproduce_run.train_and_evaluate, default_config='experiments/configs/reproduce.py',
             workdir_help='Directory for every part, REPORT.md and its figures.')
