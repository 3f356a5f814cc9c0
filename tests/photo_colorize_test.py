"""Colourising photos of any size: tiles blended without seams, at the model's scale."""

import jax
import numpy as np
import pytest

from experiments import colorize_lib, colorize_photo_lib
from experiments.configs import colorize as colorize_config
from siren_jax import colour, photo_colorize


def _pointwise(pieces):
  """A per-pixel 'model' (no context): any correct blend reproduces it exactly, whatever the
  tile grid, so a seam or a misplaced tile shows as a difference."""
  return np.concatenate([np.sin(3 * pieces), pieces ** 2 - 0.5], axis=-1)


def _photo(h, w, seed=0):
  rng = np.random.default_rng(seed)
  y, x = np.mgrid[:h, :w]
  return (np.sin(y / 7.0) * np.cos(x / 11.0) * 0.8 + 0.1 * rng.normal(size=(h, w)))[..., None]


def test_windows_of_neighbours_sum_to_one():
  tile, overlap = 24, 8
  w = photo_colorize.window(tile, overlap)
  stride = tile - overlap
  np.testing.assert_allclose(w[stride:] + w[:overlap], 1.0, atol=1e-12)
  assert w[overlap:stride].min() == 1.0 and w.min() > 0


@pytest.mark.parametrize('offset', [(0, 0), (3, 5), (13, 1)])
def test_blend_of_a_pointwise_model_is_exact_for_any_grid(offset):
  grey = _photo(50, 83).astype(np.float32)  # Non-square; 4 x 6 tiles of 24.
  out = photo_colorize.predict_tiled(_pointwise, grey, tile=24, overlap=8, batch_size=5,
                                     offset=offset)
  assert out.shape == (50, 83, 2)
  np.testing.assert_allclose(out, _pointwise(grey[None])[0], atol=1e-5)  # float32 rounding.


def test_tile_starts_cover_the_image():
  for size in (1, 23, 24, 25, 100):
    for offset in (0, 3, 15):
      starts = photo_colorize.tile_starts(size, 24, 8, offset)
      assert starts[0] <= 0 and starts[-1] + 24 >= size and np.all(np.diff(starts) == 16)


def test_chroma_is_predicted_at_the_model_scale_and_upsampled():
  seen = []

  def model(pieces):
    seen.append(pieces.shape)
    return np.zeros(pieces.shape[:-1] + (2,), np.float32) + 0.25

  ab = photo_colorize.colorize_chroma(model, _photo(90, 150).astype(np.float32),
                                      model_short_side=30, tile=16, overlap=4)
  assert ab.shape == (90, 150, 2)
  np.testing.assert_allclose(ab, 0.25, atol=1e-6)
  assert all(s == (8, 16, 16, 1) for s in seen)
  # 30 x 50 at the model's scale: 3 x 4 tiles of 16 every 12 pixels = 12 tiles = 2 batches of 8.
  assert len(seen) == 2


@pytest.mark.parametrize('variant', ['FR,tiny', 'FC,tiny'])
def test_colorize_photo_shows_no_seam_when_the_grid_shifts(variant):
  """A real (random-init) conv or FC colouriser on a non-square photo needing many tiles.

  Shifted grids blend different tiles, so the outputs can differ only where a tile's
  prediction depends on its own borders (padding, and for FC the whole tile). Tolerance: the
  difference, in ab units (x 128), must stay below 1, under the just-noticeable colour
  difference (Delta E ~ 2.3) -- while the chroma itself varies by more than that across the
  photo (checked, so the comparison is not between two near-zero outputs).
  """
  config = colorize_config.get_config(variant)
  config.dataset = 'embedded'
  config.photo_side = 24 if variant.startswith('FC') else 32  # Model scale: short side.
  state = colorize_lib.make_state(config)
  if 'output' in state.params:  # A random conv model's chroma is ~0: make it vary (tanh out).
    state = state.replace(params={**state.params, 'output': jax.tree.map(
        lambda p: p * 300.0, state.params['output'])})
  predict_ab = colorize_photo_lib.make_predict_ab(config, state.apply_fn)
  grey = _photo(60, 100).astype(np.float32)
  shift = (8, 16) if variant.startswith('FR') else (2, 3)  # Conv: keep the stride-8 phase.
  rgb = [colorize_photo_lib.colorize(config, state, grey, offset=o, predict_ab=predict_ab)
         for o in ((0, 0), shift)]
  assert rgb[0].shape == (60, 100, 3)
  ab = [colour.rgb_to_scaled_lab(x)[1] * 128 for x in rgb]
  spread = float(np.percentile(ab[0], 99) - np.percentile(ab[0], 1))
  assert spread > 2.3, spread
  assert float(np.abs(ab[0] - ab[1]).max()) < 1.0
