"""experiments.reproduce.run (``python -m experiments.reproduce``): finished parts are skipped,
the report is rewritten from finished parts, the config is checked, and the tiny
reproduction runs end to end."""

import os

import pytest

from experiments.configs import reproduce as reproduce_config
from experiments.reproduce import claims, parts
from experiments.reproduce import report as reproduce_report
from experiments.reproduce import run as reproduce_run
from tests.helpers import write_synthetic_reproduction


def test_finished_parts_are_skipped_and_other_settings_refused(tmp_path):
  config = reproduce_config.get_config('tiny')
  config.parts = 'merge'
  workdir = str(tmp_path)
  write_synthetic_reproduction(workdir, config)
  status = reproduce_run.train_and_evaluate(config, workdir)
  assert status['merge'] == 'skipped'  # Would have trained for a minute otherwise.
  assert not os.path.exists(os.path.join(workdir, 'merge', 'checkpoints'))
  report = open(os.path.join(workdir, 'REPORT.md')).read()
  assert '| merge | finished earlier |' in report

  config.merge_variant = 'merge,tiny,rules=mixed'
  with pytest.raises(ValueError, match='other settings'):
    reproduce_run.train_and_evaluate(config, workdir)


def test_config_rejects_unknown_parts_and_scales():
  config = reproduce_config.get_config('tiny')
  config.parts = 'fit,nope'
  with pytest.raises(ValueError, match='nope'):
    reproduce_run.check_config(config)
  with pytest.raises(ValueError, match='bad reproduce config variant'):
    reproduce_config.get_config('huge')
  config = reproduce_config.get_config('tiny')
  config.fit_variant = 'tiny,stepz=3'
  with pytest.raises(ValueError, match="fit_variant.*unknown config field 'stepz'"):
    reproduce_run.check_config(config)
  config = reproduce_config.get_config('tiny')
  config.poisson_models = 'siren,sine'
  with pytest.raises(ValueError, match="'sine' is not one of"):
    reproduce_run.check_config(config)
  config = reproduce_config.get_config('tiny')
  config.colorize_models = 'FR,SIREN'
  with pytest.raises(ValueError, match='colorize_models'):
    reproduce_run.check_config(config)


@pytest.mark.slow
def test_tiny_reproduction_runs_end_to_end_and_a_rerun_skips_it(tmp_path):
  config = reproduce_config.get_config('tiny')
  workdir = str(tmp_path)
  status = reproduce_run.train_and_evaluate(config, workdir)
  expected = {'fit', 'reconstruct', 'merge', 'resize', 'colorize', 'clone'}
  assert {p for p, s in status.items() if s == 'ran'} == expected
  report = open(os.path.join(workdir, 'REPORT.md')).read()
  table = report.split('## Claims')[1].split('## Parts')[0]
  rows = [line for line in table.splitlines() if line.startswith('| ') and line[2].isdigit()]
  assert len(rows) == len(claims.CLAIMS)
  verdicts = ('holds', 'does not hold', 'not tested')
  assert all(any(v in row.split('|')[-2] for v in verdicts) for row in rows)
  for name in ('fit_0.png', 'resize_0.png'):
    assert os.path.getsize(os.path.join(workdir, reproduce_report.FIGURE_DIR, name)) < 300_000

  mtimes = {p: os.path.getmtime(os.path.join(workdir, p, parts.RESULT_FILE))
            for p in expected}
  assert set(reproduce_run.train_and_evaluate(config, workdir).values()) == {'skipped'}
  assert mtimes == {p: os.path.getmtime(os.path.join(workdir, p, parts.RESULT_FILE))
                    for p in expected}


def test_report_only_rewrites_the_report_from_finished_parts(tmp_path):
  config = reproduce_config.get_config('cpu')
  workdir = str(tmp_path)
  write_synthetic_reproduction(workdir, config)
  os.remove(os.path.join(workdir, 'fit', parts.RESULT_FILE))  # fit did not finish.
  os.remove(os.path.join(workdir, 'reconstruct', parts.RESULT_FILE))
  config.report_only = True
  assert reproduce_run.train_and_evaluate(config, workdir) == {}
  report = open(os.path.join(workdir, 'REPORT.md')).read()
  assert '| merge | finished |' in report
  assert '| fit | did not finish / not run |' in report
  assert 'Finished so far: fit (' in report  # Its experiment wrote metrics.json.
  # An unfinished part shows its finished experiments' numbers, but its claims stay untested.
  assert '| grad_siren | 31.60 | 31.90 | 500 |' in report
  rows = reproduce_report.claims_rows(workdir, 'cpu')
  assert all(r.verdict.startswith('not tested') for r in rows if r.claim.part == 'reconstruct')
  assert '| grey | mean | 35.10 |' in report  # The synthetic merge number, in its section.
