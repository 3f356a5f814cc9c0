"""siren_jax.tiling: layouts, blending weights, and T tiles fitted as one batched network."""

import jax
import numpy as np
import optax
import pytest

from siren_jax import fitting, grids, images, metrics, models, render, tiling, training
from siren_jax.models import fields
from tests import tiling_reference
from tests.conftest import SMALL_SIREN


def _fit_tiles(image, layout, key, steps):
  """SMALL_SIREN per tile, all tiles stepped together (what the experiments' driver runs)."""
  model = fields.make_field_model(**SMALL_SIREN)
  state = training.TrainState.create(
      apply_fn=tiling.stacked_apply(models.apply_fn(model)),
      params=fields.init_params(model, key, layout.num_tiles), tx=optax.adam(1e-3))
  step = training.make_train_step(fitting.image_loss, steps_per_call=steps)
  state, _ = step(state, tiling.tile_samples(image, layout))
  return model, state


@pytest.mark.parametrize('ramp', tiling.RAMPS)
@pytest.mark.parametrize('size, tile, overlap', [(100, 24, 6), (37, 16, 3), (40, 20, 0)])
def test_blend_weights_sum_to_one_and_vanish_outside_tiles(ramp, size, tile, overlap):
  layout = tiling.make_layout(size, size + 5, tile, overlap)
  coords = grids.make_grid(size, size + 5).reshape(-1, 2)
  weights = np.asarray(tiling_reference.blend_weights(coords, layout, ramp))
  np.testing.assert_allclose(weights.sum(axis=0), 1.0, atol=1e-6)
  assert weights.min() >= 0.0
  inside = np.zeros((layout.num_tiles, size, size + 5), bool)
  for t, (y, x) in enumerate((y, x) for y in layout.y_starts for x in layout.x_starts):
    inside[t, y:y + layout.tile_height, x:x + layout.tile_width] = True
  assert np.all(weights.reshape(inside.shape)[~inside] == 0.0)


def test_layout_covers_the_image_with_the_requested_overlap():
  layout = tiling.make_layout(100, 61, 24, 6)
  for starts, tile, size in ((layout.y_starts, 24, 100), (layout.x_starts, 24, 61)):
    assert starts[0] == 0 and starts[-1] + tile == size
    assert all(b - a <= tile - 6 for a, b in zip(starts, starts[1:]))


@pytest.mark.slow
def test_tiled_fit_on_the_tile_grid_matches_each_tile_and_has_no_seam():
  image = images.load_image('camera', mode='grey', size=48)
  layout = tiling.make_layout(48, 48, 32, 16)  # 2 x 2 tiles; tile edges at rows/columns 16, 32.
  # Few steps on purpose: an imperfect fit (~23 dB) is where tile-edge errors would show; a
  # hard cut at the tile edges instead of blending gives a seam ratio ~1.5 below.
  model, state = _fit_tiles(image, layout, jax.random.PRNGKey(0), steps=25)
  params = state.params
  apply_one = models.apply_fn(model)
  full = render.render(tiling.tiled_field(apply_one, layout), params, 48, 48)
  assert float(metrics.psnr(full, image)) > 20.0
  # Each tile alone reproduces its own pixels (the blend of a pixel in one tile is that tile).
  tile0 = apply_one(jax.tree.map(lambda a: a[0], params), grids.make_grid(32, 32).reshape(-1, 2))
  np.testing.assert_allclose(full[:8, :8], np.asarray(tile0).reshape(32, 32, 1)[:8, :8],
                             atol=1e-5)
  # Pixels within 2 of a tile edge inside the image fit no worse than the rest...
  error = np.abs(full - image)[..., 0]
  near = np.zeros((48, 48), bool)
  for edge in (16, 32):
    near[edge - 2:edge + 2, :] = near[:, edge - 2:edge + 2] = True
  assert error[near].mean() < 1.3 * error[~near].mean()
  # ... and the steps between neighbouring pixels across a tile edge are as faithful as
  # elsewhere (a seam is a wrong step).
  for axis in (0, 1):
    step_error = np.abs(np.diff(full[..., 0], axis=axis) - np.diff(image[..., 0], axis=axis))
    step_error = np.moveaxis(step_error, axis, 0)
    across = np.zeros(47, bool)
    across[[15, 31]] = True
    assert step_error[across].mean() < 1.3 * step_error[~across].mean()


@pytest.mark.slow
def test_batched_tile_fit_equals_independent_fits():
  image = images.load_image('camera', mode='grey', size=(16, 24))
  layout = tiling.make_layout(16, 24, 16, 4)  # 1 x 2 tiles.
  key = jax.random.PRNGKey(3)
  model, tiled = _fit_tiles(image, layout, key, steps=5)
  tiles = tiling.split(image, layout)
  # Equal up to Adam's epsilon, which the batched loss's 1/T gradient scale makes matter a
  # little (~2e-5 here); fits from other keys or tiles differ by ~lr * steps = 5e-3.
  for t, tile_key in enumerate(jax.random.split(key, layout.num_tiles)):
    state = training.create_train_state(model, tile_key, np.zeros((1, 2), np.float32),
                                        optax.adam(1e-3))
    coords, values = grids.image_to_samples(tiles[t])
    state, _ = training.make_train_step(fitting.image_loss, steps_per_call=5)(
        state, {'coords': coords, 'values': values})
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a[t], b, rtol=1e-3, atol=1e-4),
                 tiled.params, state.params)
