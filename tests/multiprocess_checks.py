"""Sharding helpers across two processes; ``scale_out_test.py`` starts two copies of this script.

Each process has 2 simulated CPU devices (4 in the mesh); the checks are what only a
multi-process run can show: arrays that span the other process's devices, and batches given as
the global batch or as this process's rows. By hand, in two shells:

  XLA_FLAGS=--xla_force_host_platform_device_count=2 python tests/multiprocess_checks.py \\
      127.0.0.1:12355 0
  XLA_FLAGS=--xla_force_host_platform_device_count=2 python tests/multiprocess_checks.py \\
      127.0.0.1:12355 1

Exits 0 and prints 'ok' when every check holds; an AssertionError otherwise.
"""

from __future__ import annotations

import sys

import jax
import numpy as np

NUM_PROCESSES = 2
DEVICES_PER_PROCESS = 2
ROWS = 8  # Global batch rows: 2 per device.


def main(coordinator_address: str, process_id: int) -> None:
  jax.distributed.initialize(coordinator_address=coordinator_address,
                             num_processes=NUM_PROCESSES, process_id=process_id)
  from siren_jax import sharding  # After initialize, like the entry points.

  assert jax.process_count() == NUM_PROCESSES
  assert jax.device_count() == NUM_PROCESSES * DEVICES_PER_PROCESS
  mesh = sharding.make_mesh()
  batch = np.arange(ROWS * 3, dtype=np.float32).reshape(ROWS, 3)

  # The global batch (the same on every process) is the default; this process's rows only with
  # process_local=True. Both give the same global array, split over all 4 devices.
  global_ = sharding.put_batch({'x': batch}, mesh)['x']
  rows = sharding.process_slice(ROWS)
  per_process = ROWS // NUM_PROCESSES
  assert rows == slice(process_id * per_process, (process_id + 1) * per_process), rows
  local = sharding.put_batch({'x': batch[rows]}, mesh, process_local=True)['x']
  for array in (global_, local):
    assert array.shape == (ROWS, 3), array.shape
    assert not array.is_fully_addressable and not array.is_fully_replicated
    for shard in array.addressable_shards:
      np.testing.assert_array_equal(np.asarray(shard.data), batch[shard.index])
  # to_host gathers the rows the other process holds.
  np.testing.assert_array_equal(sharding.to_host({'x': global_})['x'], batch)
  np.testing.assert_array_equal(sharding.to_host(local), batch)
  # A global array is resharded on device (its host copy would need the other process's rows).
  whole = sharding.put(global_, sharding.replicated(mesh))
  assert whole.is_fully_replicated and len(whole.sharding.device_set) == jax.device_count()
  for shard in whole.addressable_shards:
    np.testing.assert_array_equal(np.asarray(shard.data), batch)

  # A state initialised on this process's device (the same values on every process, from the
  # same seed) is replicated over all devices, and read back whole.
  state = {'kernel': jax.numpy.full((4, 4), 2.0), 'step': jax.numpy.array(3)}
  assert all(leaf.is_fully_addressable for leaf in jax.tree.leaves(state))
  placed = sharding.put_state(state, mesh)
  for leaf in jax.tree.leaves(placed):
    assert leaf.is_fully_replicated and len(leaf.sharding.device_set) == jax.device_count()
  back = sharding.to_host(placed)
  assert isinstance(back['kernel'], np.ndarray)
  np.testing.assert_array_equal(back['kernel'], np.full((4, 4), 2.0))
  assert int(back['step']) == 3
  print('ok', flush=True)


if __name__ == '__main__':
  main(sys.argv[1], int(sys.argv[2]))
