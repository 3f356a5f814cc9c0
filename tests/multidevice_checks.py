"""Checks that need 8 devices; ``scale_out_test.py`` runs them in a subprocess with
``XLA_FLAGS=--xla_force_host_platform_device_count=8`` so the rest of the suite keeps one CPU
device. The file name does not match ``*_test.py`` on purpose: a one-device pytest run would
only fail them. By hand:

  XLA_FLAGS=--xla_force_host_platform_device_count=8 python -m pytest tests/multidevice_checks.py

Every comparison runs the same global batch through the same step on a 1-device mesh and on an
8-device mesh in this process, from the same initial state.
"""

from __future__ import annotations

import json
import os

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from jax.sharding import PartitionSpec

from siren_jax import checkpoints, fitting, grids, images, sharding, training
from siren_jax.models import fields

NUM_DEVICES = 8
STEPS = 8
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


class ConvColorizer(nn.Module):
  """A small fully convolutional L -> ab network, shaped like the colourisation CNNs."""

  @nn.compact
  def __call__(self, lightness):
    x = nn.relu(nn.Conv(16, (3, 3))(lightness))
    x = nn.relu(nn.Conv(16, (3, 3))(x))
    return nn.Conv(2, (3, 3))(x)


class FCColorizer(nn.Module):
  """A fully connected L -> ab network on whole (small) images, like the large FC colouriser."""
  hidden: int = 256

  @nn.compact
  def __call__(self, lightness):
    batch, height, width, _ = lightness.shape
    x = nn.relu(nn.Dense(self.hidden)(lightness.reshape(batch, -1)))
    return nn.Dense(height * width * 2)(x).reshape(batch, height, width, 2)


def colorize_batch(num_images: int = 16, side: int = 8) -> dict[str, np.ndarray]:
  rng = np.random.default_rng(0)
  return {'lightness': rng.uniform(-1, 1, (num_images, side, side, 1)).astype(np.float32),
          'ab': rng.uniform(-1, 1, (num_images, side, side, 2)).astype(np.float32)}


def colorize_loss(params, batch, apply_fn):
  loss = training.mse(apply_fn(params, batch['lightness']), batch['ab'])
  return loss, {}


def colorize_state(model: nn.Module) -> training.TrainState:
  return training.create_train_state(model, jax.random.PRNGKey(1), jnp.zeros((1, 8, 8, 1)),
                                     optax.adam(1e-3))


def run_steps(state, batch, loss_fn, mesh, steps=STEPS, param_sharding='replicate'):
  """Losses of ``steps`` steps on ``mesh`` (None: plain jit) and the final state."""
  step = training.make_train_step(loss_fn, mesh=mesh, param_sharding=param_sharding)
  losses = []
  for _ in range(steps):
    state, metrics = step(state, batch)
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


def test_conv_colorizer_step_gives_the_same_losses_on_1_and_8_devices():
  model, batch = ConvColorizer(), colorize_batch()
  one, _ = run_steps(colorize_state(model), batch, colorize_loss, one_device_mesh())
  eight, _ = run_steps(colorize_state(model), batch, colorize_loss, sharding.make_mesh())
  np.testing.assert_allclose(eight, one, rtol=1e-5)
  assert eight[-1] < eight[0]


def test_fc_colorizer_with_sharded_kernels_matches_1_device():
  model, batch = FCColorizer(), colorize_batch()
  one, _ = run_steps(colorize_state(model), batch, colorize_loss, one_device_mesh())
  eight, state = run_steps(colorize_state(model), batch, colorize_loss, sharding.make_mesh(),
                           param_sharding='shard_kernels')
  np.testing.assert_allclose(eight, one, rtol=1e-5)
  assert eight[-1] < eight[0]
  kernel = state.params['Dense_0']['kernel']  # (64, 256): split along its output axis.
  assert kernel.sharding.spec == PartitionSpec(None, 'data')
  assert kernel.addressable_shards[0].data.shape == (64, 256 // NUM_DEVICES)
  adam_mu = state.opt_state[0].mu['Dense_1']['kernel']  # Optimiser moments follow the params.
  assert adam_mu.sharding.spec == PartitionSpec(None, 'data')
  assert state.params['Dense_0']['bias'].sharding.is_fully_replicated  # Small: replicated.


def test_process_local_batches_build_the_same_global_batch():
  # One process: its local rows are all rows, so both ways give the same global array.
  mesh = sharding.make_mesh()
  batch = colorize_batch()
  local = sharding.put_batch(batch, mesh, process_local=True)
  global_ = sharding.put_batch(batch, mesh)
  assert local['ab'].sharding == global_['ab'].sharding
  np.testing.assert_array_equal(np.asarray(local['ab']), np.asarray(global_['ab']))


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
