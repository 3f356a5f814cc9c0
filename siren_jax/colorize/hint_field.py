"""The SIREN version of hint colourisation: a coordinate field ab = phi(y, x) over the photo,
fitted to Levin et al.'s problem (``levin.make_network_loss``), rendered at any size.

The loss, by default, is the gradient-domain form of Levin's problem: E(U) = sum over pixels r
and their 8 neighbours s of w_rs (U_r - U_s)^2 with Levin's weights w_rs, U = the hints at hinted
pixels and phi elsewhere, plus a term pulling phi to the hints where they are. Its minimiser is
``levin.solve(..., form='gradient')``, so the field and that direct solve solve one problem and
are compared pixel for pixel (tests/hint_field_test.py). Levin's own energy (``form='levin'``,
whose minimiser is getColorExact.m's solution) is available too, but gradient descent on it is
slow: it penalises second differences only, so on the way a field lets colours ramp across
uniform regions and bleed over edges (docs/colorization.md has the numbers).

The field is fitted on the photo's pixel grid (or a downscaled copy: ``fit`` takes any
lightness) with every pixel in every step, and renders at any size through
``siren_jax.render`` (bounded device memory): ``colourise`` gives the chroma at the fitting size
or any other, with the hints written in exactly where they are known.
"""

from __future__ import annotations

import dataclasses
import time
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax

from siren_jax import grids, models, render, training
from siren_jax.colorize import hints as hints_lib
from siren_jax.colorize import levin
from siren_jax.models import fields

# A small SIREN: chroma is smooth except at lightness edges. Width 32 with 2 hidden layers was
# as close to the direct solve at 256x256 as width 64 (docs/colorization.md), at half the cost;
# a first-layer omega0 of 10 (not 30) starts from a smoother field.
DEFAULT_MODEL = {'name': 'siren', 'hidden_features': 32, 'hidden_layers': 2,
                 'first_omega0': 10.0, 'hidden_omega0': 30.0, 'zero_bias': False}


@dataclasses.dataclass(frozen=True)
class FieldFit:
  """A fitted chroma field: ``apply_fn(params, coords (N, 2)) -> ab / 128 (N, 2)`` on the
  ``grids`` convention over the whole photo; ``spec`` the model (``fields.field_spec``);
  ``history`` the loss records; ``seconds`` the fitting wall time (compilation included)."""
  apply_fn: Any
  params: Any
  spec: dict[str, Any]
  history: list[dict[str, Any]]
  seconds: float


def model_spec(height: int, width: int, **model: Any) -> dict[str, Any]:
  """The field's spec: ``DEFAULT_MODEL`` updated by ``model`` (two outputs, a and b)."""
  settings = {**DEFAULT_MODEL, **model}
  return fields.field_spec(settings.pop('name'), out_features=2, image_side=max(height, width),
                           **settings)


def fit(lightness: np.ndarray, hints: hints_lib.Hints, *, steps: int = 100,
        learning_rate: float = 1e-3, seed: int = 0, smoothness_weight: float = 1.0,
        steps_per_call: int = 25, model: dict[str, Any] | None = None,
        form: str = 'gradient') -> FieldFit:
  """Fits a field to Levin's problem (of ``form``, ``levin.FORMS``) on the lightness's pixel
  grid.

  Args:
    lightness: (H, W, 1) = L / 50 - 1. hints: for an H x W photo, at least one.
    steps: Adam steps, every pixel in every step (a multiple of ``steps_per_call``).
    learning_rate: Adam's (constant) learning rate.
    seed: initialisation.
    smoothness_weight: lambda of ``levin.make_network_loss``.
    steps_per_call: optimiser steps per jitted call (``training.make_train_step``).
    model: overrides of ``DEFAULT_MODEL`` (fields.make_field_model's arguments).
    form: the problem's form: 'gradient' (default) or 'levin' (``levin.make_network_loss``).
  Returns:
    the ``FieldFit``.
  """
  if steps < 1 or steps % steps_per_call:
    raise ValueError(f'steps={steps} must be a positive multiple of steps_per_call='
                     f'{steps_per_call}')
  height, width = np.shape(lightness)[:2]
  spec = model_spec(height, width, **(model or {}))
  network = fields.make_field_model(**spec)
  batch = {k: jnp.asarray(v) for k, v in levin.network_batch(lightness, hints, form).items()}
  batch['coords'] = grids.make_grid(height, width).reshape(-1, 2)
  state = training.TrainState.create(
      apply_fn=models.apply_fn(network),
      params=fields.init_params(network, jax.random.PRNGKey(seed)),
      tx=optax.adam(learning_rate))
  step = training.make_train_step(
      levin.make_network_loss(height, width, smoothness_weight, form),
      steps_per_call=steps_per_call)
  history: list[dict[str, Any]] = []
  start = time.perf_counter()
  result = training.train_loop(
      state, step, lambda _: batch, num_steps=steps, log_every=steps,
      log_fn=lambda s, metrics: history.append({'step': s, **metrics}))
  return FieldFit(result.state.apply_fn, result.params, spec, history,
                  time.perf_counter() - start)


def colourise(field: FieldFit, height: int, width: int,
              hints: hints_lib.Hints | None = None, *,
              max_chunk_points: int = 65536) -> np.ndarray:
  """The field's chroma on a height x width pixel grid over the whole photo, (H, W, 2) float32
  ab / 128, rendered in blocks of ``max_chunk_points`` (``render.render``: bounded device
  memory); ``hints`` (for an H x W photo) are then written in where they are."""
  ab = render.render(field.apply_fn, field.params, height, width,
                     max_chunk_points=max_chunk_points, max_pixels=None).astype(np.float32)
  if hints is not None:
    if (hints.height, hints.width) != (height, width):
      raise ValueError(f'hints are for a {hints.width}x{hints.height} photo, the render is '
                       f'{width}x{height}')
    ab[hints.rows, hints.cols] = hints.ab
  return ab
