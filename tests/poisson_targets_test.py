"""siren_jax.poisson.targets: gradient and Laplacian targets and losses (against finite
differences of the field, and a linear field worked by hand), the composition rules of two
images' gradients, their shape and mask checks, and a SIREN fitted to a gradient."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from siren_jax import finite_differences, grids, training
from siren_jax.models import fields
from siren_jax.poisson import solvers, targets
from tests.helpers import smooth_image


@pytest.mark.parametrize('rule', targets.RULES)
@pytest.mark.parametrize('channels', [1, 3])
def test_merging_an_image_with_itself_gives_it_back(rule, channels):
  image = np.random.default_rng(2).uniform(-1, 1, size=(10, 12, channels)).astype(np.float32)
  grad = targets.gradient_target(image)
  mask = np.zeros((10, 12), bool)
  mask[3:7, 4:9] = True
  merged = targets.compose_gradients(grad, grad, rule, mask if rule == 'masked' else None)
  np.testing.assert_array_equal(merged, grad)
  recovered = solvers.match_mean(solvers.solve_from_gradient(merged, 'stencil'), image)
  assert solvers.fair_psnr(recovered, image) > 80.0


def test_compose_gradients_rules_pick_the_right_gradients():
  grad_a = np.zeros((2, 2, 1, 2), np.float32)
  grad_b = np.zeros_like(grad_a)
  grad_a[0, 0, 0] = (3.0, 0.0)
  grad_b[0, 0, 0] = (0.0, 1.0)  # Weaker than A here ...
  grad_b[1, 1, 0] = (1.0, 1.0)  # ... stronger than A (zero) here.
  mask = np.array([[False, True], [True, True]])
  np.testing.assert_allclose(targets.compose_gradients(grad_a, grad_b, 'mean'),
                             0.5 * (grad_a + grad_b))
  mixed = targets.compose_gradients(grad_a, grad_b, 'mixed')
  np.testing.assert_allclose(mixed[0, 0, 0], (3.0, 0.0))
  np.testing.assert_allclose(mixed[1, 1, 0], (1.0, 1.0))
  masked = targets.compose_gradients(grad_a, grad_b, 'masked', mask)
  np.testing.assert_allclose(masked[0, 0], grad_a[0, 0])  # Outside the mask: A.
  np.testing.assert_allclose(masked[1, 1], grad_b[1, 1])  # Inside: B.


def test_compose_gradients_rejects_a_mask_of_the_wrong_size():
  grad = np.zeros((4, 4, 1, 2), np.float32)
  with pytest.raises(ValueError, match='mask has shape'):
    targets.compose_gradients(grad, grad, 'masked', np.ones((5, 4), bool))
  with pytest.raises(ValueError, match='needs a mask'):
    targets.compose_gradients(grad, grad, 'masked')


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
      (targets.gradient_loss, 'gradients', fd_grad.reshape(-1, 2, 2), np.mean(fd_grad**2) * 2),
      (targets.laplacian_loss, 'laplacians', fd_lap.reshape(-1, 2), np.mean(fd_lap**2))):
    loss, _ = loss_fn(state.params, {'coords': inner, key: jnp.asarray(target)}, state.apply_fn)
    assert float(loss) < 0.01 * scale, (key, float(loss), scale)
    shifted, _ = loss_fn(state.params, {'coords': inner, key: jnp.asarray(target + 1.0)},
                         state.apply_fn)
    expected = 2.0 if key == 'gradients' else 1.0  # Components summed per point.
    assert abs(float(shifted) - float(loss) - expected) < 0.1 * expected + 2 * np.sqrt(
        float(loss) * expected)


@pytest.mark.slow
def test_siren_reconstructs_a_smooth_image_from_its_gradient():
  image = smooth_image(16, channels=3)
  target = targets.gradient_target(image)
  coords = grids.make_grid(16, 16).reshape(-1, 2)
  batch = {'coords': coords, 'gradients': jnp.asarray(target.reshape(-1, 3, 2))}
  # omega0 = 30 suits ~256 pixels; on 16 its sines are finer than the pixels, so matching the
  # gradient at the centres leaves the field free in between. 10 keeps it band-limited.
  state = _siren_state(channels=3, width=64, learning_rate=1e-3, first_omega0=10.0)
  step = training.make_train_step(targets.gradient_loss, steps_per_call=50)
  for _ in range(2):
    state, _ = step(state, batch)
  fit = np.asarray(state.apply_fn(state.params, coords)).reshape(16, 16, 3)
  direct = solvers.match_mean(solvers.solve_from_gradient(target), image)
  for c in range(3):
    assert solvers.fair_psnr(fit[..., c:c + 1], image[..., c:c + 1]) > 35.0, c
  assert solvers.fair_psnr(fit, direct) > 40.0


def test_gradient_loss_of_a_linear_field_worked_by_hand():
  # phi_c(y, x) = a_c y + b_c x has gradient (a_c, b_c) everywhere; against a zero target the
  # loss is the mean over channels of a_c^2 + b_c^2 = mean(1 + 0, 4 + 1, 0 + 9) = 5.
  slopes = jnp.array([[1.0, 2.0, 0.0],   # a_c (multiplies y)
                      [0.0, 1.0, 3.0]])  # b_c (multiplies x)
  coords = jnp.array([[0.1, -0.3], [0.5, 0.2], [-0.7, 0.9], [0.0, 0.0]])
  batch = {'coords': coords, 'gradients': jnp.zeros((4, 3, 2))}
  loss, _ = targets.gradient_loss(slopes, batch, lambda params, c: c @ params)
  assert float(loss) == pytest.approx(5.0, rel=1e-6)


@pytest.mark.parametrize('shape_a, shape_b', [
    ((4, 4, 1, 2), (4, 4, 3, 2)),  # Different channel counts.
    ((4, 4, 2), (4, 4, 2)),        # No channel axis.
    ((4, 4, 1, 3), (4, 4, 1, 3))])  # Three derivative components.
def test_compose_gradients_needs_two_fields_of_one_h_w_c_2_shape(shape_a, shape_b):
  with pytest.raises(ValueError, match=r'must both have shape \(H, W, C, 2\)'):
    targets.compose_gradients(np.zeros(shape_a), np.zeros(shape_b), 'mean')


def test_a_mask_of_the_wrong_size_names_both_sizes():
  grad = np.zeros((4, 6, 3, 2))
  with pytest.raises(ValueError, match=r"mask has shape \(5, 6\), expected the images' \(4, 6\);"):
    targets.compose_gradients(grad, grad, 'masked', np.ones((5, 6), bool))


def test_mixed_gradients_keep_a_on_a_tie():
  grad_a = np.array([1.0, 0.0]).reshape(1, 1, 1, 2)
  grad_b = np.array([0.0, -1.0]).reshape(1, 1, 1, 2)  # The same norm as A's.
  np.testing.assert_array_equal(targets.compose_gradients(grad_a, grad_b, 'mixed'), grad_a)


def test_target_entry_pairs_each_pixels_target_with_its_coordinates():
  image = np.random.default_rng(5).uniform(-1, 1, size=(4, 6, 3)).astype(np.float32)
  coords, _ = grids.image_to_samples(image)
  grad, lap = targets.gradient_target(image), targets.laplacian_target(image)
  gradients = targets.target_entry(grad)['gradients']
  laplacians = targets.target_entry(lap)['laplacians']
  assert gradients.shape == (24, 3, 2) and laplacians.shape == (24, 3)
  ys, xs = np.unravel_index(np.arange(24), (4, 6))
  np.testing.assert_array_equal(coords, np.asarray(grids.make_grid(4, 6))[ys, xs])
  np.testing.assert_array_equal(gradients, grad[ys, xs])
  np.testing.assert_array_equal(laplacians, lap[ys, xs])
  with pytest.raises(ValueError, match=r'got shape \(4, 6\)'):
    targets.target_entry(image[..., 0])
