"""Colourising one photo of any size with a trained colouriser (experiments.colorize_photo)."""

from __future__ import annotations

import ml_collections
import numpy as np
from absl import logging

from experiments import colorize_lib, driver
from siren_jax import checkpoints as ckpt
from siren_jax import colour, images
from siren_jax.models import colorizers


def load_params(config: ml_collections.ConfigDict, workdir: str):
  """The trained parameters in ``workdir``, checked against the config's architecture."""
  colorize_lib.check_config(config)
  colorize_lib.check_workdir_model(workdir, config)
  template = colorize_lib.make_state(config)
  directory = driver.checkpoint_dir(workdir, config.model)
  manager = ckpt.make_manager(directory)
  try:
    restored = ckpt.restore_latest(manager, template)
  finally:
    manager.close()
  if restored is None:
    raise FileNotFoundError(f'no checkpoint in {directory!r}')
  state, _ = restored
  return state


def colorize(config: ml_collections.ConfigDict, state, grey: np.ndarray) -> np.ndarray:
  """grey (H, W, 1) = L / 50 - 1 of any size -> RGB (H, W, 3) in [-1, 1]."""
  predict = colorize_lib.make_predict_rgb(config, state.apply_fn)
  h, w = grey.shape[:2]
  if config.model == 'FC':
    pieces, layout = colorizers.tile(grey, config.image_size, config.image_size)
    return colorizers.untile(np.asarray(predict(state.params, pieces)[1]), layout)
  multiple = colorizers.DOWNSAMPLING
  pad = ((0, -h % multiple), (0, -w % multiple), (0, 0))
  padded = np.pad(grey, pad, mode='reflect' if min(h, w) > 1 else 'edge')
  return np.asarray(predict(state.params, padded[None])[1][0])[:h, :w]


def colorize_file(config: ml_collections.ConfigDict, workdir: str, input_path: str,
                  output_path: str) -> np.ndarray:
  """Reads ``input_path``, colourises it with the model in ``workdir``, writes a PNG."""
  state = load_params(config, workdir)
  image = images.read_image(input_path)  # (H, W, 1 or 3) in [0, 1].
  rgb_unit = np.repeat(image, 3, axis=-1) if image.shape[-1] == 1 else image
  grey, _ = colour.rgb_to_scaled_lab(rgb_unit, rgb_range='unit')
  rgb = colorize(config, state, grey.astype(np.float32))
  images.save_png(output_path, rgb)
  logging.info('Colourised %s (%dx%d) with %s -> %s', input_path, image.shape[0],
               image.shape[1], config.model, output_path)
  return rgb
