"""Task models, swapped by name, and the one way to apply a Flax model as a field."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import flax.linen as nn
import jax


@functools.lru_cache(maxsize=None)
def apply_fn(model: nn.Module) -> Callable[[Any, Any], jax.Array]:
  """``(params, inputs) -> outputs`` of a Flax model, the params being its ``'params'``
  collection. Cached per (hashable, by value) model, so every caller gets the same function and
  jitted code that takes it as a static argument (``render.render``) compiles once per model."""
  return functools.partial(_apply, model)


def _apply(model: nn.Module, params: Any, inputs: Any) -> Any:
  return model.apply({'params': params}, inputs)
