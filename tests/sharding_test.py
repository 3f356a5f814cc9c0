"""siren_jax.sharding's helpers on this process's single device (the 8-device and two-process
checks are in scale_out_test.py)."""

from __future__ import annotations

import jax
import numpy as np
import pytest

from siren_jax import fitting, sharding, training


def test_process_slice_tiles_the_rows_in_process_order():
  slices = [sharding.process_slice(12, i, 3) for i in range(3)]
  assert slices == [slice(0, 4), slice(4, 8), slice(8, 12)]
  # Usable as an index (integer bounds: slice(0.0, 4.0) compares equal but cannot index).
  rows = np.arange(12)
  assert [rows[s].tolist() for s in slices] == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9, 10, 11]]
  assert sharding.process_slice(12) == slice(0, 12)  # One process here.


def test_to_host_gives_numpy_arrays_for_a_tree_of_host_and_device_leaves():
  tree = {'host': np.arange(3.0), 'device': jax.numpy.arange(4.0), 'scalar': 2}
  back = sharding.to_host(tree)
  assert isinstance(back['host'], np.ndarray) and isinstance(back['device'], np.ndarray)
  np.testing.assert_array_equal(back['device'], np.arange(4.0))
  np.testing.assert_array_equal(back['host'], np.arange(3.0))
  assert back['scalar'] == 2
  # A tree of host arrays only (e.g. a batch not yet placed) comes back as it is.
  host_only = sharding.to_host({'x': np.arange(3.0)})
  np.testing.assert_array_equal(host_only['x'], np.arange(3.0))


def test_arrays_already_in_place_are_used_without_a_copy():
  # A single-device array on a 1-device mesh lies as the mesh's sharding says (equivalent,
  # though not equal, shardings), so placing it every step costs nothing.
  mesh = sharding.make_mesh(jax.devices()[:1])
  x = jax.numpy.arange(8.0).reshape(4, 2)
  assert sharding.put(x, sharding.replicated(mesh)) is x
  assert sharding.put_batch({'x': x}, mesh)['x'] is x
  assert sharding.put_state({'x': x}, mesh)['x'] is x


def test_process_slice_rejects_rows_that_do_not_split_evenly():
  with pytest.raises(ValueError, match='does not split evenly over 4 processes'):
    sharding.process_slice(10, 0, 4)


def test_state_shardings_rejects_an_unknown_mode():
  with pytest.raises(ValueError, match='param_sharding must be one of replicate, shard_kernels'):
    training.make_train_step(fitting.image_loss, mesh=sharding.make_mesh(),
                             param_sharding='fsdp')


def test_shard_kernels_splits_only_large_kernels_with_a_divisible_output_axis():
  mesh = sharding.make_mesh()
  tree = {'big': np.zeros((128, 128)), 'small': np.zeros((8, 8)), 'bias': np.zeros(128 * 128)}
  specs = jax.tree.map(lambda s: s.spec, sharding.state_shardings(tree, mesh, 'shard_kernels'))
  assert specs == {'big': jax.sharding.PartitionSpec(None, 'data'),
                   'small': jax.sharding.PartitionSpec(), 'bias': jax.sharding.PartitionSpec()}
