"""siren_jax.models.apply_fn: a Flax model as a field ``(params, inputs) -> outputs``, one
function per model (by value), so jitted code that takes it as a static argument compiles once."""

import functools

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from siren_jax import models


def test_apply_fn_applies_the_models_params_collection():
  # Dense(2) with the kernel and bias written out: x W + b by hand for x = (1, -2, 0.5):
  # (1*1 - 2*0 + 0.5*2, 1*-1 - 2*3 + 0.5*0) + (0.5, -1) = (2.5, -8.0).
  params = {'kernel': jnp.array([[1.0, -1.0], [0.0, 3.0], [2.0, 0.0]]),
            'bias': jnp.array([0.5, -1.0])}
  out = models.apply_fn(nn.Dense(2))(params, jnp.array([[1.0, -2.0, 0.5]]))
  np.testing.assert_allclose(out, [[2.5, -8.0]])


def test_equal_models_share_one_function_and_one_compilation():
  assert models.apply_fn(nn.Dense(2)) is models.apply_fn(nn.Dense(2))  # Equal by value.
  assert models.apply_fn(nn.Dense(2)) is not models.apply_fn(nn.Dense(3))
  traces = []

  @functools.partial(jax.jit, static_argnums=0)
  def evaluate(fn, params, x):
    traces.append(1)  # Runs only while tracing.
    return fn(params, x)

  params = nn.Dense(2).init(jax.random.PRNGKey(0), jnp.zeros((1, 3)))['params']
  for _ in range(3):  # A new, equal model each time, as each caller builds its own.
    evaluate(models.apply_fn(nn.Dense(2)), params, jnp.ones((4, 3)))
  assert len(traces) == 1
