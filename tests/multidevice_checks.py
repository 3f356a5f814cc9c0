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

import jax
import numpy as np
import pytest
from jax.sharding import PartitionSpec

from bench import scale_out_equivalence as setup
from siren_jax import checkpoints, fitting, sharding, training

NUM_DEVICES = setup.BATCH_PER_DEVICE_COUNT
# Written by test_checkpoint_written_on_8_devices for scale_out_test.py to restore on 1 device.
CHECKPOINT_DIR_ENV = 'SIREN_SCALE_OUT_CHECKPOINT_DIR'


@pytest.fixture(autouse=True)
def _needs_8_devices():
  assert jax.device_count() == NUM_DEVICES, (
      f'run with XLA_FLAGS=--xla_force_host_platform_device_count={NUM_DEVICES}')


# Models, batches and initial states: the same as the README table's (bench/scale_out_equivalence).
fit_model, fit_batch, fit_state = setup.fit_model, setup.fit_batch, setup.fit_state
colorize_setup, colorize_state = setup.colorize_setup, setup.colorize_state
run_steps, STEPS, COLORIZE_STEPS = setup.run_steps, setup.STEPS, setup.COLORIZE_STEPS


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


def test_shard_kernels_splits_the_last_axis_of_a_kernel_of_any_rank():
  tree = {'conv': np.zeros((3, 3, 64, 128)),  # Axis 1 (3) does not split; axis -1 does.
          'wide': np.zeros((129, 128)),  # Axis -2 does not split; axis -1 does.
          'odd': np.zeros((128, 129))}  # The last axis does not split over 8: replicated.
  specs = jax.tree.map(lambda s: s.spec,
                       sharding.state_shardings(tree, sharding.make_mesh(), 'shard_kernels'))
  assert specs == {'conv': PartitionSpec(None, None, None, 'data'),
                   'wide': PartitionSpec(None, 'data'), 'odd': PartitionSpec()}


def test_put_state_places_a_one_device_state_on_every_device():
  mesh = sharding.make_mesh()
  state = fit_state()  # Initialised on device 0.
  placed = sharding.put_state(state, mesh)
  for leaf in jax.tree.leaves(placed):
    assert leaf.sharding.is_fully_replicated and len(leaf.sharding.device_set) == NUM_DEVICES
  x = jax.device_put(np.arange(16.0).reshape(8, 2), jax.devices()[0])
  split = sharding.put(x, sharding.batch_sharding(mesh))
  assert split.sharding.spec == PartitionSpec('data')
  assert len(split.addressable_shards) == NUM_DEVICES
  np.testing.assert_array_equal(np.asarray(split), np.asarray(x))
  assert sharding.put(split, sharding.batch_sharding(mesh)) is split  # Already in place.


def test_put_moves_device_arrays_on_device_not_through_host_memory(monkeypatch):
  # In one process a device array is resharded with jax.device_put; only host data is copied
  # piece by piece (make_array_from_callback), which for a device array would mean a full
  # device-to-host copy (on a GPU/TPU, of the whole train state) at every placement.
  def no_host_copy(*unused_args, **unused_kwargs):
    raise AssertionError('a device array was copied through host memory')

  mesh = sharding.make_mesh()
  x = jax.device_put(np.arange(16.0).reshape(8, 2), jax.devices()[0])
  monkeypatch.setattr(jax, 'make_array_from_callback', no_host_copy)
  replicated = sharding.put(x, sharding.replicated(mesh))
  split = sharding.put_batch({'x': x}, mesh)['x']
  assert replicated.sharding.is_fully_replicated
  assert len(replicated.sharding.device_set) == NUM_DEVICES
  assert split.sharding.spec == PartitionSpec('data')


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
