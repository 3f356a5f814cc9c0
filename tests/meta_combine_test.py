"""experiments.meta.combine: evaluations of learned inits combined in one table, checked against
numbers worked by hand on given curves; evaluations of different settings refused; the entry
point's files and one-line errors; and the combination of two real tiny evaluations."""

import json
import subprocess
import sys

import numpy as np
import pytest

from experiments.configs import meta as meta_config
from experiments.meta import combine, evaluate, train
from tests.helpers import REPO_ROOT, subprocess_env

PHOTOS = ('a.png', 'b.png')
INDICES = (3, 12)  # Test-photo indices of a config.photos subset: not 0..N-1.
STEPS = 10


def _run(psnr):
  return {'steps': list(range(len(psnr))), 'psnr': [float(p) for p in psnr],
          'train_seconds': [0.5 * i for i in range(len(psnr))]}


def _write_evaluation(workdir, learned, random, seeds=(0,), **config_fields):
  """An evaluation's metrics.json as ``evaluate`` writes it: ``learned`` one curve per photo,
  ``random`` one per photo and seed (curves of STEPS + 1 points: after 0..STEPS steps)."""
  config = meta_config.get_config('evaluate,tiny')
  config.fit.steps, config.fit.report_steps = STEPS, '1,10'
  for name, value in config_fields.items():
    group, _, field = name.rpartition('.')
    (config[group] if group else config)[field] = value
  rows, runs = [], {}
  for i, photo, learned_curve, random_curves in zip(INDICES, PHOTOS, learned, random):
    runs[evaluate.run_tag(i)] = _run(learned_curve)
    for seed, random_curve in zip(seeds, random_curves):
      runs[evaluate.run_tag(i, seed)] = _run(random_curve)
      rows.append({'photo': photo, 'seed': seed,
                   **evaluate.compare(_run(learned_curve), _run(random_curve), [1, 10])})
  workdir.mkdir(parents=True, exist_ok=True)
  metrics = {'task': 'evaluate', 'init': f'{workdir}/init_grey.init', 'rows': rows, 'runs': runs,
             'summary': evaluate.summary(rows, [1, 10]), 'config': config.to_dict()}
  # As evaluate writes it: sorted keys (photo12's runs before photo3's would be wrong order).
  (workdir / 'metrics.json').write_text(json.dumps(metrics, sort_keys=True))
  return str(workdir)


def _line(start, slope):
  return [start + slope * s for s in range(STEPS + 1)]


# Random init: photo a rises to 30 dB, first there after 10 steps; photo b plateaus at its
# final 15 dB from step 8.
RANDOM = [[_line(10, 2)], [[5, 6, 7, 8, 9, 10, 11, 12, 15, 15, 15]]]
# Evaluation 0: a reaches 30 after 1 step (a tenth of 10); b never reaches 15 (ends at 14).
LEARNED_0 = [[20] + _line(30, 1)[:STEPS], _line(4, 1)]
# Evaluation 1: a after 4 steps (18 + 3 * 4), b after 8 (7 + 8).
LEARNED_1 = [_line(18, 3), _line(7, 1)]


def _config(evaluations, steps=''):
  config = meta_config.get_config('combine,tiny')
  config.evaluations, config.combine_steps = ','.join(evaluations), steps
  return config


def test_numbers_match_a_hand_computation(tmp_path):
  first = _write_evaluation(tmp_path / 'e0', LEARNED_0, RANDOM)
  second = _write_evaluation(tmp_path / 'e1', LEARNED_1, RANDOM)
  out = combine.combine(_config([first, second]), str(tmp_path / 'combined'))
  assert out['steps'] == [1, 10]
  e0, e1 = out['evaluations']
  assert (e0['reached'], e0['within_tenth'], e1['reached'], e1['within_tenth']) == (1, 1, 2, 0)
  assert e0['steps_to_target']['mean'] == 1 and e0['seconds_to_target']['mean'] == 0.5
  assert e1['steps_to_target']['mean'] == pytest.approx(6.0)  # (4 + 8) / 2.
  assert e1['steps_to_target']['std'] == pytest.approx(np.sqrt(8.0))  # ddof 1.
  # Leads after 1 step: e0 (30 - 12, 5 - 6), e1 (21 - 12, 8 - 6); after 10: e0 (39 - 30, 14 - 15).
  assert [f['lead'][1] for f in e0['per_fit']] == pytest.approx([18.0, -1.0])
  assert [f['lead'][1] for f in e1['per_fit']] == pytest.approx([9.0, 2.0])
  assert e0['lead'][10]['mean'] == pytest.approx(4.0) and e0['ahead'][10] == 1
  assert e1['psnr'][10]['mean'] == pytest.approx((48 + 17) / 2)
  means = out['across_means']
  assert means['steps_to_target']['mean'] == pytest.approx(3.5)  # (1 + 6) / 2, not (1+4+8)/3.
  assert means['steps_to_target']['std'] == pytest.approx(np.sqrt(12.5))
  assert means['lead'][1]['std'] == pytest.approx(np.std([8.5, 5.5], ddof=1))
  # The random init's steps over the fits the learned init reaches: e0 (10), e1 (10, 8).
  assert means['fewer_steps'] == pytest.approx((10 + 9) / 2 / 3.5)
  pooled = out['pooled']
  assert (pooled['fits'], pooled['reached'], pooled['within_tenth']) == (4, 3, 1)
  assert pooled['steps_to_target']['mean'] == pytest.approx(13 / 3)  # (1 + 4 + 8) / 3.
  assert pooled['steps_range'] == [1, 8] and pooled['steps_median'] == 4
  table = (tmp_path / 'combined' / 'combined.md').read_text()
  assert '| a.png | 1 / 10 | 4 / 10 |' in table and '| b.png | never / 8 | 8 / 8 |' in table
  assert '3.5 ± 3.5 (2.71x fewer than the random init on the same fits)' in table
  assert json.loads((tmp_path / 'combined' / 'combined.json').read_text())['pooled']['reached'] == 3


def test_each_row_is_compared_with_its_own_random_seed(tmp_path):
  # Two random seeds per photo; the second one's curves are 5 dB lower.
  random = [[r[0], [v - 5.0 for v in r[0]]] for r in RANDOM]
  workdir = _write_evaluation(tmp_path / 'e', LEARNED_0, random, seeds=(0, 3))
  out = combine.combine(_config([workdir], '10'), str(tmp_path / 'c'))
  fits = out['evaluations'][0]['per_fit']
  assert [f['lead'][10] for f in fits] == pytest.approx([9.0, 14.0, -1.0, 4.0])
  assert [(f['photo'], f['seed']) for f in fits] == [
      ('a.png', 0), ('a.png', 3), ('b.png', 0), ('b.png', 3)]
  assert '| b.png | never / 8 (seed 0) |' in (tmp_path / 'c' / 'combined.md').read_text()


def test_an_evaluation_that_never_reaches_the_target_gives_no_mean_steps(tmp_path):
  first = _write_evaluation(tmp_path / 'e0', LEARNED_0, RANDOM)
  never = _write_evaluation(tmp_path / 'e1', [_line(0, 1), _line(0, 1)], RANDOM)
  out = combine.combine(_config([first, never]), str(tmp_path / 'c'))
  assert out['evaluations'][1]['reached'] == 0
  assert out['evaluations'][1]['steps_to_target'] is None
  assert 'steps_to_target' not in out['across_means'] and out['pooled']['reached'] == 1
  assert 'an evaluation reaches it on no fit' in (tmp_path / 'c' / 'combined.md').read_text()


def test_steps_are_the_common_report_steps_or_the_given_ones_in_order(tmp_path):
  first = _write_evaluation(tmp_path / 'e0', LEARNED_0, RANDOM)
  second = _write_evaluation(tmp_path / 'e1', LEARNED_1, RANDOM, **{'fit.report_steps': '2,10'})
  assert combine.combine(_config([first, second]), str(tmp_path / 'c'))['steps'] == [10]
  assert combine.combine(_config([first, second], '10,3,10'),
                         str(tmp_path / 'd'))['steps'] == [3, 10]


@pytest.mark.parametrize('field, value, message', [
    ('fit.optimizer.learning_rate', 1e-3, 'differ in config.fit.optimizer.learning_rate'),
    ('colour', 'rgb', "differ in config.colour: 'grey' there, 'rgb' here"),
    ('model.hidden_features', 32, 'differ in config.model.hidden_features: 16 there, 32 here'),
])
def test_evaluations_of_different_settings_are_refused(tmp_path, field, value, message):
  first = _write_evaluation(tmp_path / 'e0', LEARNED_0, RANDOM)
  second = _write_evaluation(tmp_path / 'e1', LEARNED_1, RANDOM, **{field: value})
  with pytest.raises(ValueError, match=message):
    combine.combine(_config([first, second]), str(tmp_path / 'c'))
  assert not (tmp_path / 'c').exists()


def test_evaluations_of_other_photos_or_seed_counts_are_refused(tmp_path, monkeypatch):
  first = _write_evaluation(tmp_path / 'e0', LEARNED_0, RANDOM)
  two_seeds = _write_evaluation(tmp_path / 'e1', LEARNED_1, [r * 2 for r in RANDOM], seeds=(0, 1))
  monkeypatch.setattr(sys.modules[__name__], 'PHOTOS', ('a.png', 'c.png'))
  other_photo = _write_evaluation(tmp_path / 'e2', LEARNED_1, RANDOM)
  for second in (two_seeds, other_photo):
    with pytest.raises(ValueError, match='other test photos'):
      combine.combine(_config([first, second]), str(tmp_path / 'c'))
  assert not (tmp_path / 'c').exists()


def test_the_target_can_be_the_random_inits_psnr_after_an_earlier_step(tmp_path):
  first = _write_evaluation(tmp_path / 'e0', LEARNED_0, RANDOM)
  second = _write_evaluation(tmp_path / 'e1', LEARNED_1, RANDOM)
  config = _config([first, second])
  config.target_step = 5
  out = combine.combine(config, str(tmp_path / 'c'))
  # Targets after 5 steps: a 20 dB (10 + 2 * 5), b 10 dB; the random init first reaches each
  # after 5 steps. e0: a is at 20 before any step, b after 6 (4 + 6); e1: a after 1 (21), b
  # after 3 (7 + 3).
  e0, e1 = out['evaluations']
  assert [f['steps_to_target'] for f in e0['per_fit']] == [0, 6]
  assert [f['steps_to_target'] for f in e1['per_fit']] == [1, 3]
  assert [f['random_steps_to_target'] for f in e1['per_fit']] == [5, 5]
  assert e0['seconds_to_target']['mean'] == pytest.approx(1.5)  # (0 + 6 * 0.5) / 2.
  assert (e0['within_tenth'], e1['within_tenth'], out['pooled']['reached']) == (1, 0, 4)
  assert out['across_means']['fewer_steps'] == pytest.approx(5 / 2.5)  # Means 3 and 2.
  assert out['target_step'] == 5
  table = (tmp_path / 'c' / 'combined.md').read_text()
  assert "target: the random init's PSNR after 5 steps" in table
  assert '| a.png | 0 / 5 | 1 / 5 |' in table and '| b.png | 6 / 5 | 3 / 5 |' in table
  # The default target is the fits' last step: the evaluation's own.
  config.target_step = 0
  assert combine.combine(config, str(tmp_path / 'd'))['target_step'] == 10


def test_steps_past_the_fits_are_refused(tmp_path):
  first = _write_evaluation(tmp_path / 'e0', LEARNED_0, RANDOM)
  with pytest.raises(ValueError, match='1 to 10'):
    combine.combine(_config([first], '1,11'), str(tmp_path / 'c'))
  for step in (11, -1):
    config = _config([first])
    config.target_step = step
    with pytest.raises(ValueError, match=f'config.target_step={step} must be a step of the fits'):
      combine.combine(config, str(tmp_path / 'c'))
  assert not (tmp_path / 'c').exists()


@pytest.mark.parametrize('damage', ['runs', 'rows', 'config', 'psnr'])
def test_a_metrics_file_in_another_format_is_one_error_naming_it(tmp_path, damage):
  first = _write_evaluation(tmp_path / 'e0', LEARNED_0, RANDOM)
  second = _write_evaluation(tmp_path / 'e1', LEARNED_1, RANDOM)
  path = tmp_path / 'e1' / 'metrics.json'
  metrics = json.loads(path.read_text())
  if damage == 'psnr':  # A diverged fit's PSNR, written as null.
    metrics['runs'][evaluate.run_tag(12)]['psnr'][10] = None
  else:
    del metrics[damage]
  path.write_text(json.dumps(metrics))
  with pytest.raises(ValueError, match='is not in the format the evaluate task writes') as e:
    combine.combine(_config([first, second]), str(tmp_path / 'c'))
  assert str(tmp_path / 'e1') in str(e.value) and '\n' not in str(e.value)
  assert not (tmp_path / 'c').exists()


def _main(*args):
  return subprocess.run([sys.executable, '-m', 'experiments.meta', *args], cwd=REPO_ROOT,
                        env=subprocess_env(), capture_output=True, text=True, timeout=120)


def test_entry_point_writes_the_table_and_refuses_bad_input_in_one_line(tmp_path):
  first = _write_evaluation(tmp_path / 'e0', LEARNED_0, RANDOM)
  second = _write_evaluation(tmp_path / 'e1', LEARNED_1, RANDOM)
  (tmp_path / 'not_an_evaluation').mkdir()
  cases = [
      (f'{first},{tmp_path}/not_an_evaluation', 'has no metrics.json'),
      (f'{first},{first}/', 'names a workdir twice'),
      ('', 'config.evaluations is empty'),
  ]
  for evaluations, message in cases:
    result = _main('--config=experiments/configs/meta.py:combine', f'--workdir={tmp_path}/out',
                   f'--config.evaluations={evaluations}')
    assert result.returncode == 2, result.stderr
    assert result.stderr.strip().splitlines()[-1].startswith('error: ')
    assert message in result.stderr and 'Traceback' not in result.stderr
    assert not (tmp_path / 'out').exists()
  into_an_evaluation = _main('--config=experiments/configs/meta.py:combine',
                             f'--workdir={first}', f'--config.evaluations={first},{second}')
  assert into_an_evaluation.returncode == 2 and 'workdir of its own' in into_an_evaluation.stderr
  assert not (tmp_path / 'e0' / 'config.json').exists()
  ok = _main('--config=experiments/configs/meta.py:combine', f'--workdir={tmp_path}/out',
             f'--config.evaluations={first},{second}', '--config.combine_steps=1,10')
  assert ok.returncode == 0, ok.stderr
  assert '| a.png | 1 / 10 | 4 / 10 |' in (tmp_path / 'out' / 'combined.md').read_text()


@pytest.mark.slow
def test_two_real_evaluations_combine(tmp_path):
  """The format evaluate writes is the one combine reads: two tiny inits (two meta-training
  seeds), each evaluated against its own random seed."""
  evaluations = []
  for seed in (0, 1):
    trained = tmp_path / f'train_s{seed}'
    config = meta_config.get_config('tiny')
    config.seed = seed
    train.train(config, str(trained))
    config = meta_config.get_config('evaluate,tiny')
    config.init, config.seeds, config.max_photos = f'{trained}/init_grey.init', str(seed), 2
    evaluate.evaluate(config, str(tmp_path / f'eval_s{seed}'))
    evaluations.append(str(tmp_path / f'eval_s{seed}'))
  out = combine.combine(_config(evaluations), str(tmp_path / 'combined'))
  assert out['steps'] == [1, 4] and out['pooled']['fits'] == 4  # tiny: 4-step fits.
  written = [json.loads((tmp_path / f'eval_s{s}' / 'metrics.json').read_text())
             for s in (0, 1)]
  for e, metrics in zip(out['evaluations'], written):
    # Each fit's lead after 4 steps is its own learned minus its own seed's random PSNR.
    assert [f['lead'][4] for f in e['per_fit']] == pytest.approx(
        [r['learned']['psnr_after_4'] - r['random']['psnr_after_4'] for r in metrics['rows']])
    assert e['reached'] == metrics['summary']['learned']['reached']
