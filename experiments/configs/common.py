"""What every experiment config shares: one variant grammar, scale overrides, and the defaults
of the field-model fields. Imports only ml_collections (and the import-free siren_jax.names),
so reading a config never imports jax.

Variant grammar, for every config file: ``--config=experiments/configs/NAME.py:ARGS`` where ARGS
is a comma-separated list of
  * at most one MODE of that experiment (e.g. ``grad`` for poisson, ``SRS`` for colorize),
  * at most one SCALE: ``paper`` (the paper's or report's sizes, for a GPU/TPU) or ``tiny``
    (seconds, for tests) -- without one, the CPU-sized default,
  * ``key=value`` assignments to config fields, applied last (value: a Python literal, else a
    string), e.g. ``poisson.py:grad,tiny,steps=40``; a field of a sub-config is dotted:
    ``fit_image.py:data.resize=reference``.
"""

from __future__ import annotations

import ast
from collections.abc import Mapping, Sequence
from typing import Any

import ml_collections

from siren_jax import names

SCALES = ('paper', 'tiny')
FIELD_MODELS = names.FIELD_MODELS
PARAM_SHARDINGS = names.PARAM_SHARDINGS
GRIDS = names.GRIDS
RESIZE_METHODS = names.RESIZE_METHODS


def parse_variant(variant: str, *, experiment: str, modes: Sequence[str] = (),
                  default_mode: str = '', scales: Sequence[str] = SCALES
                  ) -> tuple[str, str, dict[str, Any]]:
  """``'MODE,SCALE,key=value,...'`` -> (mode or default_mode, scale or '', {key: value}).

  Raises ValueError naming the bad token and what the experiment accepts.
  """
  mode, scale, assignments = '', '', {}
  for token in (t.strip() for t in (variant or '').split(',')):
    if not token:
      continue
    if '=' in token:
      key, _, text = token.partition('=')
      assignments[key.strip()] = _literal(text.strip())
    elif token in modes and not mode:
      mode = token
    elif token in scales and not scale:
      scale = token
    else:
      accepted = (f'MODE in {", ".join(modes)}, ' if modes else '') + (
          f'SCALE in {", ".join(scales)} and key=value')
      raise ValueError(f'bad {experiment} config variant {variant!r} at {token!r}: give '
                       f'{accepted}, comma-separated')
  return mode or default_mode, scale, assignments


def _literal(text: str) -> Any:
  try:
    return ast.literal_eval(text)
  except (ValueError, SyntaxError):
    return text


def apply_overrides(config: ml_collections.ConfigDict, overrides: Mapping[str, Any],
                    origin: str) -> ml_collections.ConfigDict:
  """Sets each existing field of ``config`` from ``overrides`` (a field of a sub-config by its
  dotted path, 'data.grid'); an unknown field is an error naming ``origin`` (the variant or
  scale it came from)."""
  for key, value in overrides.items():
    *parents, leaf = key.split('.')
    node = config
    for parent in parents:
      node = node.get(parent) if isinstance(node, ml_collections.ConfigDict) else None
    if not isinstance(node, ml_collections.ConfigDict) or leaf not in node:
      raise ValueError(f'{origin}: unknown config field {key!r}')
    node[leaf] = value
  return config


def finish(config: ml_collections.ConfigDict, scale: str,
           scale_overrides: Mapping[str, Mapping[str, Any]],
           assignments: Mapping[str, Any]) -> ml_collections.ConfigDict:
  """Applies the overrides of ``scale`` (from ``scale_overrides``), then the variant's
  ``key=value`` assignments."""
  apply_overrides(config, scale_overrides.get(scale, {}), f'scale {scale!r}')
  return apply_overrides(config, assignments, 'config variant')


def add_field_model_fields(config: ml_collections.ConfigDict) -> None:
  """The model, optimiser and schedule fields every field fit shares (the paper's defaults);
  the config names the model itself (``model``, or ``models`` for fit_image)."""
  config.hidden_features = 256
  config.hidden_layers = 3
  config.first_omega0 = 30.0
  config.hidden_omega0 = 30.0
  config.zero_bias = False
  config.num_frequencies = 0  # ReLU+PE only; 0 = Nyquist rule of the reference for the image.
  config.learning_rate = 1e-4
  config.seed = 0
  config.steps = 500
  config.steps_per_call = 1  # Optimiser steps per jitted call (lax.scan); intervals divide by it.
  config.log_every = 50
  config.eval_every = 25
  config.checkpoint_every = 100
  # Pixels per step: -1 auto (full image up to 512x512, else 65536; siren_jax.sampling), 0 the
  # full image (the paper), N random pixels drawn on the device from (seed, step).
  config.batch_pixels = -1
  config.sample_with_replacement = False  # False: every pixel once per epoch of steps.
  config.target_psnr = 0.0  # > 0: stop at the first evaluation reaching this PSNR (dB).
  # Points per device block when rendering an image of the field (evaluation, outputs).
  config.render_chunk_points = 65536
  # Points per chunk when taking autodiff gradients/Laplacians over a whole image.
  config.derivative_chunk_points = 16384
  # Data parallel over all devices; 'shard_kernels' also splits large kernels (siren_jax.sharding).
  config.param_sharding = 'replicate'
  add_run_fields(config)


def add_data_fields(config: ml_collections.ConfigDict) -> None:
  """``config.data``: how a field experiment prepares its image (the CPU defaults; the
  ``paper`` scales use ``REFERENCE_DATA``)."""
  config.data = ml_collections.ConfigDict()
  # Resizing (siren_jax.images.RESIZE_METHODS): 'bicubic' (scikit-image, Gaussian
  # anti-aliasing) or 'reference' (the SIREN reference code's: PIL bilinear, as torchvision's
  # Resize).
  config.data.resize = 'bicubic'
  # Where pixel centres sit (siren_jax.grids.GRIDS): 'half_pixel' (cells covering [-1, 1]) or
  # 'linspace' (the reference's linspace(-1, 1, N): centres on the borders).
  config.data.grid = 'half_pixel'


def add_run_fields(config: ml_collections.ConfigDict) -> None:
  """What every trained experiment does on a non-finite step and with old checkpoints
  (docs/failures.md)."""
  # 'stop': a non-finite loss or update ends the run with an error, saving nothing bad;
  # 'skip': such steps are dropped (params kept) and counted.
  config.nan_policy = 'stop'
  # False: delete this run's checkpoints in the workdir (logged) and start over.
  config.resume = True


# The SIREN reference code's image preparation, for the paper's figures (docs/reproduction.md).
REFERENCE_DATA = {'data.resize': 'reference', 'data.grid': 'linspace'}
# Scale overrides shared by the field experiments (an experiment may add to them).
FIELD_PAPER = {'hidden_features': 256, 'steps': 10_000, 'eval_every': 100, 'log_every': 500,
               'checkpoint_every': 1000, 'steps_per_call': 10}
FIELD_TINY = {'hidden_features': 32, 'hidden_layers': 2, 'steps': 20, 'eval_every': 10,
              'log_every': 10, 'checkpoint_every': 10}
