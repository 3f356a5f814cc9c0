"""Fusion options of the conv colouriser: Iizuka's global branch and file-backed embeddings."""

import flax.serialization
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from experiments.colorize import train as colorize_train
from experiments.configs import colorize as colorize_config
from siren_jax.colorize import colorizers


def _grey(batch=2, side=16, seed=0):
  return jax.random.uniform(jax.random.PRNGKey(seed), (batch, side, side, 1), minval=-1, maxval=1)


def test_global_branch_sees_the_whole_image():
  model = colorizers.Colorizer(schedule='FR', width_scale=0.125, global_features=8)
  grey = _grey(side=32)
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
  assert jax.eval_shape(branch.apply, branch_params, _grey(side=48)).shape == (2, 8)


def test_global_fusion_trains_through_the_experiment_config():
  config = colorize_config.get_config('SRS,tiny')
  config.model.fusion = 'global'
  colorize_train.check_config(config)
  state = colorize_train.make_state(config)
  loss_fn = colorize_train.make_loss_fn(config)
  batch = {'grey': _grey(batch=4), 'ab': jnp.zeros((4, 16, 16, 2))}
  grads = jax.jit(jax.grad(lambda p: loss_fn(p, batch, state.apply_fn)[0]))(state.params)
  branch_grads = jax.tree.leaves(grads['global_features'])
  assert any(float(jnp.abs(g).max()) > 0 for g in branch_grads)  # Jointly trained.


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
