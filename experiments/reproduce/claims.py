"""The claims the reproduction tests: each with its source, their number and a tolerance fixed
here, before any result was looked at; and how our number is read from a part's metrics.

Their numbers come from docs/facts.md (the SIREN paper, its reference code, the original
colourisation report) and from this project's README (earlier hand-run numbers). A claim is
only tested at the scales where the comparison means something: absolute numbers of the paper
need the paper's sizes and steps; orderings ("SIREN beats tanh") are tested at every scale,
tiny included (where they may well fail: tiny runs check the machinery, not the science).
The parts behind the paper's claims (fit, reconstruct, merge) prepare their images as the
reference code does (``configs/reproduce.py: REFERENCE_DATA``): that changed their inputs, not
the tolerances below.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Mapping
from typing import Any

Metrics = Mapping[str, Any]  # One part's result file (parsed JSON).

ALL_SCALES = ('tiny', 'cpu', 'paper')
HOLDS, FAILS = 'holds', 'does not hold'
NOT_AT_SCALE = 'not tested at this scale'
NOT_RUN = 'not tested (part not finished)'


@dataclasses.dataclass(frozen=True)
class Test:
  """The tolerance: ``kind`` 'at_least' (ours >= value), 'at_most' (ours <= value) or 'within'
  (|ours - value| <= margin)."""
  kind: str
  value: float
  margin: float = 0.0

  def passes(self, ours: float) -> bool:
    if self.kind == 'at_least':
      return ours >= self.value
    if self.kind == 'at_most':
      return ours <= self.value
    if self.kind == 'within':
      return abs(ours - self.value) <= self.margin
    raise ValueError(f'unknown test kind {self.kind!r}')

  def describe(self, unit: str) -> str:
    symbol = {'at_least': '>=', 'at_most': '<='}.get(self.kind)
    if symbol:
      return f'ours {symbol} {self.value:g}{unit}'
    return f'|ours - {self.value:g}| <= {self.margin:g}{unit}'


@dataclasses.dataclass(frozen=True)
class Claim:
  """One row of the claims table.

  Attributes:
    claim: what is claimed, in words.
    source: where (paper section/figure/table, the report, the README).
    theirs: their number, as they give it.
    part: the reproduction part whose metrics hold our number.
    measure: metrics of that part -> our number (None when the metrics lack it).
    unit: of our number (' dB', 'x', '').
    test: the tolerance, fixed before looking at results.
    scales: the scales at which the claim is tested.
    untested_reason: set when the claim cannot be tested by this code yet (shown as verdict).
  """
  claim: str
  source: str
  theirs: str
  part: str
  measure: Callable[[Metrics], float | None]
  unit: str
  test: Test
  scales: tuple[str, ...] = ALL_SCALES
  untested_reason: str = ''


# --- Measures: a part's metrics -> our number. -----------------------------------------------

def _get(metrics: Metrics, *keys: str) -> Any:
  value: Any = metrics
  for key in keys:
    if not isinstance(value, Mapping) or key not in value:
      return None
    value = value[key]
  return value


def _fit_margin(metrics: Metrics) -> float | None:
  """SIREN's final PSNR minus the best baseline's (fit_image metrics)."""
  models = _get(metrics, 'models') or {}
  if 'siren' not in models or len(models) < 2:
    return None
  return models['siren']['psnr'] - max(m['psnr'] for n, m in models.items() if n != 'siren')


def _fit_psnr_at(step: int) -> Callable[[Metrics], float | None]:
  def measure(metrics: Metrics) -> float | None:
    if _get(metrics, 'height') != 256:  # The number is for the 256x256 cameraman.
      return None
    for record in _get(metrics, 'models', 'siren', 'psnr_history') or []:
      if record['step'] == step:
        return record['psnr']
    return None
  return measure


def _poisson_psnr(kind: str, model: str) -> Callable[[Metrics], float | None]:
  return lambda metrics: _get(metrics, kind, model, 'psnr')


def _poisson_margin(kind: str) -> Callable[[Metrics], float | None]:
  """SIREN's PSNR minus the best baseline's, from gradient or Laplacian."""
  def measure(metrics: Metrics) -> float | None:
    runs = _get(metrics, kind, 'models') or []
    if 'siren' not in runs or len(runs) < 2:
      return None
    psnr = {m: _get(metrics, kind, m, 'psnr') for m in runs}
    return psnr['siren'] - max(v for m, v in psnr.items() if m != 'siren')
  return measure


def _gap_to_direct(metrics: Metrics) -> float | None:
  siren, direct = _get(metrics, 'grad', 'siren', 'psnr'), _get(metrics, 'grad', 'direct', 'psnr')
  return None if siren is None or direct is None else direct - siren


def _merge_vs_direct(metrics: Metrics) -> float | None:
  return _get(metrics, 'results', 'grey', 'mean', 'psnr_vs_direct')


def _find(value: Any, key: str) -> float | None:
  """The first value of ``key`` in nested dicts (depth first), for results whose layout this
  module does not fix."""
  if isinstance(value, Mapping):
    if key in value and isinstance(value[key], (int, float)):
      return float(value[key])
    for item in value.values():
      found = _find(item, key)
      if found is not None:
        return found
  return None


def _resize_gain(factor: str, over: str) -> Callable[[Metrics], float | None]:
  """Mean over the photos of SIREN's PSNR minus the best classical filter's ('best') or one
  named filter's."""
  return lambda metrics: _get(metrics, 'summary', f'x{factor}', f'gain_over_{over}', 'mean')


def _colorize_speedup(model: str) -> Callable[[Metrics], float | None]:
  """How many times fewer epochs ``model`` needs than FR to reach FR's final train loss (mean
  over folds x seeds of the held-out protocol's runs that reach it); 0 when none of its runs
  reaches FR's loss (infinitely slower), None when the model was not run."""
  def measure(metrics: Metrics) -> float | None:
    speedup = _get(metrics, 'summary', model, 'speedup_over_reference', 'mean')
    if speedup is None and str(_get(metrics, 'summary', model, 'reached_reference')).startswith(
        '0/'):
      return 0.0
    return speedup
  return measure


def _heldout_psnr(metrics: Metrics, name: str, key: str = 'rgb_psnr') -> float | None:
  return _get(metrics, 'summary', name, key, 'mean')


def _srs_minus_fr(metrics: Metrics) -> float | None:
  """SRS's held-out ab PSNR minus FR's (negative: SRS generalises worse)."""
  srs, fr = _heldout_psnr(metrics, 'SRS', 'ab_psnr'), _heldout_psnr(metrics, 'FR', 'ab_psnr')
  return None if srs is None or fr is None else srs - fr


def _best_colouriser_minus_grey(metrics: Metrics) -> float | None:
  """The best conv colouriser's held-out RGB PSNR minus the grey (ab = 0) baseline's."""
  grey = _heldout_psnr(metrics, 'grey')
  models = [_heldout_psnr(metrics, m) for m in ('FR', 'SRS', 'S130')]
  models = [m for m in models if m is not None]
  return None if grey is None or not models else max(models) - grey


# --- The claims. Tolerances below were written before the first reproduction ran. ---------
# Absolute Table 1 numbers are for a BSD500 image; ours is the cameraman, hence +-3 dB.
PAPER_ONLY = ('paper',)
CPU_AND_PAPER = ('cpu', 'paper')

CLAIMS: tuple[Claim, ...] = (
    Claim('SIREN fits an image far better than ReLU, tanh and ReLU+PE at equal steps '
          '(SIREN PSNR minus best baseline)', 'paper Fig. 1', 'plot only: SIREN far ahead',
          'fit', _fit_margin, ' dB', Test('at_least', 5.0)),
    Claim('SIREN reaches ~36.8 dB on the 256x256 cameraman after 500 steps, lr 1e-4',
          'third-party reimplementation of Fig. 1 (docs/facts.md)', '36.8 dB', 'fit',
          _fit_psnr_at(500), ' dB', Test('within', 36.8, 1.5), CPU_AND_PAPER),
    Claim('From the gradient, SIREN beats tanh and ReLU+PE (SIREN minus best baseline)',
          'paper Table 1 / Sec. 4.1', '+6.56 dB (32.91 vs 26.35)', 'reconstruct',
          _poisson_margin('grad'), ' dB', Test('at_least', 1.0)),
    Claim('From the Laplacian, SIREN beats tanh and ReLU+PE (SIREN minus best baseline)',
          'paper Table 1 / Sec. 4.1', '+3.81 dB (14.95 vs 11.14)', 'reconstruct',
          _poisson_margin('laplacian'), ' dB', Test('at_least', 1.0)),
    Claim('SIREN from the gradient: PSNR', 'paper Table 1', '32.91 dB', 'reconstruct',
          _poisson_psnr('grad', 'siren'), ' dB', Test('within', 32.91, 3.0), PAPER_ONLY),
    Claim('tanh from the gradient: PSNR', 'paper Table 1', '25.79 dB', 'reconstruct',
          _poisson_psnr('grad', 'tanh'), ' dB', Test('within', 25.79, 3.0), PAPER_ONLY),
    Claim('ReLU+PE from the gradient: PSNR', 'paper Table 1', '26.35 dB', 'reconstruct',
          _poisson_psnr('grad', 'relu_pe'), ' dB', Test('within', 26.35, 3.0), PAPER_ONLY),
    Claim('SIREN from the Laplacian: PSNR', 'paper Table 1', '14.95 dB', 'reconstruct',
          _poisson_psnr('laplacian', 'siren'), ' dB', Test('within', 14.95, 3.0), PAPER_ONLY),
    Claim('tanh from the Laplacian: PSNR', 'paper Table 1', '7.11 dB', 'reconstruct',
          _poisson_psnr('laplacian', 'tanh'), ' dB', Test('within', 7.11, 3.0), PAPER_ONLY),
    Claim('ReLU+PE from the Laplacian: PSNR', 'paper Table 1', '11.14 dB', 'reconstruct',
          _poisson_psnr('laplacian', 'relu_pe'), ' dB', Test('within', 11.14, 3.0), PAPER_ONLY),
    Claim('From the gradient, SIREN gets within 1 dB of the direct solver of the same problem '
          '(direct minus SIREN)', 'README, Poisson caveats (64x64, 500 steps)', '0.3 dB',
          'reconstruct', _gap_to_direct, ' dB', Test('at_most', 1.0), CPU_AND_PAPER),
    Claim('Composite of two images from 0.5 grad A + 0.5 grad B: SIREN matches the direct '
          'solution of the composed field (grey, PSNR vs direct)',
          'paper Sec. 4.1 (figure); README merge (64x64, 150 steps)', '35.1 dB (README)',
          'merge', _merge_vs_direct, ' dB', Test('at_least', 30.0), CPU_AND_PAPER),
    Claim('Resizing x4: SIREN beats the best classical filter (mean PSNR gain over 6 photos)',
          'README resizing (cameraman only)', '+0.31 dB over Lanczos', 'resize',
          _resize_gain('4', 'best'), ' dB', Test('at_least', 0.0)),
    Claim('Resizing x2: SIREN beats the best classical filter (mean PSNR gain over 6 photos)',
          'README resizing (cameraman only)', '+0.45 dB over Lanczos', 'resize',
          _resize_gain('2', 'best'), ' dB', Test('at_least', 0.0)),
    Claim('Resizing x4: SIREN beats bicubic (mean PSNR gain over 6 photos)',
          'README resizing (cameraman only)', '+0.40 dB', 'resize',
          _resize_gain('4', 'bicubic'), ' dB', Test('at_least', 0.0)),
    Claim('Colourisation: SRS (sine first and last layer) converges ~3x faster than FR '
          '(epochs to FR\'s final train loss, FR / SRS; held-out protocol runs)', 'the report',
          '~3x (300 vs 800 epochs to loss 0.002)', 'colorize', _colorize_speedup('SRS'), 'x',
          Test('at_least', 2.0)),
    Claim('Colourisation: S130 (sine everywhere) converges no faster than FR (FR / S130 epochs)',
          'the report', '0.8x (1000 vs 800 epochs to loss 0.002)', 'colorize',
          _colorize_speedup('S130'), 'x', Test('at_most', 1.0)),
    Claim('Colourisation: SRS generalises worse than FR (held-out ab PSNR, SRS minus FR)',
          'the report', 'val loss SRS 0.009 vs FR 0.0082 at train ~0.002', 'colorize',
          _srs_minus_fr, ' dB', Test('at_most', 0.0), CPU_AND_PAPER),
    Claim('Colourisation on held-out photos: a colouriser beats the grey (ab = 0) baseline '
          '(best of FR/SRS/S130 held-out RGB PSNR minus grey)', 'the report (val losses); '
          'docs/facts.md anchors', 'FR 0.0082 / SRS 0.009 / S130 0.009 (val loss, no baseline)',
          'colorize', _best_colouriser_minus_grey, ' dB', Test('at_least', 0.0), CPU_AND_PAPER),
    Claim('Seamless cloning: SIREN matches the Poisson (Dirichlet) solution of Perez et al.',
          'paper Sec. 4.1 (figure)', 'figure only', 'clone',
          lambda metrics: _find(_get(metrics, 'results'), 'psnr_inside_vs_direct'), ' dB',
          Test('at_least', 30.0), CPU_AND_PAPER),
)


@dataclasses.dataclass(frozen=True)
class Row:
  claim: Claim
  ours: float | None
  verdict: str


def judge(claim: Claim, metrics: Metrics | None, scale: str, part_note: str = '') -> Row:
  """The verdict of ``claim`` given its part's metrics (None: the part has not finished;
  ``part_note`` then says why, e.g. its module is not merged yet)."""
  if claim.untested_reason:
    return Row(claim, None, claim.untested_reason)
  if metrics is None:
    return Row(claim, None, f'not tested ({part_note})' if part_note else NOT_RUN)
  ours = claim.measure(metrics)
  if ours is not None and not math.isfinite(ours):
    ours = None
  if scale not in claim.scales:
    return Row(claim, ours, NOT_AT_SCALE)
  if ours is None:
    return Row(claim, None, NOT_AT_SCALE)
  return Row(claim, ours, HOLDS if claim.test.passes(ours) else FAILS)


def table(rows: list[Row], scale: str) -> str:
  """The claims table as Markdown."""
  lines = ['| # | claim | source | their number | ours | scale we ran at | tolerance (fixed '
           'beforehand) | verdict |', '|---|---|---|---|---|---|---|---|']
  for i, row in enumerate(rows, 1):
    c = row.claim
    # A signed number for differences ('SIREN minus ...', gains), a plain one otherwise.
    signed = any(word in c.claim for word in ('minus', 'gain'))
    ours = '-' if row.ours is None else f'{row.ours:{"+" if signed else ""}.2f}{c.unit}'
    verdict = f'**{row.verdict}**' if row.verdict in (HOLDS, FAILS) else row.verdict
    lines.append(f'| {i} | {c.claim} | {c.source} | {c.theirs} | {ours} | {scale} | '
                 f'{c.test.describe(c.unit)} | {verdict} |')
  return '\n'.join(lines)
