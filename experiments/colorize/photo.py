"""Colourising one photo of any size with a trained colouriser (experiments.colorize_photo)."""

from __future__ import annotations


import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
from absl import logging

from experiments import driver
from experiments.colorize import train as colorize_train
from siren_jax import checkpoints as ckpt
from siren_jax import data, images
from siren_jax import tiling as siren_tiling
from siren_jax.colorize import colorizers, colour, photo_colorize


def load_params(config: ml_collections.ConfigDict, workdir: str):
  """The trained parameters in ``workdir``, checked against the config's architecture."""
  colorize_train.check_config(config)
  colorize_train.check_workdir_model(workdir, config)
  template = colorize_train.make_state(config)
  directory = driver.checkpoint_dir(workdir, config.model.name)
  manager = ckpt.make_manager(directory)
  try:
    restored = ckpt.restore_latest(manager, template)
  finally:
    manager.close()
  if restored is None:
    raise FileNotFoundError(f'no checkpoint in {directory!r}')
  state, _ = restored
  return state


def tiling(config: ml_collections.ConfigDict) -> tuple[int, int, int]:
  """(tile, overlap, margin) at the model's scale: config.photo_tile / photo_overlap /
  photo_margin, or by default: conv, twice the training crop with half overlap (the stride
  between tiles stays a multiple of 8) and a zero-weight margin of a quarter of the overlap
  (where zero padding spoils the output); FC, its fixed input with half overlap, no margin."""
  fc = config.model.name == 'FC'
  tile = config.image_size if fc else (config.photo_tile or 2 * config.image_size)
  overlap = config.photo_overlap if config.photo_overlap >= 0 else tile // 2
  margin = config.photo_margin if config.photo_margin >= 0 else (0 if fc else overlap // 4)
  siren_tiling.check_tiles(tile, overlap, margin, 1 if fc else colorizers.DOWNSAMPLING)
  return tile, overlap, margin


def model_short_side(config: ml_collections.ConfigDict) -> int:
  """The short side the training photos had: the scale at which chroma is predicted."""
  return data.photo_short_side(config.dataset, config.image_size, config.photo_side)


def make_predict_ab(config: ml_collections.ConfigDict, apply_fn):
  """A jitted (params, grey (B, t, t, 1)) -> ab / 128 (B, t, t, 2): the conv model's output,
  or the chroma of the FC model's RGB (its lightness is replaced by the input's). A model with
  hint inputs also takes (B, t, t, 4): grey, then the hint channels (``hints.to_channels``)."""

  def predict(params, pieces):
    grey, hints = pieces[..., :1], (pieces[..., 1:] if pieces.shape[-1] > 1 else None)
    output = apply_fn(params, colorize_train.model_inputs(config, grey, hints=hints))
    if config.model.name == 'FC':
      return colour.rgb_to_scaled_lab(jnp.clip(output, -1.0, 1.0))[1]
    return output

  return jax.jit(predict)


def colorize(config: ml_collections.ConfigDict, state, grey: np.ndarray, *,
             offset: tuple[int, int] = (0, 0), predict_ab=None, hints=None) -> np.ndarray:
  """grey (H, W, 1) = L / 50 - 1 of any size -> RGB (H, W, 3) in [-1, 1] at the input's size:
  chroma predicted in blended tiles at the training scale, upsampled, recombined with the
  full-resolution L (``siren_jax.colorize.photo_colorize``). ``offset`` shifts the tile grid;
  ``predict_ab``: a ``make_predict_ab`` result to reuse (saves a compile); ``hints``
  (``siren_jax.colorize.hints.Hints`` on the photo's grid): for a model with hint inputs."""
  if hints is not None and not config.model.hint_inputs:
    raise ValueError('hints given to a model without hint inputs (config.model.hint_inputs)')
  predict_ab = predict_ab or make_predict_ab(config, state.apply_fn)
  tile, overlap, margin = tiling(config)
  ab = photo_colorize.colorize_chroma(
      lambda pieces: predict_ab(state.params, pieces), grey,
      model_short_side=model_short_side(config), tile=tile, overlap=overlap,
      batch_size=config.batch_size, offset=offset, margin=margin, hints=hints)
  return colour.scaled_lab_to_rgb(np.asarray(grey, np.float32), ab)


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
               image.shape[1], config.model.name, output_path)
  return rgb
