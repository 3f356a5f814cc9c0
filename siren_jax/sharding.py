"""Data-parallel sharding over all devices (and all hosts) with a mesh and ``NamedSharding``.

One mesh axis, ``'data'``, spans every device of every process. Batches are split along their
leading axis over it (coordinates for fitting, images for colourisation); the train state is
replicated, or, with ``param_sharding='shard_kernels'``, its large kernels (and their optimiser
moments, which have the same shapes) are split along the output axis over the same devices
(for the large FC colouriser, whose kernels do not fit comfortably on one device). The same
jit-compiled step then runs on one device or many; XLA (GSPMD) inserts the collectives.

Multi-host: every process calls the same functions with the same arguments. A batch given as
host data is either the *global* batch (identical on every process; each process copies only
the rows its devices hold) or, with ``process_local=True``, only this process's rows (from
``process_slice``), assembled into one global array without any process reading the others'.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import jax
import numpy as np
from jax.experimental import multihost_utils
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from siren_jax import names

DATA_AXIS = 'data'
PARAM_SHARDINGS = names.PARAM_SHARDINGS
# Kernels smaller than this (elements) stay replicated under 'shard_kernels': splitting them
# costs more in collectives than it saves in memory.
MIN_SHARDED_SIZE = 2**14


def make_mesh(devices: Sequence[jax.Device] | None = None) -> Mesh:
  """A 1-D mesh with axis ``'data'`` over ``devices`` (default: all devices of all processes)."""
  devices = jax.devices() if devices is None else list(devices)
  if not devices:
    raise ValueError('make_mesh needs at least one device')
  return Mesh(np.asarray(devices), (DATA_AXIS,))


def replicated(mesh: Mesh) -> NamedSharding:
  """Every device holds the whole array."""
  return NamedSharding(mesh, PartitionSpec())


def batch_sharding(mesh: Mesh) -> NamedSharding:
  """Leading (example) axis split over the ``'data'`` axis; other axes whole."""
  return NamedSharding(mesh, PartitionSpec(DATA_AXIS))


def _leaf_sharding(leaf: Any, mesh: Mesh, param_sharding: str) -> NamedSharding:
  shape = np.shape(leaf)
  size = mesh.shape[DATA_AXIS]
  if (param_sharding == 'shard_kernels' and len(shape) >= 2 and shape[-1] % size == 0
      and int(np.prod(shape)) >= MIN_SHARDED_SIZE):
    return NamedSharding(mesh, PartitionSpec(*([None] * (len(shape) - 1)), DATA_AXIS))
  return replicated(mesh)


def state_shardings(state: Any, mesh: Mesh, param_sharding: str = 'replicate') -> Any:
  """A pytree of ``NamedSharding`` matching ``state`` (params, optimiser state, step).

  Args:
    state: any pytree of arrays, e.g. a ``TrainState``.
    mesh: from ``make_mesh``.
    param_sharding: 'replicate' (every leaf whole on every device) or 'shard_kernels' (leaves
      with >= 2 axes, at least ``MIN_SHARDED_SIZE`` elements and a last axis divisible by the
      number of devices are split along that last axis; everything else replicated).
  """
  if param_sharding not in PARAM_SHARDINGS:
    raise ValueError(f'param_sharding must be one of {", ".join(PARAM_SHARDINGS)}, '
                     f'got {param_sharding!r}')
  return jax.tree.map(lambda leaf: _leaf_sharding(leaf, mesh, param_sharding), state)


def put(leaf: Any, sharding: NamedSharding) -> jax.Array:
  """One array (host or device) with ``sharding``; kept as is when it already has it."""
  if isinstance(leaf, jax.Array):
    if _placed(leaf, sharding):
      return leaf  # Already in place: no copy, so placing every step costs nothing.
    if jax.process_count() == 1 or not leaf.is_fully_addressable:
      return jax.device_put(leaf, sharding)  # Moves a local array, or reshards a global one.
  # Host data (or a process-local array) that is the same on every process: each process copies
  # the pieces its own devices hold.
  host = np.asarray(leaf)
  return jax.make_array_from_callback(host.shape, sharding, lambda index: host[index])


def _placed(leaf: jax.Array, sharding: NamedSharding) -> bool:
  """Whether ``leaf`` already lies as ``sharding`` says (e.g. a single-device array on a
  1-device mesh), so it can be used without a copy."""
  return leaf.sharding == sharding or leaf.sharding.is_equivalent_to(sharding, leaf.ndim)


def put_state(state: Any, mesh: Mesh, param_sharding: str = 'replicate') -> Any:
  """``state`` placed on ``mesh`` per ``state_shardings``; leaves already there are kept.

  In a multi-process run every process must pass the same values (e.g. from the same seed).
  """
  return jax.tree.map(put, state, state_shardings(state, mesh, param_sharding))


def process_slice(num_rows: int, process_index: int | None = None,
                  process_count: int | None = None) -> slice:
  """The rows ``[start, stop)`` of a global batch of ``num_rows`` that one process feeds.

  Raises ValueError unless ``num_rows`` divides evenly, so every process feeds as many rows.
  """
  index = jax.process_index() if process_index is None else process_index
  count = jax.process_count() if process_count is None else process_count
  if num_rows % count:
    raise ValueError(f'a batch of {num_rows} rows does not split evenly over {count} '
                     'processes; change the batch (or image) size')
  rows = num_rows // count
  return slice(index * rows, (index + 1) * rows)


def put_batch(batch: Any, mesh: Mesh, *, process_local: bool = False) -> Any:
  """Host batch -> global ``jax.Array`` leaves split along axis 0 over the ``'data'`` axis.

  Args:
    batch: pytree of arrays with a common leading (example) axis.
    mesh: from ``make_mesh``.
    process_local: False: the leaves are the global batch (the same on every process).
      True: they are this process's rows only (``batch[process_slice(n)]``); the global batch
      is their concatenation over processes in process order.

  Leaves that already are global arrays with this sharding pass through unchanged. Raises
  ValueError when the leading axis does not split evenly over the devices.
  """
  sharding = batch_sharding(mesh)
  num_devices = mesh.shape[DATA_AXIS]

  def put_leaf(leaf: Any) -> jax.Array:
    if isinstance(leaf, jax.Array) and _placed(leaf, sharding):
      return leaf
    rows = np.shape(leaf)[0] * (jax.process_count() if process_local else 1)
    if rows % num_devices:
      raise ValueError(f'a batch of {rows} examples does not split evenly over {num_devices} '
                       'devices; change the batch (or image) size')
    if process_local:
      return jax.make_array_from_process_local_data(sharding, np.asarray(leaf))
    return put(leaf, sharding)

  return jax.tree.map(put_leaf, batch)


def to_host(tree: Any) -> Any:
  """A pytree of (possibly sharded, multi-host) arrays -> the same tree of whole numpy arrays.

  Collective when some leaf spans other processes' devices: every process must call it.
  """
  leaves = jax.tree.leaves(tree)
  if all(not isinstance(x, jax.Array) or x.is_fully_addressable or x.is_fully_replicated
         for x in leaves):
    return jax.device_get(tree)
  return multihost_utils.process_allgather(tree, tiled=True)
