"""Tests of siren_jax.poisson and the experiments.poisson entry point (tiny sizes)."""

import json
import os
import subprocess
import sys

import imageio.v3 as iio
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from experiments.poisson import train as poisson_train
from experiments.configs import poisson as poisson_configs
from siren_jax import finite_differences, grids, poisson, training
from siren_jax.models import fields
from tests.conftest import subprocess_env

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _cosine_field(height: int, width: int, channels: int = 1):
  """A band-limited field (DCT-II modes) with its exact gradient and Laplacian.

  Returns field (H, W, C), gradient (H, W, C, 2), Laplacian (H, W, C), float64.
  """
  coords = np.asarray(grids.make_grid(height, width), np.float64)
  y, x = (coords[..., 0] + 1) * np.pi / 2, (coords[..., 1] + 1) * np.pi / 2
  fs, gs, ls = [], [], []
  for c in range(channels):
    a, b = 1 + c, 3 - c
    f = np.cos(a * y) * np.cos(b * x) + 0.3 * np.cos((2 + c) * y)
    gy = -np.pi / 2 * (a * np.sin(a * y) * np.cos(b * x) + 0.3 * (2 + c) * np.sin((2 + c) * y))
    gx = -np.pi / 2 * b * np.cos(a * y) * np.sin(b * x)
    lap = -(np.pi / 2) ** 2 * ((a**2 + b**2) * np.cos(a * y) * np.cos(b * x) +
                                0.3 * (2 + c) ** 2 * np.cos((2 + c) * y))
    fs.append(f)
    gs.append(np.stack([gy, gx], axis=-1))
    ls.append(lap)
  return np.stack(fs, -1), np.stack(gs, 2), np.stack(ls, -1)


def _smooth_image(size: int = 16, channels: int = 1) -> np.ndarray:
  """A smooth synthetic image in [-1, 1]: (size, size, channels) float32."""
  field, _, _ = _cosine_field(size, size, channels)
  return (0.6 * field / np.abs(field).max()).astype(np.float32)


def test_stencil_solvers_recover_a_random_field_exactly_up_to_the_constant():
  field = np.random.default_rng(0).normal(size=(12, 10, 3))
  expected = field - field.mean(axis=(0, 1))
  from_grad = poisson.solve_from_gradient(finite_differences.sobel_gradient(field), 'stencil')
  from_lap = poisson.solve_from_laplacian(finite_differences.laplacian(field), 'stencil')
  np.testing.assert_allclose(from_grad, expected, atol=1e-10)
  np.testing.assert_allclose(from_lap, expected, atol=1e-10)


def test_spectral_solvers_recover_a_band_limited_field_from_exact_derivatives():
  field, grad, lap = _cosine_field(12, 10, channels=3)
  expected = field - field.mean(axis=(0, 1))
  np.testing.assert_allclose(poisson.solve_from_gradient(grad), expected, atol=1e-5)
  np.testing.assert_allclose(poisson.solve_from_laplacian(lap), expected, atol=1e-5)


def test_solvers_take_targets_in_the_units_of_either_grid():
  # The same pixels on the linspace grid: pixel spacing 2/(n - 1) instead of 2/n, so the
  # derivatives in its coordinate units are the half_pixel ones times (n - 1)/n per axis
  # (squared for the second derivatives of the Laplacian); the solution is the same image.
  height, width = 12, 10
  field, grad, _ = _cosine_field(height, width, channels=2)
  ratio = np.array([(height - 1) / height, (width - 1) / width])
  expected = field - field.mean(axis=(0, 1))
  np.testing.assert_allclose(poisson.solve_from_gradient(grad * ratio, grid='linspace'),
                             expected, atol=1e-5)
  for stencil in poisson.STENCILS[1:]:
    for target, solve in ((poisson.gradient_target, poisson.solve_from_gradient),
                          (poisson.laplacian_target, poisson.solve_from_laplacian)):
      solved = solve(target(field, 'linspace'), stencil, 'linspace')
      np.testing.assert_allclose(solved, expected, atol=1e-5)
      # Given the half_pixel grid instead, the linspace target's units are off.
      assert np.abs(solve(target(field, 'linspace'), stencil) - expected).max() > 1e-2


def test_solve_from_gradient_handles_every_rgb_channel_independently():
  image = np.random.default_rng(1).uniform(-1, 1, size=(8, 8, 3))
  together = poisson.solve_from_gradient(poisson.gradient_target(image))
  for c in range(3):
    alone = poisson.solve_from_gradient(poisson.gradient_target(image[..., c:c + 1]))
    np.testing.assert_allclose(together[..., c:c + 1], alone, atol=1e-6)


@pytest.mark.parametrize('rule', poisson.RULES)
@pytest.mark.parametrize('channels', [1, 3])
def test_merging_an_image_with_itself_gives_it_back(rule, channels):
  image = np.random.default_rng(2).uniform(-1, 1, size=(10, 12, channels)).astype(np.float32)
  grad = poisson.gradient_target(image)
  mask = np.zeros((10, 12), bool)
  mask[3:7, 4:9] = True
  merged = poisson.compose_gradients(grad, grad, rule, mask if rule == 'masked' else None)
  np.testing.assert_array_equal(merged, grad)
  recovered = poisson.match_mean(poisson.solve_from_gradient(merged, 'stencil'), image)
  assert poisson.fair_psnr(recovered, image) > 80.0


def test_compose_gradients_rules_pick_the_right_gradients():
  grad_a = np.zeros((2, 2, 1, 2), np.float32)
  grad_b = np.zeros_like(grad_a)
  grad_a[0, 0, 0] = (3.0, 0.0)
  grad_b[0, 0, 0] = (0.0, 1.0)  # Weaker than A here ...
  grad_b[1, 1, 0] = (1.0, 1.0)  # ... stronger than A (zero) here.
  mask = np.array([[False, True], [True, True]])
  np.testing.assert_allclose(poisson.compose_gradients(grad_a, grad_b, 'mean'),
                             0.5 * (grad_a + grad_b))
  mixed = poisson.compose_gradients(grad_a, grad_b, 'mixed')
  np.testing.assert_allclose(mixed[0, 0, 0], (3.0, 0.0))
  np.testing.assert_allclose(mixed[1, 1, 0], (1.0, 1.0))
  masked = poisson.compose_gradients(grad_a, grad_b, 'masked', mask)
  np.testing.assert_allclose(masked[0, 0], grad_a[0, 0])  # Outside the mask: A.
  np.testing.assert_allclose(masked[1, 1], grad_b[1, 1])  # Inside: B.


def test_compose_gradients_rejects_a_mask_of_the_wrong_size():
  grad = np.zeros((4, 4, 1, 2), np.float32)
  with pytest.raises(ValueError, match='mask has shape'):
    poisson.compose_gradients(grad, grad, 'masked', np.ones((5, 4), bool))
  with pytest.raises(ValueError, match='needs a mask'):
    poisson.compose_gradients(grad, grad, 'masked')


def test_match_mean_and_affine_remove_the_free_terms():
  image = np.random.default_rng(3).uniform(-1, 1, size=(6, 7, 2))
  ys, xs = np.meshgrid(np.linspace(-1, 1, 6), np.linspace(-1, 1, 7), indexing='ij')
  np.testing.assert_allclose(poisson.match_mean(image + 0.4, image), image, atol=1e-6)
  tilted = image + (0.2 + 0.3 * ys - 0.1 * xs)[..., None]
  np.testing.assert_allclose(poisson.match_affine(tilted, image), image, atol=1e-6)


def _siren_state(channels: int, width: int = 32, learning_rate: float = 1e-4,
                 first_omega0: float = 30.0):
  model = fields.make_field_model('siren', out_features=channels, hidden_features=width,
                                  hidden_layers=2, first_omega0=first_omega0)
  return training.create_train_state(model, jax.random.PRNGKey(0), jnp.zeros((1, 2)),
                                     optax.adam(learning_rate))


def test_losses_agree_with_finite_differences_of_the_field():
  height = width = 128  # Fine enough for central differences to be within ~1%.
  state = _siren_state(channels=2)
  coords = grids.make_grid(height, width).reshape(-1, 2)
  field = np.asarray(state.apply_fn(state.params, coords), np.float64).reshape(height, width, 2)
  # Finite differences of the sampled field approximate its autodiff derivatives, so a target
  # equal to them leaves a small loss, and one shifted by delta adds about delta^2.
  fd_grad = finite_differences.central_gradient(field)[2:-2, 2:-2]
  fd_lap = finite_differences.laplacian(field)[2:-2, 2:-2]
  inner = grids.make_grid(height, width)[2:-2, 2:-2].reshape(-1, 2)
  for loss_fn, key, target, scale in (
      (poisson.gradient_loss, 'gradients', fd_grad.reshape(-1, 2, 2), np.mean(fd_grad**2) * 2),
      (poisson.laplacian_loss, 'laplacians', fd_lap.reshape(-1, 2), np.mean(fd_lap**2))):
    loss, _ = loss_fn(state.params, {'coords': inner, key: jnp.asarray(target)}, state.apply_fn)
    assert float(loss) < 0.01 * scale, (key, float(loss), scale)
    shifted, _ = loss_fn(state.params, {'coords': inner, key: jnp.asarray(target + 1.0)},
                         state.apply_fn)
    expected = 2.0 if key == 'gradients' else 1.0  # Components summed per point.
    assert abs(float(shifted) - float(loss) - expected) < 0.1 * expected + 2 * np.sqrt(
        float(loss) * expected)


@pytest.mark.slow
def test_siren_reconstructs_a_smooth_image_from_its_gradient():
  image = _smooth_image(16, channels=3)
  target = poisson.gradient_target(image)
  coords = grids.make_grid(16, 16).reshape(-1, 2)
  batch = {'coords': coords, 'gradients': jnp.asarray(target.reshape(-1, 3, 2))}
  # omega0 = 30 suits ~256 pixels; on 16 its sines are finer than the pixels, so matching the
  # gradient at the centres leaves the field free in between. 10 keeps it band-limited.
  state = _siren_state(channels=3, width=64, learning_rate=1e-3, first_omega0=10.0)
  step = training.make_train_step(poisson.gradient_loss, steps_per_call=50)
  for _ in range(2):
    state, _ = step(state, batch)
  fit = np.asarray(state.apply_fn(state.params, coords)).reshape(16, 16, 3)
  direct = poisson.match_mean(poisson.solve_from_gradient(target), image)
  for c in range(3):
    assert poisson.fair_psnr(fit[..., c:c + 1], image[..., c:c + 1]) > 35.0, c
  assert poisson.fair_psnr(fit, direct) > 40.0


@pytest.mark.slow
@pytest.mark.parametrize('mode', poisson_train.MODES)
def test_entry_point_runs_each_mode_and_writes_outputs(mode, tmp_path):
  config = poisson_configs.get_config(f'{mode},tiny')
  config.steps = 4
  config.eval_every = config.log_every = config.checkpoint_every = 2
  output = poisson_train.train_and_evaluate(config, str(tmp_path))
  figure = iio.imread(tmp_path / 'figure.png')  # A real, non-blank picture, not just a file.
  assert figure.ndim == 3 and min(figure.shape[:2]) > 100 and figure.std() > 10
  written = json.loads((tmp_path / 'metrics.json').read_text())
  assert written['mode'] == mode
  for results in output['results'].values():
    for name, summary in results.items():
      if name == 'siren' or mode in ('merge', 'blend'):
        assert summary['steps'] == 4
  if mode == 'grad':  # Resuming finds the final checkpoint and trains no further.
    again = poisson_train.train_and_evaluate(config, str(tmp_path))
    assert again['results']['grey']['siren']['resumed_from_step'] == 4


def test_entry_point_reports_a_mask_of_the_wrong_size_in_one_line(tmp_path):
  mask_path = str(tmp_path / 'mask.png')
  iio.imwrite(mask_path, np.full((20, 16), 255, np.uint8))
  result = subprocess.run(
      [sys.executable, '-m', 'experiments.poisson',
       '--config=experiments/configs/poisson.py:blend,tiny', f'--config.mask={mask_path}',
       f'--workdir={tmp_path / "run"}'],
      cwd=REPO_ROOT, capture_output=True, text=True,
      env=subprocess_env())
  assert result.returncode == 2
  assert result.stderr.strip().splitlines()[-1].startswith('error: mask ')
  assert '20x16' in result.stderr and '16x16' in result.stderr


def test_unknown_config_variant_is_a_clear_error():
  with pytest.raises(ValueError, match="bad poisson config variant 'gradient'"):
    poisson_configs.get_config('gradient')
