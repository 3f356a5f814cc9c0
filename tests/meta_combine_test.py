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


def _run(psnr):
  return {'steps': list(range(len(psnr))), 'psnr': list(psnr),
          'train_seconds': [0.5 * i for i in range(len(psnr))]}


def _write_evaluation(workdir, learned, random, seeds=(0,), **config_fields):
  """An evaluation's metrics.json as ``evaluate`` writes it: ``learned`` one curve per photo,
  ``random`` one per photo and seed."""
  config = meta_config.get_config('evaluate,tiny')
  config.fit.report_steps = '1,4'
  for name, value in config_fields.items():
    group, _, field = name.rpartition('.')
    (config[group] if group else config)[field] = value
  rows, runs = [], {}
  for i, photo in enumerate(PHOTOS):
    runs[f'photo{i:02d}_learned'] = _run(learned[i])
    for j, seed in enumerate(seeds):
      runs[f'photo{i:02d}_random_s{seed}'] = _run(random[i][j])
      rows.append({'photo': photo, 'seed': seed,
                   **evaluate.compare(_run(learned[i]), _run(random[i][j]), [1, 4])})
  workdir.mkdir(parents=True, exist_ok=True)
  metrics = {'task': 'evaluate', 'init': f'{workdir}/init_grey.init', 'rows': rows, 'runs': runs,
             'summary': evaluate.summary(rows, [1, 4]), 'config': config.to_dict()}
  # As evaluate writes it: sorted keys (the runs' order is the photos' index order).
  (workdir / 'metrics.json').write_text(json.dumps(metrics, sort_keys=True))
  return str(workdir)


# Photo a: learned reaches the random init's final 30 dB after 2 steps (random: 4);
# photo b: never (random's final 20 dB, learned ends at 19).
LEARNED_0 = [[20.0, 25.0, 31.0, 33.0, 34.0], [10.0, 12.0, 14.0, 16.0, 19.0]]
RANDOM = [[[10.0, 15.0, 20.0, 26.0, 30.0]], [[8.0, 11.0, 15.0, 18.0, 20.0]]]
# Second evaluation: a after 3 steps, b after 1 (1 step <= a tenth of 4? no: 10 > 4).
LEARNED_1 = [[12.0, 16.0, 22.0, 30.0, 32.0], [15.0, 21.0, 22.0, 23.0, 24.0]]


def _config(evaluations, steps=''):
  config = meta_config.get_config('combine,tiny')
  config.evaluations, config.combine_steps = ','.join(evaluations), steps
  return config


def test_numbers_match_a_hand_computation(tmp_path):
  first = _write_evaluation(tmp_path / 'e0', LEARNED_0, RANDOM)
  second = _write_evaluation(tmp_path / 'e1', LEARNED_1, RANDOM)
  out = combine.combine(_config([first, second], '1,4'), str(tmp_path / 'combined'))
  e0, e1 = out['evaluations']
  assert (e0['reached'], e1['reached']) == (1, 2)
  assert e0['steps_to_target']['mean'] == 2 and e0['seconds_to_target']['mean'] == 1.0
  assert e1['steps_to_target']['mean'] == pytest.approx(2.0)  # (3 + 1) / 2.
  assert e1['steps_to_target']['std'] == pytest.approx(np.sqrt(2.0))
  # Leads after 1 step: e0 (25-15, 12-11) = (10, 1); e1 (16-15, 21-11) = (1, 10).
  assert e0['lead'][1]['mean'] == pytest.approx(5.5) and e0['ahead'][1] == 2
  # After 4 steps: e0 (34-30, 19-20) = (4, -1): one fit behind.
  assert e0['lead'][4]['mean'] == pytest.approx(1.5) and e0['ahead'][4] == 1
  means = out['across_means']
  assert means['steps_to_target']['mean'] == pytest.approx(2.0)  # (2 + 2) / 2.
  assert means['fewer_steps'] == pytest.approx(4.0 / 2.0)  # random needs all 4 steps.
  assert means['psnr'][4]['mean'] == pytest.approx(((34 + 19) / 2 + (32 + 24) / 2) / 2)
  pooled = out['pooled']
  assert (pooled['fits'], pooled['reached'], pooled['within_tenth']) == (4, 3, 0)
  assert pooled['steps_to_target']['mean'] == pytest.approx(2.0)  # (2 + 3 + 1) / 3.
  assert pooled['steps_range'] == [1, 3] and pooled['steps_median'] == 2
  table = (tmp_path / 'combined' / 'combined.md').read_text()
  assert '| a.png | 2 / 4 | 3 / 4 |' in table and '| b.png | never / 4 | 1 / 4 |' in table
  assert '2.00x fewer than the random init' in table
  assert json.loads((tmp_path / 'combined' / 'combined.json').read_text())['pooled']['reached'] == 3


def test_each_row_is_compared_with_its_own_random_seed(tmp_path):
  # Two random seeds per photo; the second one's curves are 5 dB lower.
  random = [[r[0], [v - 5.0 for v in r[0]]] for r in RANDOM]
  workdir = _write_evaluation(tmp_path / 'e', LEARNED_0, random, seeds=(0, 3))
  out = combine.combine(_config([workdir], '4'), str(tmp_path / 'c'))
  leads = [f['lead'][4] for f in out['evaluations'][0]['per_fit']]
  assert leads == pytest.approx([4.0, 9.0, -1.0, 4.0])
  assert [f['seed'] for f in out['evaluations'][0]['per_fit']] == [0, 3, 0, 3]


def test_default_steps_are_the_report_steps_every_evaluation_has(tmp_path):
  first = _write_evaluation(tmp_path / 'e0', LEARNED_0, RANDOM)
  second = _write_evaluation(tmp_path / 'e1', LEARNED_1, RANDOM, **{'fit.report_steps': '2,4'})
  assert combine.combine(_config([first, second]), str(tmp_path / 'c'))['steps'] == [4]


@pytest.mark.parametrize('field, value, message', [
    ('fit.steps', 8, 'differ in config.fit.steps: 4 there, 8 here'),
    ('colour', 'rgb', "differ in config.colour: 'grey' there, 'rgb' here"),
])
def test_evaluations_of_different_settings_are_refused(tmp_path, field, value, message):
  first = _write_evaluation(tmp_path / 'e0', LEARNED_0, RANDOM)
  second = _write_evaluation(tmp_path / 'e1', LEARNED_1, RANDOM, **{field: value})
  with pytest.raises(ValueError, match=message):
    combine.combine(_config([first, second]), str(tmp_path / 'c'))
  assert not (tmp_path / 'c').exists()


def test_evaluations_of_other_photos_are_refused(tmp_path):
  first = _write_evaluation(tmp_path / 'e0', LEARNED_0, RANDOM)
  second = _write_evaluation(tmp_path / 'e1', LEARNED_1, [r * 2 for r in RANDOM], seeds=(0, 1))
  with pytest.raises(ValueError, match='other test photos'):
    combine.combine(_config([first, second]), str(tmp_path / 'c'))


def test_steps_past_the_fits_are_refused(tmp_path):
  first = _write_evaluation(tmp_path / 'e0', LEARNED_0, RANDOM)
  with pytest.raises(ValueError, match='1 to 4'):
    combine.combine(_config([first], '1,5'), str(tmp_path / 'c'))


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
             f'--config.evaluations={first},{second}', '--config.combine_steps=1,4')
  assert ok.returncode == 0, ok.stderr
  assert '| a.png | 2 / 4 | 3 / 4 |' in (tmp_path / 'out' / 'combined.md').read_text()


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
  assert out['steps'] == [1, 4] and out['pooled']['fits'] == 4
  written = [json.loads((tmp_path / f'eval_s{s}' / 'metrics.json').read_text())
             for s in (0, 1)]
  for e, metrics in zip(out['evaluations'], written):
    # Each fit's lead after 4 steps is its own learned minus its own seed's random PSNR.
    assert [f['lead'][4] for f in e['per_fit']] == pytest.approx(
        [r['learned']['psnr_after_4'] - r['random']['psnr_after_4'] for r in metrics['rows']])
    assert e['reached'] == metrics['summary']['learned']['reached']
