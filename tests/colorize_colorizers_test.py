"""siren_jax.colorize.colorizers: shapes, ranges, schedules, inits, tiling, learning, the
thumbnail embedding (values by hand), and the fusion options (Iizuka's global branch,
file-backed embeddings)."""

import flax.serialization
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from experiments.colorize import train as colorize_train
from experiments.configs import colorize as colorize_config
from siren_jax import training
from siren_jax.colorize import colorizers
from tests.helpers import random_grey


def test_colorizer_with_fusion_output_shape_and_range(schedule='S130', fusion=True):
  model = colorizers.Colorizer(schedule=schedule, width_scale=0.125,
                               fusion_features=66 if fusion else 0)
  grey = random_grey(side=24)
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
    colorizers.Colorizer().init(jax.random.PRNGKey(0), random_grey(side=20))
  with pytest.raises(ValueError, match='schedule'):
    colorizers.Colorizer(schedule='SSS').init(jax.random.PRNGKey(0), random_grey(side=16))
  with pytest.raises(ValueError, match='embedding'):
    colorizers.Colorizer(fusion_features=4).init(jax.random.PRNGKey(0), random_grey(side=16))


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
  grey = random_grey(batch=4, side=16)
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


def test_thumbnail_embedding_is_block_means_then_mean_and_std():
  # A 16 x 8 image pools to 8 x 8 blocks of 2 x 1 pixels: block (i, j) averages rows 2i, 2i + 1
  # of column j. With pixel (r, c) = r + 100 c, that mean is 2i + 0.5 + 100 j.
  r, c = np.meshgrid(np.arange(16.0), np.arange(8.0), indexing='ij')
  grey = (r + 100 * c).astype(np.float32)[None, :, :, None]
  embedding = np.asarray(colorizers.thumbnail_embedding(grey))
  assert embedding.shape == (1, 8 * 8 + 2)
  i, j = np.meshgrid(np.arange(8.0), np.arange(8.0), indexing='ij')
  np.testing.assert_allclose(embedding[0, :64], (2 * i + 0.5 + 100 * j).ravel(), rtol=1e-6)
  # Mean of r + 100 c over the image: 7.5 + 350; the two are independent, so the variance is
  # Var(r) + 100^2 Var(c) = (16^2 - 1) / 12 + 1e4 (8^2 - 1) / 12.
  np.testing.assert_allclose(embedding[0, 64], 357.5, rtol=1e-6)
  np.testing.assert_allclose(embedding[0, 65], np.sqrt(255 / 12 + 1e4 * 63 / 12), rtol=1e-5)


@pytest.mark.parametrize('shape', [(1, 12, 16, 1), (1, 16, 12, 1), (1, 12, 12, 1)])
def test_thumbnail_embedding_needs_both_sides_divisible_by_8(shape):
  with pytest.raises(ValueError, match='divisible by 8'):
    colorizers.thumbnail_embedding(np.zeros(shape, np.float32))


def test_fusion_settings_name_their_embedding():
  assert colorizers.fusion_embedding('') is None  # No fusion.
  assert colorizers.fusion_embedding('global') is None  # Built into the model.
  fn, dim = colorizers.fusion_embedding('thumbnail')
  assert fn is colorizers.thumbnail_embedding and dim == 66
  with pytest.raises(ValueError, match='unknown embedding'):
    colorizers.fusion_embedding('inception')


def test_fusion_layer_is_a_1x1_conv():
  # Wallner's full version (docs/facts.md): the embedding repeated over the 32 x 32 encoder output
  # is concatenated and fused by a 1 x 1 conv, i.e. per position, no spatial mixing.
  model = colorizers.Colorizer(schedule='FR', width_scale=0.125, fusion_features=66)
  grey = np.zeros((1, 16, 16, 1), np.float32)
  inputs = {'grey': grey, 'embedding': colorizers.thumbnail_embedding(grey)}
  shapes = jax.eval_shape(model.init, jax.random.PRNGKey(0), inputs)
  kernels = [leaf.shape for path, leaf in jax.tree_util.tree_flatten_with_path(shapes)[0]
             if 'fusion' in jax.tree_util.keystr(path) and 'kernel' in jax.tree_util.keystr(path)]
  assert kernels and all(shape[:2] == (1, 1) for shape in kernels)


def test_global_branch_sees_the_whole_image():
  model = colorizers.Colorizer(schedule='FR', width_scale=0.125, global_features=8)
  grey = random_grey(side=32)
  # Jitted: eager init and apply compile each of the ~40 ops on its own (3x slower on a CPU).
  params, out = jax.jit(lambda k, x: (model.init(k, x), model.apply(model.init(k, x), x)))(
      jax.random.PRNGKey(0), grey)
  assert 'global_features' in params['params'] and 'fusion' in params['params']
  assert out.shape == (2, 32, 32, 2)
  # The global vector depends on every region of the image (here: only a corner changes).
  branch = colorizers.GlobalFeatures(8, 0.125)
  branch_params = jax.jit(branch.init)(jax.random.PRNGKey(1), grey)
  apply = jax.jit(branch.apply)
  corner = grey.at[:, 24:, 24:].set(1.0)
  assert not np.allclose(apply(branch_params, grey), apply(branch_params, corner))
  # Resolution-free: any input size gives one (B, features) vector.
  assert jax.eval_shape(branch.apply, branch_params, random_grey(side=48)).shape == (2, 8)


@pytest.mark.parametrize('suffix', ['npy', 'msgpack'])
def test_pretrained_embedding_from_a_local_file(tmp_path, suffix):
  rng = np.random.default_rng(0)
  kernel = rng.normal(size=(4 * 4, 5)).astype(np.float32)  # A tiny random "pretrained" map.
  bias = rng.normal(size=5).astype(np.float32)
  path = str(tmp_path / f'embedding.{suffix}')
  if suffix == 'npy':
    np.save(path, kernel)
    bias = np.zeros(5, np.float32)
  else:
    with open(path, 'wb') as f:
      f.write(flax.serialization.msgpack_serialize({'kernel': kernel, 'bias': bias}))
  embed, dims = colorizers.load_embedding(path)
  assert dims == 5
  # A grey image constant on each 4x4 block: its 4x4 thumbnail is exactly the block values.
  blocks = rng.uniform(-1, 1, (1, 4, 4, 1)).astype(np.float32)
  grey = jnp.asarray(np.repeat(np.repeat(blocks, 4, axis=1), 4, axis=2))
  np.testing.assert_allclose(embed(grey), blocks.reshape(1, 16) @ kernel + bias, atol=1e-4)

  config = colorize_config.get_config('FR,tiny')
  config.model.fusion = f'file:{path}'
  colorize_train.check_config(config)
  state = colorize_train.make_state(config)
  out = state.apply_fn(state.params, colorize_train.model_inputs(config, grey))
  assert out.shape == (1, 16, 16, 2) and 'fusion' in state.params


def test_bad_embedding_files_are_one_line_errors(tmp_path):
  with pytest.raises(FileNotFoundError, match='embedding file not found'):
    colorizers.load_embedding(str(tmp_path / 'missing.npy'))
  np.save(tmp_path / 'bad.npy', np.zeros((15, 3)))
  with pytest.raises(ValueError, match=r'shape \(side \* side, D\)'):
    colorizers.load_embedding(str(tmp_path / 'bad.npy'))
  (tmp_path / 'x.txt').write_text('1')
  with pytest.raises(ValueError, match='must end in .npy or .msgpack'):
    colorizers.load_embedding(str(tmp_path / 'x.txt'))


def test_hint_inputs_are_channels_beside_grey():
  grey = random_grey(2, 16, 16)
  model = colorizers.Colorizer(schedule='FR', width_scale=0.125, hint_inputs=True)
  hints = jnp.zeros((2, 16, 16, 3))
  params = model.init(jax.random.PRNGKey(0), {'grey': grey, 'hints': hints})
  # The first conv sees 4 channels: grey, hint a, hint b, mask.
  assert params['params']['encoder_0']['Conv_0']['kernel'].shape[2] == 4
  with_hint = hints.at[:, 8, 8].set(jnp.array([0.5, -0.5, 1.0]))
  out = model.apply(params, {'grey': grey, 'hints': hints})
  assert out.shape == (2, 16, 16, 2)
  assert not np.allclose(out, model.apply(params, {'grey': grey, 'hints': with_hint}))
  with pytest.raises(ValueError, match='pass hints exactly when'):
    model.apply(params, grey)
  with pytest.raises(ValueError, match=r'hints must have shape \(2, 16, 16, 3\)'):
    model.apply(params, {'grey': grey, 'hints': hints[..., :2]})
  config = colorize_config.get_config('FR,tiny')
  config.model.hint_inputs = True
  inputs = colorize_train.model_inputs(config, grey)  # No hints given: zeros.
  assert inputs['hints'].shape == (2, 16, 16, 3) and not np.any(inputs['hints'])
  config.model.name = 'FC'
  with pytest.raises(ValueError, match='hint_inputs applies to the conv colourisers only'):
    colorize_train.check_config(config)
