"""flax.nnx SIREN: paper init bounds, the Linen layout, lossless conversion, identical maths."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from siren_jax import diffops, layers, nnx_layers

OMEGAS = {'first_omega0': 20.0, 'hidden_omega0': 10.0}


def _bound_is_tight(values, bound):
  values = np.asarray(values)
  assert np.abs(values).max() <= bound
  assert np.abs(values).max() > 0.98 * bound  # Uses the whole range: uniform, not smaller.
  np.testing.assert_allclose(values.std(), bound / math.sqrt(3), rtol=0.05)


def test_nnx_siren_init_matches_paper_bounds_per_layer():
  omega0 = 30.0
  model = nnx_layers.Siren(2, 1, 256, 2, hidden_omega0=omega0, rngs=nnx.Rngs(0))
  params = nnx_layers.nnx_params_to_list(model)
  assert [p['kernel'].shape for p in params] == [(2, 256), (256, 256), (256, 256), (256, 1)]
  _bound_is_tight(params[0]['kernel'], 1.0 / 2)  # U(-1/fan_in, 1/fan_in).
  for layer in params[1:3]:
    _bound_is_tight(layer['kernel'], math.sqrt(6.0 / 256) / omega0)
    _bound_is_tight(layer['bias'], 1.0 / math.sqrt(256))  # PyTorch's nn.Linear default.
  # The linear last layer (nnx.Linear) gets the hidden bound and the same bias init too.
  assert np.abs(params[3]['kernel']).max() <= math.sqrt(6.0 / 256) / omega0
  assert 0 < np.abs(params[3]['bias']).max() <= 1.0 / math.sqrt(256)
  zero = nnx_layers.Siren(2, 1, 8, 1, zero_bias=True, rngs=nnx.Rngs(0))
  assert all(float(jnp.abs(p['bias']).max()) == 0.0
             for p in nnx_layers.nnx_params_to_list(zero))


def test_nnx_state_has_the_linen_siren_param_layout():
  x = jnp.zeros((1, 2))
  linen = layers.Siren(out_features=3, hidden_features=16, hidden_layers=2).init(
      jax.random.PRNGKey(0), x)['params']
  nnx_state = nnx.state(nnx_layers.Siren(2, 3, 16, 2, rngs=nnx.Rngs(0)), nnx.Param)
  shapes = lambda tree: jax.tree.map(jnp.shape, tree)
  assert shapes(nnx_state.to_pure_dict()) == shapes(jax.tree.map(jnp.asarray, dict(linen)))


@pytest.mark.parametrize('outermost_linear', [True, False])
def test_conversions_round_trip_bit_exactly(outermost_linear):
  pure = layers.siren_init(jax.random.PRNGKey(3), [2, 16, 16, 3])
  model = nnx_layers.list_params_to_nnx(pure, outermost_linear=outermost_linear, **OMEGAS)
  back = nnx_layers.nnx_params_to_list(model)
  linen = layers.list_params_to_flax(back)
  again = nnx_layers.nnx_params_to_list(
      nnx_layers.list_params_to_nnx(layers.flax_params_to_list(linen),
                                    outermost_linear=outermost_linear, **OMEGAS))
  for original, converted in zip(pure, again):
    for name in ('kernel', 'bias'):
      assert converted[name].dtype == original[name].dtype
      np.testing.assert_array_equal(converted[name], original[name])


@pytest.mark.slow  # 10-20 s on the loaded 2-core machine (compiles 3 x 4 functions).
@pytest.mark.parametrize('outermost_linear', [True, False])
def test_pure_linen_and_nnx_give_identical_outputs_gradients_and_laplacians(outermost_linear):
  """One set of params through the three APIs: same values, param/input gradients, Laplacians."""
  pure = layers.siren_init(jax.random.PRNGKey(0), [2, 32, 32, 32, 3])
  linen_model = layers.Siren(out_features=3, hidden_features=32, hidden_layers=2,
                             outermost_linear=outermost_linear, **OMEGAS)
  nnx_model = nnx_layers.list_params_to_nnx(pure, outermost_linear=outermost_linear, **OMEGAS)
  pure_fn = lambda p, x: layers.siren_apply(p, x, outermost_linear=outermost_linear, **OMEGAS)
  linen_fn = lambda p, x: linen_model.apply({'params': p}, x)
  linen_params = layers.list_params_to_flax(pure)
  x = jax.random.uniform(jax.random.PRNGKey(1), (64, 2), minval=-1, maxval=1)
  target = jax.random.normal(jax.random.PRNGKey(2), (64, 3))
  close = lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5)

  close(linen_fn(linen_params, x), pure_fn(pure, x))
  close(nnx_model(x), pure_fn(pure, x))

  loss = lambda y: jnp.mean((y - target) ** 2)
  grad_pure = jax.grad(lambda p: loss(pure_fn(p, x)))(pure)
  grad_linen = layers.flax_params_to_list(jax.grad(lambda p: loss(linen_fn(p, x)))(linen_params))
  grad_nnx = nnx_layers.nnx_params_to_list(nnx.grad(lambda m: loss(m(x)))(nnx_model))
  for g_pure, g_linen, g_nnx in zip(grad_pure, grad_linen, grad_nnx):
    for name in ('kernel', 'bias'):
      assert float(jnp.abs(g_pure[name]).max()) > 0  # Not a vacuous comparison of zeros.
      close(g_linen[name], g_pure[name])
      close(g_nnx[name], g_pure[name])

  fields = [diffops.pointwise(pure_fn, pure), diffops.pointwise(linen_fn, linen_params),
            nnx_model]
  # One jit each: the same maths as eager, far fewer dispatches (the test stays quick).
  grads = [jax.jit(lambda c, f=f: diffops.gradient(f, c))(x) for f in fields]
  laplacians = [jax.jit(lambda c, f=f: diffops.laplacian(f, c))(x) for f in fields]
  assert grads[0].shape == (64, 3, 2) and laplacians[0].shape == (64, 3)
  for g, lap in zip(grads[1:], laplacians[1:]):
    close(g, grads[0])
    # Laplacians of a SIREN scale like omega0^2: compare relative to their spread.
    np.testing.assert_allclose(lap, laplacians[0], rtol=1e-4,
                               atol=1e-5 * float(jnp.abs(laplacians[0]).max()))


def test_nnx_siren_works_under_nnx_jit_with_diffops():
  model = nnx_layers.Siren(2, 1, 16, 1, rngs=nnx.Rngs(0))
  x = jax.random.uniform(jax.random.PRNGKey(1), (8, 2), minval=-1, maxval=1)
  jitted = nnx.jit(lambda m, c: diffops.laplacian(m, c))(model, x)
  np.testing.assert_allclose(jitted, diffops.laplacian(model, x), rtol=1e-5, atol=1e-3)


def test_mismatched_params_are_a_clear_error():
  pure = layers.siren_init(jax.random.PRNGKey(0), [2, 16, 16, 3])
  pure[1]['bias'] = pure[1]['bias'][:8]
  with pytest.raises(ValueError, match='layer 1 bias has shape'):
    nnx_layers.list_params_to_nnx(pure)
  with pytest.raises(ValueError, match='at least 2 layers'):
    nnx_layers.list_params_to_nnx(pure[:1])
  with pytest.raises(ValueError, match='positive widths'):
    nnx_layers.Siren(2, 0, rngs=nnx.Rngs(0))


def test_nnx_siren_defaults_are_the_linen_sirens():
  # Only the required arguments on both sides: the NNX Siren must default to the Linen Siren's
  # 3 hidden layers of width 256 and linear last layer (layers_defaults_test pins those), so the
  # Linen parameters loaded into the default NNX model give the same outputs.
  x = jax.random.uniform(jax.random.PRNGKey(1), (16, 2), minval=-1, maxval=1)
  linen = layers.Siren()
  params = linen.init(jax.random.PRNGKey(0), x)['params']
  model = nnx_layers.Siren(2, rngs=nnx.Rngs(0))
  assert model.num_layers == 5
  nnx.update(model, nnx.State(jax.tree.map(jnp.asarray, dict(params))))
  np.testing.assert_allclose(model(x), linen.apply({'params': params}, x), rtol=1e-5, atol=1e-6)
  # A linear last layer reaches outside [-1, 1] when its weights are large; a sine one cannot.
  big = jax.tree.map(lambda p: 50.0 * p, nnx.state(model, nnx.Param))
  nnx.update(model, big)
  assert np.abs(np.asarray(model(x))).max() > 1.0


def test_nnx_siren_accepts_width_one_and_refuses_width_zero():
  model = nnx_layers.Siren(1, 1, hidden_features=1, hidden_layers=0, rngs=nnx.Rngs(0))
  assert model(jnp.zeros((3, 1))).shape == (3, 1)
  with pytest.raises(ValueError, match='positive widths'):
    nnx_layers.Siren(1, 1, hidden_features=0, hidden_layers=0, rngs=nnx.Rngs(0))
