"""Checks that need 8 devices; ``scale_out_test.py`` runs them in a subprocess with
``XLA_FLAGS=--xla_force_host_platform_device_count=8`` so the rest of the suite keeps one CPU
device. The file name does not match ``*_test.py`` on purpose: a one-device pytest run would
only fail them. By hand:

  XLA_FLAGS=--xla_force_host_platform_device_count=8 python -m pytest tests/multidevice_checks.py

Every comparison runs the same global batch through the same step on a 1-device mesh and on an
8-device mesh in this process, from the same initial state.
"""

from __future__ import annotations

import functools
import json
import os

import flax.linen as nn
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax
import pytest
from jax.sharding import PartitionSpec

from experiments import colorize_lib
from experiments.configs import colorize as colorize_config
from siren_jax import checkpoints, fitting, grids, images, sharding, training
from siren_jax.models import fields

NUM_DEVICES = 8
STEPS = 8
COLORIZE_STEPS = 4
# Written by test_checkpoint_written_on_8_devices for scale_out_test.py to restore on 1 device.
CHECKPOINT_DIR_ENV = 'SIREN_SCALE_OUT_CHECKPOINT_DIR'


@pytest.fixture(autouse=True)
def _needs_8_devices():
  assert jax.device_count() == NUM_DEVICES, (
      f'run with XLA_FLAGS=--xla_force_host_platform_device_count={NUM_DEVICES}')


# Models and batches; scale_out_test.py imports these to rebuild the same state on 1 device.

def fit_model() -> nn.Module:
  return fields.make_field_model('siren', out_features=1, hidden_features=32, hidden_layers=2,
                                 first_omega0=30.0, hidden_omega0=30.0, zero_bias=False,
                                 num_frequencies=0)


def fit_batch() -> dict[str, np.ndarray]:
  coords, values = grids.image_to_samples(images.load_image('camera', mode='grey', size=32))
  return {'coords': np.asarray(coords), 'values': np.asarray(values)}


def fit_state() -> training.TrainState:
  return training.create_train_state(fit_model(), jax.random.PRNGKey(0),
                                     jnp.zeros((1, 2), jnp.float32), optax.adam(1e-4))


@functools.lru_cache
def colorize_setup(model: str) -> tuple[ml_collections.ConfigDict, training.LossFn, list]:
  """The colourisation experiment's config, loss and COLORIZE_STEPS training batches (tiny
  config with a global batch of 8, so each device gets one image)."""
  config = colorize_config.get_config(f'{model},tiny')
  config.batch_size = NUM_DEVICES
  pipeline = colorize_lib.make_pipeline(config)
  keys = ('grey', colorize_lib.target_key(config))
  batches = [{k: pipeline.train_batch(step)[k] for k in keys} for step in range(COLORIZE_STEPS)]
  return config, colorize_lib.make_loss_fn(config), batches


@functools.lru_cache
def _colorize_host_state(model: str) -> training.TrainState:
  # Jitted and with the 'rbg' PRNG: the conv net's threefry init takes ~30 s to compile on this
  # CPU, 'rbg' ~4 s. Both runs of a comparison start from this same state.
  config = colorize_setup(model)[0]
  previous = jax.config.jax_default_prng_impl
  jax.config.update('jax_default_prng_impl', 'rbg')
  try:
    return jax.device_get(jax.jit(lambda: colorize_lib.make_state(config))())
  finally:
    jax.config.update('jax_default_prng_impl', previous)


def colorize_state(model: str) -> training.TrainState:
  """A fresh copy (the step donates its input) of the experiment's initial state for ``model``."""
  return jax.tree.map(jnp.array, _colorize_host_state(model))


def run_steps(state, batch, loss_fn, mesh, steps=STEPS, param_sharding='replicate'):
  """Losses of ``steps`` steps on ``mesh`` (None: plain jit) and the final state. ``batch``: one
  batch for every step, or a list of one per step."""
  step = training.make_train_step(loss_fn, mesh=mesh, param_sharding=param_sharding)
  losses = []
  for i in range(steps):
    state, metrics = step(state, batch[i] if isinstance(batch, list) else batch)
    losses.append(float(metrics['loss']))
  return np.asarray(losses), state


def one_device_mesh():
  return sharding.make_mesh(jax.devices()[:1])


# The checks.

def test_fit_step_gives_the_same_losses_on_1_and_8_devices():
  batch = fit_batch()
  one, state_one = run_steps(fit_state(), batch, fitting.image_loss, one_device_mesh())
  eight, state = run_steps(fit_state(), batch, fitting.image_loss, sharding.make_mesh())
  np.testing.assert_allclose(eight, one, rtol=1e-5)
  assert eight[-1] < eight[0]  # It trains, so equal trajectories are not equal constants.
  # Same final parameters, to float tolerance.
  jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6),
               sharding.to_host(state.params), sharding.to_host(state_one.params))


def test_fit_batch_is_split_over_8_devices_and_the_state_replicated():
  mesh = sharding.make_mesh()
  step = training.make_train_step(fitting.image_loss, mesh=mesh)
  batch = step.place_batch(fit_batch())
  state, metrics = step(fit_state(), batch)
  coords = batch['coords']
  assert coords.sharding.spec == PartitionSpec('data')
  assert len(coords.sharding.device_set) == NUM_DEVICES
  shards = coords.addressable_shards
  assert [s.data.shape for s in shards] == [(32 * 32 // NUM_DEVICES, 2)] * NUM_DEVICES
  # The shards are disjoint consecutive row blocks that tile the batch.
  np.testing.assert_array_equal(np.concatenate([np.asarray(s.data) for s in shards]),
                                fit_batch()['coords'])
  for leaf in jax.tree.leaves(state):
    assert leaf.sharding.is_fully_replicated and len(leaf.sharding.device_set) == NUM_DEVICES
  assert metrics['loss'].sharding.is_fully_replicated


def test_conv_colorizer_train_step_gives_the_same_losses_on_1_and_8_devices():
  _, loss_fn, batches = colorize_setup('SRS')
  one, _ = run_steps(colorize_state('SRS'), batches, loss_fn, one_device_mesh(),
                     steps=COLORIZE_STEPS)
  eight, _ = run_steps(colorize_state('SRS'), batches, loss_fn, sharding.make_mesh(),
                       steps=COLORIZE_STEPS)
  np.testing.assert_allclose(eight, one, rtol=1e-5)
  assert len(set(one.tolist())) == COLORIZE_STEPS  # Different batches, changing losses.


def test_fc_colorizer_with_sharded_kernels_matches_1_device():
  _, loss_fn, batches = colorize_setup('FC')
  one, _ = run_steps(colorize_state('FC'), batches, loss_fn, one_device_mesh(),
                     steps=COLORIZE_STEPS)
  eight, state = run_steps(colorize_state('FC'), batches, loss_fn,
                           sharding.make_mesh(), steps=COLORIZE_STEPS,
                           param_sharding='shard_kernels')
  np.testing.assert_allclose(eight, one, rtol=1e-5)
  assert eight[-1] < eight[0]
  # 8x8 pieces: hidden width 3 * 64 = 192. The (192, 192) kernels are split along their output
  # axis, 24 columns per device; the (64, 192) first kernel is below MIN_SHARDED_SIZE.
  specs = {'/'.join(str(getattr(k, 'key', k)) for k in path): leaf.sharding.spec
           for path, leaf in jax.tree_util.tree_leaves_with_path(state.params)}
  split = [name for name, spec in specs.items() if spec == PartitionSpec(None, 'data')]
  assert split and all(name.endswith('kernel') for name in split), specs
  kernel = jax.tree.leaves(state.params)[[*specs].index(split[0])]
  assert kernel.shape[0] == 192 and kernel.addressable_shards[0].data.shape == (192, 24)
  mu = state.opt_state[0].mu  # Adam's moments are split like the params.
  assert [x.sharding.spec for x in jax.tree.leaves(mu)] == list(specs.values())


def test_process_local_batches_build_the_same_global_batch():
  # One process: its local rows are all rows, so both ways give the same global array.
  mesh = sharding.make_mesh()
  batch = colorize_setup('FC')[2][0]
  local = sharding.put_batch(batch, mesh, process_local=True)
  global_ = sharding.put_batch(batch, mesh)
  assert local['rgb'].sharding == global_['rgb'].sharding
  assert local['rgb'].addressable_shards[0].data.shape == (1, 8, 8, 3)
  np.testing.assert_array_equal(np.asarray(local['rgb']), np.asarray(global_['rgb']))


def test_a_batch_that_does_not_split_over_8_devices_is_an_error():
  with pytest.raises(ValueError, match='12 examples does not split evenly over 8 devices'):
    sharding.put_batch({'x': np.zeros((12, 2))}, sharding.make_mesh())


def test_checkpoint_written_on_8_devices(tmp_path):
  """train_loop with the sharded step saves at step STEPS; scale_out_test.py restores it on 1
  device and checks the parameters and the next steps' losses against ``expected.json``."""
  directory = os.environ.get(CHECKPOINT_DIR_ENV) or str(tmp_path)
  batch = fit_batch()
  step = training.make_train_step(fitting.image_loss, mesh=sharding.make_mesh())
  manager = checkpoints.make_manager(os.path.join(directory, 'checkpoints'))
  result = training.train_loop(fit_state(), step, lambda _: batch, num_steps=STEPS,
                               checkpoint_manager=manager)
  manager.close()
  assert result.state.params['layer_0']['kernel'].sharding.spec == PartitionSpec()
  assert len(result.state.params['layer_0']['kernel'].sharding.device_set) == NUM_DEVICES
  params = sharding.to_host(result.state.params)
  later, state = [], result.state
  for _ in range(3):  # The same step again: no second compilation.
    state, metrics = step(state, batch)
    later.append(float(metrics['loss']))
  with open(os.path.join(directory, 'expected.json'), 'w') as f:
    json.dump({'params': jax.tree.map(lambda x: np.asarray(x).tolist(), params),
               'next_losses': later}, f)
