"""Tests of siren_jax.colorize.colorizers: shapes, ranges, schedules, inits, tiling, learning."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from siren_jax import training
from siren_jax.colorize import colorizers


def _grey(batch=2, side=16, seed=0):
  return jax.random.uniform(jax.random.PRNGKey(seed), (batch, side, side, 1), minval=-1, maxval=1)


def test_colorizer_with_fusion_output_shape_and_range(schedule='S130', fusion=True):
  model = colorizers.Colorizer(schedule=schedule, width_scale=0.125,
                               fusion_features=66 if fusion else 0)
  grey = _grey(side=24)
  inputs = {'grey': grey, 'embedding': colorizers.thumbnail_embedding(grey)} if fusion else grey
  params, ab = jax.jit(lambda k, x: (model.init(k, x), model.apply(model.init(k, x), x)))(
      jax.random.PRNGKey(0), inputs)
  assert ab.shape == (2, 24, 24, 2)
  assert float(jnp.abs(ab).max()) <= 1.0
  assert float(jnp.std(ab)) > 0  # Not a constant output.
  assert ('fusion' in params['params']) == fusion


def test_schedules_put_sines_where_the_report_says():
  num = 15
  fr = [colorizers.Colorizer(schedule='FR')._activation(i, num) for i in range(num)]
  srs = [colorizers.Colorizer(schedule='SRS')._activation(i, num) for i in range(num)]
  s130 = [colorizers.Colorizer(schedule='S130')._activation(i, num) for i in range(num)]
  assert fr == ['relu'] * (num - 1) + ['tanh']
  assert srs == ['sine'] + ['relu'] * (num - 2) + ['sine']
  assert s130 == ['sine'] * num


def _conv_params(sine_init, is_first, omega0, channels=1):
  layer = colorizers.ColorConv(64, 'sine', omega0=omega0, is_first=is_first, sine_init=sine_init)
  return layer.init(jax.random.PRNGKey(0), jnp.zeros((1, 8, 8, channels)))['params']['Conv_0']


def test_sine_conv_init_follows_the_config():
  # First layer (fan_in 3 * 3 * 1 = 9). The report: U(-1, 1), zero bias. The paper: U(+-1/9).
  report = _conv_params('report', True, 1.0 / 30.0)
  assert 0.9 < float(jnp.abs(report['kernel']).max()) <= 1.0
  assert float(jnp.abs(report['bias']).max()) == 0.0
  paper = _conv_params('paper', True, 30.0)
  assert 0.9 / 9 < float(jnp.abs(paper['kernel']).max()) <= 1.0 / 9
  assert 0 < float(jnp.abs(paper['bias']).max()) <= 1.0 / 3
  # Later layers (fan_in 3 * 3 * 4 = 36): He-uniform vs sqrt(6 / fan_in) / 30.
  bound = np.sqrt(6.0 / 36)
  later = float(jnp.abs(_conv_params('report', False, 1.0, 4)['kernel']).max())
  assert 0.9 * bound < later <= bound
  later = float(jnp.abs(_conv_params('paper', False, 30.0, 4)['kernel']).max())
  assert 0.9 * bound / 30 < later <= bound / 30


def test_sine_conv_computes_sin_of_omega0_times_the_conv():
  layer = colorizers.ColorConv(3, 'sine', omega0=2.5)
  x = jax.random.normal(jax.random.PRNGKey(1), (1, 6, 6, 2))
  params = layer.init(jax.random.PRNGKey(0), x)
  conv = jax.lax.conv_general_dilated(
      x, params['params']['Conv_0']['kernel'], (1, 1), 'SAME',
      dimension_numbers=('NHWC', 'HWIO', 'NHWC')) + params['params']['Conv_0']['bias']
  np.testing.assert_allclose(layer.apply(params, x), jnp.sin(2.5 * conv), atol=1e-5)


def test_colorizer_rejects_sizes_that_are_not_multiples_of_8_and_bad_schedules():
  with pytest.raises(ValueError, match='multiples of 8'):
    colorizers.Colorizer().init(jax.random.PRNGKey(0), _grey(side=20))
  with pytest.raises(ValueError, match='schedule'):
    colorizers.Colorizer(schedule='SSS').init(jax.random.PRNGKey(0), _grey(side=16))
  with pytest.raises(ValueError, match='embedding'):
    colorizers.Colorizer(fusion_features=4).init(jax.random.PRNGKey(0), _grey(side=16))


def test_fc_colorizer_output_shape_and_layers():
  model = colorizers.FCColorizer(height=4, width=6)
  params = model.init(jax.random.PRNGKey(0), jnp.zeros((1, 4, 6, 1)))
  rgb = model.apply(params, jnp.zeros((3, 4, 6, 1)))
  assert rgb.shape == (3, 4, 6, 3)
  shapes = [p['kernel'].shape for p in params['params']['siren'].values()]
  assert shapes == [(24, 72), (72, 72), (72, 72), (72, 72)]  # 3 sine layers, then linear.


# SRS (sine and relu layers) and FC run by default; FR and S130 compile the same conv stack with
# one activation throughout (~14 s each on a 2-core CPU), so they are slow (CI runs them).
@pytest.mark.parametrize('name', [pytest.param('FR', marks=pytest.mark.slow), 'SRS',
                                  pytest.param('S130', marks=pytest.mark.slow), 'FC'])
def test_output_shape_range_and_a_few_steps_lower_the_loss(name):
  grey = _grey(batch=4, side=16)
  # A constant colour cast: learnable by every model through its biases in a few steps.
  target = jnp.broadcast_to(jnp.array([0.3, -0.2, 0.1]), grey.shape[:3] + (3,))
  if name == 'FC':
    model, target, lr = colorizers.FCColorizer(height=16, width=16), target, 1e-4
  else:
    model, target, lr = colorizers.Colorizer(schedule=name, width_scale=0.25), target[..., :2], 1e-3
  state = training.create_train_state(model, jax.random.PRNGKey(0), grey, optax.adam(lr))
  output = jax.jit(state.apply_fn)(state.params, grey)
  assert output.shape == target.shape
  assert float(jnp.std(output)) > 0
  if name != 'FC':  # tanh or sine output; the FC SIREN's last layer is linear.
    assert float(jnp.abs(output).max()) <= 1.0

  def loss_fn(params, batch, apply_fn):
    return jnp.mean((apply_fn(params, batch['grey']) - batch['target']) ** 2), {}

  step = training.make_train_step(loss_fn)
  batch = {'grey': grey, 'target': target}
  first = None
  for _ in range(10):
    state, metrics = step(state, batch)
    first = float(metrics['loss']) if first is None else first
  assert float(metrics['loss']) < 0.8 * first
