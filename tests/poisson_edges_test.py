"""siren_jax.poisson's edges, worked by hand: the gradient loss of a linear field, shape checks
and their messages, one-pixel images, and ties in the mixed-gradients rule."""

import jax.numpy as jnp
import numpy as np
import pytest

from siren_jax import poisson


def test_gradient_loss_of_a_linear_field_worked_by_hand():
  # phi_c(y, x) = a_c y + b_c x has gradient (a_c, b_c) everywhere; against a zero target the
  # loss is the mean over channels of a_c^2 + b_c^2 = mean(1 + 0, 4 + 1, 0 + 9) = 5.
  slopes = jnp.array([[1.0, 2.0, 0.0],   # a_c (multiplies y)
                      [0.0, 1.0, 3.0]])  # b_c (multiplies x)
  coords = jnp.array([[0.1, -0.3], [0.5, 0.2], [-0.7, 0.9], [0.0, 0.0]])
  batch = {'coords': coords, 'gradients': jnp.zeros((4, 3, 2))}
  loss, _ = poisson.gradient_loss(slopes, batch, lambda params, c: c @ params)
  assert float(loss) == pytest.approx(5.0, rel=1e-6)


@pytest.mark.parametrize('shape_a, shape_b', [
    ((4, 4, 1, 2), (4, 4, 3, 2)),  # Different channel counts.
    ((4, 4, 2), (4, 4, 2)),        # No channel axis.
    ((4, 4, 1, 3), (4, 4, 1, 3))])  # Three derivative components.
def test_compose_gradients_needs_two_fields_of_one_h_w_c_2_shape(shape_a, shape_b):
  with pytest.raises(ValueError, match=r'must both have shape \(H, W, C, 2\)'):
    poisson.compose_gradients(np.zeros(shape_a), np.zeros(shape_b), 'mean')


@pytest.mark.parametrize('shape', [(4, 4, 2), (4, 4, 1, 3)])
def test_solve_from_gradient_needs_an_h_w_c_2_field(shape):
  with pytest.raises(ValueError, match=r'gradient must have shape \(H, W, C, 2\)'):
    poisson.solve_from_gradient(np.zeros(shape))


def test_a_mask_of_the_wrong_size_names_both_sizes():
  grad = np.zeros((4, 6, 3, 2))
  with pytest.raises(ValueError, match=r"mask has shape \(5, 6\), expected the images' \(4, 6\);"):
    poisson.compose_gradients(grad, grad, 'masked', np.ones((5, 6), bool))


@pytest.mark.parametrize('stencil', poisson.STENCILS)
# 0/0 is computed in the discarded branch of the pseudo-inverse's np.where (every mode is 0).
@pytest.mark.filterwarnings('ignore:invalid value encountered in divide:RuntimeWarning')
def test_a_one_pixel_image_solves_to_zero(stencil):
  # Every mode of a 1 x 1 image is the constant (or Nyquist, which is not in the mirrored
  # subspace): nothing to recover but the mean, which is removed.
  for field in (poisson.solve_from_gradient(np.ones((1, 1, 2, 2)), stencil),
                poisson.solve_from_laplacian(np.ones((1, 1, 2)), stencil)):
    np.testing.assert_array_equal(field, np.zeros((1, 1, 2)))


def test_mixed_gradients_keep_a_on_a_tie():
  grad_a = np.array([1.0, 0.0]).reshape(1, 1, 1, 2)
  grad_b = np.array([0.0, -1.0]).reshape(1, 1, 1, 2)  # The same norm as A's.
  np.testing.assert_array_equal(poisson.compose_gradients(grad_a, grad_b, 'mixed'), grad_a)
