"""MAML's outer loss: the gradient through one inner SGD step against the chain rule worked by
hand on a quadratic, and against finite differences on a small SIREN."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from siren_jax import fitting, grids, models
from siren_jax.meta import maml
from siren_jax.models import fields


def quadratic_loss(params, batch, apply_fn):
  del apply_fn
  loss = 0.5 * batch['a'] * (params['w'] - batch['c']) ** 2
  return loss, {'w': params['w']}


def test_second_order_gradient_through_one_sgd_step_matches_the_chain_rule():
  # Inner: w1 = w - alpha a1 (w - c1). Outer: L = 0.5 a2 (w1 - c2)^2.
  # dL/dw = a2 (w1 - c2) (1 - alpha a1); first order drops the (1 - alpha a1).
  w, alpha, a1, c1, a2, c2 = 0.7, 0.1, 3.0, 2.0, 2.0, -1.0
  w1 = w - alpha * a1 * (w - c1)
  batch = {'inner': {'a': jnp.full((1, 1), a1), 'c': jnp.full((1, 1), c1)},
           'outer': {'a': jnp.full((1,), a2), 'c': jnp.full((1,), c2)}}
  params = {'w': jnp.asarray(w)}
  for first_order, expected in ((False, a2 * (w1 - c2) * (1 - alpha * a1)),
                                (True, a2 * (w1 - c2))):
    loss_fn = maml.make_maml_loss(quadratic_loss, optax.sgd(alpha), first_order=first_order)
    (loss, metrics), grads = jax.value_and_grad(loss_fn, has_aux=True)(params, batch, None)
    np.testing.assert_allclose(loss, 0.5 * a2 * (w1 - c2) ** 2, rtol=1e-6)
    np.testing.assert_allclose(metrics['w'], w1, rtol=1e-6)
    np.testing.assert_allclose(grads['w'], expected, rtol=1e-5)


def test_meta_batch_loss_is_the_mean_over_tasks():
  batch = {'inner': {'a': jnp.array([[1.0], [2.0]]), 'c': jnp.array([[0.0], [1.0]])},
           'outer': {'a': jnp.array([1.0, 1.0]), 'c': jnp.array([0.0, 0.0])}}
  # Task 1: w1 = 1 - 0.5 * 1 * 1 = 0.5, L = 0.125; task 2: w1 = 1 - 0.5 * 2 * 0 = 1, L = 0.5.
  loss, metrics = maml.make_maml_loss(quadratic_loss, optax.sgd(0.5))(
      {'w': jnp.asarray(1.0)}, batch, None)
  np.testing.assert_allclose(loss, (0.125 + 0.5) / 2, rtol=1e-6)
  np.testing.assert_allclose(metrics['loss_before'], (0.0 + 0.0) / 2 + 0.5 * 1.0 * 1.0 / 2,
                             rtol=1e-6)


@pytest.mark.slow
def test_gradient_through_the_inner_loop_of_a_siren_matches_finite_differences():
  spec = fields.field_spec('siren', out_features=1, image_side=8, hidden_features=8,
                           hidden_layers=1, first_omega0=30.0, hidden_omega0=30.0,
                           zero_bias=False)
  model = fields.make_field_model(**spec, sine='jnp')
  apply_fn = models.apply_fn(model)
  params = fields.init_params(model, jax.random.PRNGKey(0))
  rng = np.random.default_rng(0)
  coords = np.asarray(grids.make_grid(8, 8)).reshape(-1, 2)
  values = rng.uniform(-1, 1, (64, 1)).astype(np.float32)
  batch = {'inner': {'coords': coords[None, None], 'values': values[None, None]},
           'outer': {'coords': coords[None], 'values': values[None]}}
  loss_fn = maml.make_maml_loss(fitting.image_loss, optax.sgd(1e-2))
  with jax.enable_x64(True):
    params64 = jax.tree.map(lambda p: jnp.asarray(p, jnp.float64), params)
    batch64 = jax.tree.map(lambda b: jnp.asarray(b, jnp.float64), batch)
    loss = lambda p: loss_fn(p, batch64, apply_fn)[0]  # noqa: E731
    grads = jax.grad(loss)(params64)
    direction = jax.tree.map(lambda p: jnp.asarray(rng.normal(size=p.shape)), params64)
    eps = 1e-6
    shifted = lambda s: jax.tree.map(lambda p, d: p + s * eps * d, params64, direction)  # noqa
    numeric = (loss(shifted(1)) - loss(shifted(-1))) / (2 * eps)
    analytic = sum(jnp.sum(g * d) for g, d in zip(jax.tree.leaves(grads),
                                                   jax.tree.leaves(direction)))
    first_order = jax.grad(lambda p: maml.make_maml_loss(
        fitting.image_loss, optax.sgd(1e-2), first_order=True)(p, batch64, apply_fn)[0])(
            params64)
    first_order_d = sum(jnp.sum(g * d) for g, d in zip(jax.tree.leaves(first_order),
                                                        jax.tree.leaves(direction)))
  np.testing.assert_allclose(float(analytic), float(numeric), rtol=1e-5)
  # The second-order term is not negligible here, so the check above can tell them apart.
  assert abs(float(first_order_d) - float(numeric)) > 1e-3 * abs(float(numeric))
