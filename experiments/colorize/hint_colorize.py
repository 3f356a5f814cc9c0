"""Colourising a photo from colour hints, without a trained model (experiments.colorize_photo
--hints=PATH): Levin et al.'s direct solve (by tiles for large photos) or a SIREN fitted to the
same problem (at a reduced size for large photos, rendered at the photo's size), per
``config.hints`` (experiments/configs/colorize.py)."""

from __future__ import annotations

import math
import time
from typing import Any

import ml_collections
import numpy as np
from absl import logging

from siren_jax import images, names
from siren_jax.colorize import colour, hint_field, levin, photo_colorize
from siren_jax.colorize import hints as hints_lib

# A photo whose chroma has an RMS above this (ab units) is a colour photo, not a grey one saved
# as RGB (JPEG noise in a grey photo stays well below it).
COLOUR_RMS_AB = 1.0
STEPS_PER_CALL = 25


def check_config(hints_config: ml_collections.ConfigDict) -> None:
  """One-line errors naming the bad ``config.hints`` field."""
  if hints_config.method not in names.HINT_METHODS:
    raise ValueError(f'config.hints.method must be one of {", ".join(names.HINT_METHODS)}, got '
                     f'{hints_config.method!r}')
  for name in ('tile', 'coarse_side', 'fit_side', 'steps'):
    value = hints_config[name]
    if isinstance(value, bool) or not isinstance(value, int) or value < 2:
      raise ValueError(f'config.hints.{name} must be an integer >= 2, got {value!r}')
  if not 0 <= hints_config.overlap <= hints_config.tile // 2:
    raise ValueError(f'config.hints.overlap must be in [0, tile / 2] = '
                     f'[0, {hints_config.tile // 2}], got {hints_config.overlap!r}')
  if hints_config.form not in levin.FORMS:
    raise ValueError(f'config.hints.form must be one of {", ".join(levin.FORMS)}, got '
                     f'{hints_config.form!r}')
  for name in ('learning_rate', 'smoothness_weight'):
    if not hints_config[name] > 0:
      raise ValueError(f'config.hints.{name} must be positive, got {hints_config[name]!r}')
  hint_field.model_spec(8, 8, **hints_config.model.to_dict())  # Validates the model fields.


def read_lightness(path: str) -> np.ndarray:
  """The photo's lightness (H, W, 1) = L / 50 - 1. A colour photo is reduced to its lightness
  with a warning (its colours are not used)."""
  image = images.read_image(path)  # (H, W, 1 or 3) in [0, 1].
  rgb = np.repeat(image, 3, axis=-1) if image.shape[-1] == 1 else image
  lightness, ab = colour.rgb_to_scaled_lab(rgb, rgb_range='unit')
  chroma_rms = float(np.sqrt(np.mean(np.square(ab)))) * colour.AB_SCALE
  if chroma_rms > COLOUR_RMS_AB:
    logging.warning('%s is a colour photo (chroma RMS %.1f ab units): colourising its '
                    'lightness only; its own colours are ignored.', path, chroma_rms)
  return lightness.astype(np.float32)


def fit_field(hints_config: ml_collections.ConfigDict, lightness: np.ndarray,
              hints: hints_lib.Hints) -> hint_field.FieldFit:
  """The SIREN of ``config.hints`` fitted to Levin's problem (of ``config.hints.form``) on this
  lightness's grid."""
  return hint_field.fit(
      lightness, hints, steps=hints_config.steps, learning_rate=hints_config.learning_rate,
      seed=hints_config.seed, smoothness_weight=hints_config.smoothness_weight,
      steps_per_call=math.gcd(hints_config.steps, STEPS_PER_CALL),
      model=hints_config.model.to_dict(), form=hints_config.form)


def colorize_ab(hints_config: ml_collections.ConfigDict, lightness: np.ndarray,
                hints: hints_lib.Hints) -> tuple[np.ndarray, dict[str, Any]]:
  """Chroma (H, W, 2) ab / 128 of a photo from its lightness (H, W, 1) and hints, by
  ``hints_config.method``; and a summary (method, seconds, sizes)."""
  height, width = lightness.shape[:2]
  start = time.perf_counter()
  info: dict[str, Any] = {'method': hints_config.method, 'size': [height, width],
                          'hinted_pixels': len(hints)}
  if hints_config.method == 'levin':
    ab = levin.solve_tiled(lightness, hints, tile=hints_config.tile,
                           overlap=hints_config.overlap, coarse_side=hints_config.coarse_side)
    info['tiled'] = height * width > hints_config.tile ** 2
  else:
    fit_shape = photo_colorize.model_scale_size(height, width, hints_config.fit_side)
    small = images.resize(lightness, fit_shape)
    field = fit_field(hints_config, small, hints_lib.rescale(hints, *fit_shape))
    ab = hint_field.colourise(field, height, width, hints)
    info.update({'fit_size': list(fit_shape), 'fit_seconds': field.seconds,
                 'final_loss': float(field.history[-1]['loss'])})
  info['seconds'] = time.perf_counter() - start
  return ab, info


def colorize_file(config: ml_collections.ConfigDict, input_path: str, hints_path: str,
                  output_path: str) -> np.ndarray:
  """Reads the grey photo and its hints, colourises it, writes an RGB PNG of the photo's size
  (nothing is written when an input is bad). Returns RGB (H, W, 3) in [-1, 1]."""
  check_config(config.hints)
  lightness = read_lightness(input_path)
  height, width = lightness.shape[:2]
  hints = hints_lib.load(hints_path, height, width)
  ab, info = colorize_ab(config.hints, lightness, hints)
  rgb = colour.scaled_lab_to_rgb(lightness, ab)
  images.save_png(output_path, rgb)
  logging.info('Colourised %s (%dx%d) from %d hinted pixels of %s by %s in %.1f s -> %s',
               input_path, width, height, len(hints), hints_path, info['method'],
               info['seconds'], output_path)
  return rgb
