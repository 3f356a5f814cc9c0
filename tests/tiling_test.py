"""siren_jax.tiling: layouts, blending weights, local coordinates, the covering tiles and the
blended field of a 2 x 2 layout against values worked by hand, and T tiles fitted as one
batched network."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from siren_jax import fitting, grids, images, metrics, models, render, tiling, training
from siren_jax.models import fields
from tests import tiling_reference
from tests.helpers import SMALL_SIREN


@pytest.mark.parametrize('size, tile, overlap, expected', [
    # ceil((100 - 6) / (24 - 6)) = 6 tiles at linspace(0, 76, 6) = 0, 15.2, 30.4, 45.6, 60.8, 76.
    (100, 24, 6, (0, 15, 30, 46, 61, 76)),
    # ceil(55 / 18) = 4 tiles at linspace(0, 37, 4) = 0, 12.33, 24.67, 37.
    (61, 24, 6, (0, 12, 25, 37)),
    (40, 20, 0, (0, 20)),   # Abutting tiles: 40 / 20 = 2.
    (10, 16, 3, (0,)),      # One tile covers the axis.
    (16, 16, 3, (0,)),
])
def test_axis_starts_worked_by_hand(size, tile, overlap, expected):
  assert tiling.axis_starts(size, tile, overlap) == expected


def test_layout_limits_on_tile_size_and_overlap():
  layout = tiling.make_layout(10, 30, 8, 4)  # Overlap of exactly half a tile is allowed.
  assert (layout.tile_height, layout.tile_width) == (8, 8)
  # Rows: ceil((10 - 4) / 4) = 2 tiles; columns: ceil((30 - 4) / 4) = 7.
  assert layout.num_tiles == len(layout.y_starts) * len(layout.x_starts) == 2 * 7
  assert tiling.make_layout(3, 5, 2, 1).tile_height == 2  # The smallest tile.
  for size, overlap in ((1, 0), (8, 5), (8, -1)):
    with pytest.raises(ValueError, match='tile'):
      tiling.make_layout(10, 30, size, overlap)
  with pytest.raises(ValueError, match=r'must be in \[0, tile_size / 2\] = \[0, 6\], got 7'):
    tiling.make_layout(10, 30, 12, 7)  # The message states the largest overlap allowed.
  with pytest.raises(ValueError, match='tile size must be >= 2 pixels and a multiple of 8, got 20'):
    tiling.check_tiles(20, 10, multiple=8)
  with pytest.raises(ValueError, match=r'margin=5 must be < overlap / 2 = 5.0'):
    tiling.check_tiles(24, 10, margin=5)


@pytest.mark.parametrize('size, tile, overlap, offset, margin, expected', [
    # Abutting tiles from the top-left corner: ceil(13 / 4) = 4 tiles; 12 needs only 3.
    (13, 4, 0, 0, 0, (0, 4, 8, 12)),
    (12, 4, 0, 0, 0, (0, 4, 8)),
    # Offset 1: starts = -1 (mod 4), the first at or before 0; 11 + 4 >= 12 ends it.
    (12, 4, 0, 1, 0, (-1, 3, 7, 11)),
    # Stride 16 - 8 = 8 from one tile before the image (-8, whose ramp-up [-8, 0) lies outside
    # it) to the first start s whose ramp-down, from s + 16 - 8, starts at or past 20: s = 16.
    (20, 16, 8, 0, 0, (-8, 0, 8, 16)),
    # Offset 3: -(3 mod 8) - 8 = -11; margin 2: a ramp-down starts at s + 8 + 2, >= 20 at s = 13.
    (20, 16, 8, 3, 2, (-11, -3, 5, 13)),
])
def test_grid_starts_worked_by_hand(size, tile, overlap, offset, margin, expected):
  assert tiling.grid_starts(size, tile, overlap, offset, margin) == expected


def test_tiles_over_a_one_pixel_side_repeat_it():
  # A 1 x 9 image 0..8 in tiles of 4 every 2 pixels from -2 (the last, 8, is the first whose
  # ramp-down, from 8 + 2, lies past the image): nothing to reflect, so every pixel outside the
  # image takes its nearest pixel's value (tile k's column j: clip(x_k + j, 0, 8)).
  image = np.arange(9, dtype=np.float32).reshape(1, 9, 1)
  layout = tiling.grid_layout(1, 9, 4, 4, overlap=2)
  assert layout.x_starts == (-2, 0, 2, 4, 6, 8) and layout.y_starts == (-2, 0)
  tiles = tiling.split(image, layout)
  for k, tile in enumerate(tiles):
    x = layout.x_starts[k % 6]
    np.testing.assert_array_equal(tile[..., 0], np.tile(np.clip(np.arange(x, x + 4), 0, 8), (4, 1)))
  weights = np.outer(tiling.window(4, 2), tiling.window(4, 2))
  np.testing.assert_allclose(tiling.map_tiles(lambda p: p ** 2, image, layout, weights), image ** 2,
                             rtol=1e-6)


# A 6 x 6 image in tiles of 4 overlapping by 2: tiles start at rows/columns 0 and 2, so along
# each axis tile 0 spans [-1, -1 + 8/6] = [-1, 1/3] and tile 1 spans [-1/3, 1], overlapping on
# [-1/3, 1/3]. Tiles row-major: t = 2 * (y tile) + (x tile).
# Linear ramps over the overlap (length 2/3): w0(u) = clip((1/3 - u) / (2/3), 0, 1),
# w1(u) = clip((u + 1/3) / (2/3), 0, 1); a tile keeps weight 1 beyond its outer side.
# Local coordinates: tile 0 is centred at -1/3 with half extent 2/3, so l0(u) = 1.5 u + 0.5,
# and l1(u) = 1.5 u - 0.5.
POINTS = np.array([[-0.9, 1 / 6], [1 / 6, 0.0], [1.2, -1.2], [-1 / 3, 1 / 3]], np.float32)


# Per point: (w0, w1) along y, (w0, w1) along x, (l0, l1) along y, (l0, l1) along x.
AXIS_WEIGHTS_Y = [(1.0, 0.0), (0.25, 0.75), (0.0, 1.0), (1.0, 0.0)]


AXIS_WEIGHTS_X = [(0.25, 0.75), (0.5, 0.5), (1.0, 0.0), (0.0, 1.0)]


LOCAL_Y = [(-0.85, -1.85), (0.75, -0.25), (2.3, 1.3), (0.0, -1.0)]


LOCAL_X = [(0.75, -0.25), (0.5, -0.5), (-1.3, -2.3), (1.0, 0.0)]


def _layout():
  layout = tiling.make_layout(6, 6, 4, 2)
  assert layout.y_starts == layout.x_starts == (0, 2)
  return layout


def _cosine(w):
  return np.sin(0.5 * np.pi * np.asarray(w)) ** 2  # sin^2 ramps: opposite ones sum to one.


def _expected_weights(ramp):
  """(T, N) weights: the product of the two axes' weights (each pair already sums to one)."""
  shape = _cosine if ramp == 'cosine' else np.asarray
  out = np.zeros((4, len(POINTS)))
  for n, (wy, wx) in enumerate(zip(AXIS_WEIGHTS_Y, AXIS_WEIGHTS_X)):
    for iy in range(2):
      for ix in range(2):
        out[2 * iy + ix, n] = shape(wy)[iy] * shape(wx)[ix]
  return out


@pytest.mark.parametrize('ramp', tiling.RAMPS)
def test_blend_weights_worked_by_hand(ramp):
  weights = np.asarray(tiling_reference.blend_weights(jnp.asarray(POINTS), _layout(), ramp))
  np.testing.assert_allclose(weights, _expected_weights(ramp), atol=1e-6)


def test_to_local_worked_by_hand():
  local = np.asarray(tiling_reference.to_local(jnp.asarray(POINTS), _layout()))  # (T, N, 2)
  for n in range(len(POINTS)):
    for iy in range(2):
      for ix in range(2):
        np.testing.assert_allclose(local[2 * iy + ix, n], (LOCAL_Y[n][iy], LOCAL_X[n][ix]),
                                   atol=1e-6)


@pytest.mark.parametrize('ramp', tiling.RAMPS)
def test_covering_tiles_list_exactly_the_tiles_with_weight(ramp):
  index, weight = tiling.covering_tiles(jnp.asarray(POINTS), _layout(), ramp)
  index, weight = np.asarray(index), np.asarray(weight)
  expected = _expected_weights(ramp)
  for n in range(len(POINTS)):
    got = np.zeros(4)
    np.add.at(got, index[n], weight[n])  # A tile listed twice would count twice.
    np.testing.assert_allclose(got, expected[:, n], atol=1e-6)


def _tile_field(params, coords):
  """Tile t's field: l_y^3 + 2 l_x^2 + b_t (non-linear, so blends of tiles cannot cancel)."""
  return coords[:, :1] ** 3 + 2.0 * coords[:, 1:] ** 2 + params['b']


@pytest.mark.parametrize('ramp', tiling.RAMPS)
@pytest.mark.parametrize('group_points', [1, 3, 1024])
def test_tiled_field_is_the_weighted_blend_worked_by_hand(ramp, group_points):
  params = {'b': jnp.asarray([[0.0], [10.0], [20.0], [30.0]])}  # b_t = 10 t.
  weights = _expected_weights(ramp)
  expected = np.zeros(len(POINTS))
  for n in range(len(POINTS)):
    for iy in range(2):
      for ix in range(2):
        t = 2 * iy + ix
        ly, lx = LOCAL_Y[n][iy], LOCAL_X[n][ix]
        expected[n] += weights[t, n] * (ly ** 3 + 2 * lx ** 2 + 10 * t)
  field = tiling.tiled_field(_tile_field, _layout(), ramp, group_points)
  got = np.asarray(field(params, jnp.asarray(POINTS)))
  np.testing.assert_allclose(got[:, 0], expected, rtol=1e-5, atol=1e-5)


def test_tile_samples_put_points_first_and_tiles_second():
  # A 4 x 6 image of pixel numbers 0..23 (value 6y + x) in 4 x 4 tiles with overlap 2: one tile
  # row (the image is 4 high) and tiles at columns 0 and 2 (axis_starts). Point p of a tile is its
  # pixel (p // 4, p % 4), so values[p, t] = 6 (p // 4) + (x_t + p % 4).
  image = np.arange(24, dtype=np.float32).reshape(4, 6, 1)
  layout = tiling.make_layout(4, 6, tile_size=4, overlap=2)
  assert (layout.y_starts, layout.x_starts, layout.tile_height) == ((0,), (0, 2), 4)
  batch = tiling.tile_samples(image, layout)
  p = np.arange(16)
  expected = np.stack([6 * (p // 4) + x + p % 4 for x in (0, 2)], axis=1)[..., None]
  np.testing.assert_array_equal(batch['values'], expected)
  # The shared local grid: pixel centres of a 4 x 4 tile, (y, x) in [-1, 1], row-major.
  centres = (np.arange(4) + 0.5) / 4 * 2 - 1
  np.testing.assert_allclose(batch['coords'],
                             np.stack(np.meshgrid(centres, centres, indexing='ij'), -1)
                             .reshape(-1, 2), atol=1e-7)


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
