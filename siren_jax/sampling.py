"""Random pixel minibatches for field fits, as a pure function of (seed, step).

A fit of a large image cannot evaluate the network on every pixel at every step (memory and
time grow with the pixels). Instead each step draws ``batch_size`` rows of the full training
batch (every leaf has the pixels along axis 0: coordinates, values, gradient or Laplacian
targets, or a tiled fit's (n, T, C) values) and gathers them **on the device** from arrays put
there once, so no pixel data crosses from the host per step.

The rows of step ``s`` depend only on (seed, s), so a run killed and resumed from a checkpoint
sees exactly the batches of an uninterrupted run and ends bit-identical:
  * ``replace=True``: i.i.d. uniform rows, ``jax.random.randint(fold_in(key, s))``;
  * ``replace=False`` (default): epochs of ``ceil(P / batch_size)`` steps; epoch e visits the
    pixels in the order of a pseudo-random permutation of [0, P) keyed by (seed, e), so every
    pixel is seen once per epoch (the last step of an epoch tops up with the epoch's first
    rows). The permutation is a 4-round Feistel network on the next power of four >= P with
    cycle walking (each position maps to its index in O(1), jit-able), so no P-long shuffle is
    stored or recomputed per step.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

Array = jax.Array
Batch = Any

# Separates the sampling stream from model initialisation, which uses PRNGKey(seed) itself.
_SAMPLING_STREAM = 0x5A3D
_FEISTEL_ROUNDS = 4
# Full batch up to this many pixels (512x512); above it, minibatches of DEFAULT_BATCH_PIXELS.
FULL_BATCH_MAX_PIXELS = 512 * 512
DEFAULT_BATCH_PIXELS = 65536
# A tiled fit's auto minibatch draws at least this many pixels of every tile per step. Measured
# on a 2048^2 natural-photo canvas with 64-pixel tiles (bench/large_image.py, docs/large_images.md):
# ~53 pixels per tile per step stalls near 27 dB, ~214 reaches 30 dB in 400 steps.
MIN_TILE_PIXELS_PER_STEP = 256


def default_batch_pixels(num_pixels: int, num_tiles: int = 0) -> int:
  """Pixels per step for an image of ``num_pixels`` when ``batch_pixels`` is auto (-1): 0 (the
  full image, the paper's setting) up to ``FULL_BATCH_MAX_PIXELS``, else
  ``DEFAULT_BATCH_PIXELS``, where a width-256 SIREN step costs ~1 s on 2 CPU cores and its
  activations ~0.5 GB; a fit in ``num_tiles`` tiles gets at least
  ``MIN_TILE_PIXELS_PER_STEP`` pixels of each tile."""
  if num_pixels <= FULL_BATCH_MAX_PIXELS:
    return 0
  return max(DEFAULT_BATCH_PIXELS, MIN_TILE_PIXELS_PER_STEP * num_tiles)


def resolve_batch_pixels(batch_pixels: int, num_pixels: int, num_tiles: int = 0) -> int:
  """``batch_pixels`` (-1 auto, 0 full, N) -> pixels per step (summed over ``num_tiles`` tiles,
  if any), 0 meaning the full batch."""
  if batch_pixels < -1:
    raise ValueError(f'batch_pixels must be -1 (auto), 0 (full batch) or positive, got '
                     f'{batch_pixels}')
  if batch_pixels == -1:
    batch_pixels = default_batch_pixels(num_pixels, num_tiles)
  return 0 if batch_pixels >= num_pixels else batch_pixels


def steps_per_epoch(num_points: int, batch_size: int) -> int:
  """Steps that visit every one of ``num_points`` rows once without replacement."""
  return math.ceil(num_points / batch_size)


def _mix32(x: Array) -> Array:
  """A 32-bit integer hash (lowbias32 by C. Wellons): uint32 -> uint32, well mixed."""
  x = x ^ (x >> 16)
  x = x * jnp.uint32(0x7FEB352D)
  x = x ^ (x >> 15)
  x = x * jnp.uint32(0x846CA68B)
  return x ^ (x >> 16)


def _feistel(x: Array, round_keys: Array, half_bits: int) -> Array:
  """A bijection of [0, 4**half_bits) (uint32 in, uint32 out)."""
  mask = jnp.uint32((1 << half_bits) - 1)
  left, right = x >> half_bits, x & mask
  for i in range(_FEISTEL_ROUNDS):
    left, right = right, left ^ (_mix32(right ^ round_keys[i]) & mask)
  return (left << half_bits) | right


def permute(positions: Array, key: Array, num_points: int) -> Array:
  """The permutation of [0, num_points) keyed by ``key``, at ``positions`` (int, any shape).

  Cycle walking: a Feistel bijection of the enclosing power-of-four domain is applied again
  to any value that falls outside [0, num_points), which restricts it to a bijection of
  [0, num_points); the domain is < 4 * num_points, so few repeats are needed.
  """
  if num_points < 1:
    raise ValueError(f'num_points must be >= 1, got {num_points}')
  half_bits = max(1, math.ceil(math.log2(num_points) / 2)) if num_points > 1 else 1
  if 2 * half_bits > 32:
    raise ValueError(f'num_points={num_points} exceeds 2**32')
  round_keys = jax.random.bits(key, (_FEISTEL_ROUNDS,), jnp.uint32)
  limit = jnp.uint32(num_points)
  x = _feistel(positions.astype(jnp.uint32), round_keys, half_bits)
  x = jax.lax.while_loop(lambda v: jnp.any(v >= limit),
                         lambda v: jnp.where(v >= limit, _feistel(v, round_keys, half_bits), v),
                         x)
  return x.astype(jnp.int32)


@functools.partial(jax.jit, static_argnames=('num_points', 'batch_size', 'replace'))
def sample_indices(seed: int | Array, step: int | Array, *, num_points: int, batch_size: int,
                   replace: bool = False) -> Array:
  """Rows (batch_size,) int32 in [0, num_points) drawn at ``step`` (a pure function of
  (seed, step)); without replacement every row appears once in each window of
  ``steps_per_epoch(num_points, batch_size)`` steps starting at a multiple of it."""
  key = jax.random.fold_in(jax.random.PRNGKey(seed), _SAMPLING_STREAM)
  step = jnp.asarray(step, jnp.int32)
  if replace:
    return jax.random.randint(jax.random.fold_in(key, step), (batch_size,), 0, num_points,
                              jnp.int32)
  per_epoch = steps_per_epoch(num_points, batch_size)
  epoch, offset = step // per_epoch, step % per_epoch
  positions = (offset * batch_size + jnp.arange(batch_size, dtype=jnp.int32)) % num_points
  return permute(positions, jax.random.fold_in(key, epoch), num_points)


@functools.partial(jax.jit, static_argnames=('num_points', 'batch_size', 'replace'))
def _gather(resident: Batch, seed: Array, step: Array, *, num_points: int, batch_size: int,
            replace: bool) -> Batch:
  rows = sample_indices(seed, step, num_points=num_points, batch_size=batch_size,
                        replace=replace)
  return jax.tree.map(lambda x: jnp.take(x, rows, axis=0), resident)


def minibatch_fn(full_batch: Batch, batch_size: int, *, seed: int = 0,
                 replace: bool = False) -> Callable[[int], Batch]:
  """step -> a minibatch of ``batch_size`` rows of ``full_batch`` (leaves with a common
  leading axis), gathered on the device.

  The full batch is put on the default device once here; each call dispatches one jitted
  gather (its rows from ``sample_indices``), so the step reads device arrays only and the host
  never touches pixel data. The training step then splits the minibatch over its mesh like any
  batch.
  """
  leaves = jax.tree.leaves(full_batch)
  if not leaves:
    raise ValueError('full_batch has no arrays')
  num_points = int(np.shape(leaves[0])[0])
  if any(int(np.shape(x)[0]) != num_points for x in leaves):
    raise ValueError('every leaf of full_batch must have the same leading (pixel) axis')
  if not 0 < batch_size <= num_points:
    raise ValueError(f'batch_size must be in [1, {num_points}], got {batch_size}')
  resident = jax.device_put(full_batch)
  seed_array = jnp.asarray(seed, jnp.int32)
  return lambda step: _gather(resident, seed_array, jnp.asarray(step, jnp.int32),
                              num_points=num_points, batch_size=batch_size, replace=replace)


def holdout_split(num_points: int, fraction: float, seed: int = 0
                  ) -> tuple[np.ndarray, np.ndarray]:
  """Rows [0, num_points) split at random (a pure function of ``seed``) into (kept, held out),
  each sorted; round(fraction * num_points) rows held out, at least one, and at least one kept.
  For choosing a fit's step count on pixels it does not train on (early stopping)."""
  if not 0.0 < fraction < 1.0:
    raise ValueError(f'the held-out fraction must be in (0, 1), got {fraction}')
  if num_points < 2:
    raise ValueError(f'holding rows out needs at least 2 rows, got {num_points}')
  held = min(max(1, round(fraction * num_points)), num_points - 1)
  order = np.random.default_rng([_SAMPLING_STREAM, seed]).permutation(num_points)
  return np.sort(order[held:]), np.sort(order[:held])
