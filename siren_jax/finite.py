"""Whether a pytree of arrays holds only finite numbers (the divergence guard's one test)."""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp


def all_finite(tree: Any) -> jax.Array:
  """A bool scalar: every floating-point leaf of ``tree`` is free of NaN and +-inf (integer
  leaves, e.g. step counters, are ignored). Jit-able; works on sharded and host arrays."""
  checks = [jnp.isfinite(leaf).all() for leaf in jax.tree.leaves(tree)
            if jnp.issubdtype(jnp.result_type(leaf), jnp.inexact)]
  return jnp.stack(checks).all() if checks else jnp.asarray(True)
