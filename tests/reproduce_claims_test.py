"""experiments.reproduce.claims: verdicts at each scale, every claim tied to a registered part."""

from experiments.reproduce import claims, parts
from experiments.reproduce import report as reproduce_report
from tests.helpers import reproduce_claim


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
  clone = reproduce_claim('clone', 'Seamless')
  verdict = claims.judge(clone, None, 'cpu', 'not merged yet').verdict
  assert verdict == 'not tested (not merged yet)'
