"""siren_jax.finite.all_finite: NaN and +-inf in any floating-point leaf, integers ignored."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from siren_jax import finite


def _tree(leaf):
  """A nested tree of finite leaves with ``leaf`` deep inside."""
  return {'params': {'kernel': jnp.ones((3, 2)), 'bias': [np.zeros(2, np.float32), leaf]},
          'step': jnp.asarray(7, jnp.int32)}


@pytest.mark.parametrize('check', [finite.all_finite, jax.jit(finite.all_finite)])
@pytest.mark.parametrize('leaf, expected', [
    (jnp.array([1.0, -2.0]), True),
    (jnp.array([1.0, jnp.nan]), False),
    (jnp.array([jnp.inf]), False),
    (np.array([-np.inf, 0.0]), False),  # A host array.
    (jnp.array([65504.0], jnp.float16), True),  # float16's largest finite value.
    (jnp.array([np.inf], jnp.float16), False),
    (float('nan'), False),  # A Python scalar leaf.
    (jnp.array([2**31 - 1], jnp.int32), True),  # Integers cannot be NaN: ignored.
])
def test_one_bad_leaf_anywhere_makes_the_tree_non_finite(check, leaf, expected):
  result = check(_tree(leaf))
  assert result.shape == () and result.dtype == jnp.bool_
  assert bool(result) is expected


def test_trees_without_floating_point_leaves_are_finite():
  assert bool(finite.all_finite({}))
  assert bool(finite.all_finite({'step': jnp.asarray(3), 'count': np.arange(4)}))
