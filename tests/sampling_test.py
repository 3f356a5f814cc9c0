"""siren_jax.sampling at its boundaries and against independent references: the batch-size
limits, the auto batch size, the permutation being a bijection for any size, and the hash
against lowbias32 written from its published description."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from siren_jax import sampling


def test_minibatch_fn_accepts_one_row_up_to_all_rows_and_nothing_else():
  batch = {'values': np.arange(5, dtype=np.float32)[:, None]}
  everything = sampling.minibatch_fn(batch, 5, seed=0)
  for step in range(3):  # All 5 rows per step: each step is a permutation of them.
    np.testing.assert_array_equal(np.sort(np.asarray(everything(step)['values'][:, 0])),
                                  np.arange(5))
  one = sampling.minibatch_fn(batch, 1, seed=0)
  seen = {float(one(step)['values'][0, 0]) for step in range(5)}
  assert seen == {0.0, 1.0, 2.0, 3.0, 4.0}  # One epoch of batch size 1 visits every row.
  for bad in (0, 6):
    with pytest.raises(ValueError, match=r'batch_size must be in \[1, 5\]'):
      sampling.minibatch_fn(batch, bad)


def test_auto_batch_pixels_switches_above_512_squared():
  full = 512 * 512
  assert sampling.default_batch_pixels(full) == 0
  assert sampling.default_batch_pixels(full + 1) == 65536
  assert sampling.resolve_batch_pixels(-1, full) == 0
  assert sampling.resolve_batch_pixels(-1, full + 1) == 65536
  # An explicit size: full batch once it covers the image, else as given.
  assert sampling.resolve_batch_pixels(100, 100) == 0
  assert sampling.resolve_batch_pixels(99, 100) == 99
  assert sampling.resolve_batch_pixels(0, 100) == 0
  with pytest.raises(ValueError, match='batch_pixels must be'):
    sampling.resolve_batch_pixels(-2, 100)


@pytest.mark.parametrize('num_points, batch_size, expected', [
    (37, 5, 8), (40, 5, 8), (4096, 4096, 1), (10, 3, 4), (1, 1, 1)])
def test_steps_per_epoch_is_the_ceiling(num_points, batch_size, expected):
  assert sampling.steps_per_epoch(num_points, batch_size) == expected


@pytest.mark.parametrize('num_points', [1, 2, 3, 4, 5, 16, 17, 100, 1000, 4097])
def test_permute_is_a_bijection_of_any_size(num_points):
  for seed in (0, 1):
    out = np.asarray(sampling.permute(jnp.arange(num_points), jax.random.PRNGKey(seed),
                                      num_points))
    np.testing.assert_array_equal(np.sort(out), np.arange(num_points))


def _lowbias32(x: int) -> int:
  """lowbias32 (C. Wellons, hash-prospector): x ^= x >> 16; x *= 0x7feb352d; x ^= x >> 15;
  x *= 0x846ca68b; x ^= x >> 16, in 32-bit unsigned arithmetic."""
  x ^= x >> 16
  x = (x * 0x7FEB352D) & 0xFFFFFFFF
  x ^= x >> 15
  x = (x * 0x846CA68B) & 0xFFFFFFFF
  return x ^ (x >> 16)


def test_mix32_is_lowbias32():
  xs = [0, 1, 2, 0xFFFFFFFF, 0x80000000, 12345, 0xDEADBEEF] + list(
      np.random.default_rng(0).integers(0, 2**32, 50, dtype=np.uint64))
  got = np.asarray(sampling._mix32(jnp.asarray(np.array(xs, np.uint32))))
  assert [int(g) for g in got] == [_lowbias32(int(x)) for x in xs]


@pytest.mark.parametrize('num_points,fraction,held', [(100, 0.1, 10), (7, 0.01, 1), (3, 0.99, 2)])
def test_holdout_split_partitions_the_rows_reproducibly(num_points, fraction, held):
  kept, out = sampling.holdout_split(num_points, fraction, seed=3)
  assert len(out) == held and len(kept) == num_points - held
  np.testing.assert_array_equal(np.sort(np.concatenate([kept, out])), np.arange(num_points))
  again = sampling.holdout_split(num_points, fraction, seed=3)
  np.testing.assert_array_equal(again[1], out)
  assert list(out) == sorted(out) and list(kept) == sorted(kept)


def test_holdout_split_depends_on_the_seed_and_rejects_bad_fractions():
  assert not np.array_equal(sampling.holdout_split(1000, 0.1, 0)[1],
                            sampling.holdout_split(1000, 0.1, 1)[1])
  for fraction in (0.0, 1.0, -0.1):
    with pytest.raises(ValueError, match='held-out fraction must be in'):
      sampling.holdout_split(10, fraction)
  with pytest.raises(ValueError, match='at least 2 rows'):
    sampling.holdout_split(1, 0.5)
