"""siren_jax.colorize.photo_colorize: colourising photos of any size, tiles blended without
seams, at the model's scale."""

import numpy as np
import pytest

from siren_jax import tiling
from siren_jax.colorize import hints as hints_lib
from siren_jax.colorize import photo_colorize
from tests.helpers import wavy_grey


def _pointwise(pieces):
  """A per-pixel 'model' (no context): any correct blend reproduces it exactly, whatever the
  tile grid, so a seam or a misplaced tile shows as a difference."""
  return np.concatenate([np.sin(3 * pieces), pieces ** 2 - 0.5], axis=-1)


@pytest.mark.parametrize('margin', [0, 3])
def test_windows_of_neighbours_sum_to_one(margin):
  tile, overlap = 24, 10
  w = tiling.window(tile, overlap, margin)
  stride = tile - overlap
  np.testing.assert_allclose(w[stride:] + w[:overlap], 1.0, atol=1e-12)
  assert w[overlap:stride].min() == 1.0
  assert (w[:margin] == 0).all() and (w[tile - margin:] == 0).all()
  assert w[margin:tile - margin].min() > 0


@pytest.mark.parametrize('offset', [(0, 0), (3, 5), (13, 1)])
def test_blend_of_a_pointwise_model_is_exact_for_any_grid(offset):
  grey = wavy_grey(50, 83).astype(np.float32)  # Non-square; 4 x 6 tiles of 24.
  out = photo_colorize.predict_tiled(_pointwise, grey, tile=24, overlap=8, batch_size=5,
                                     offset=offset)
  assert out.shape == (50, 83, 2)
  np.testing.assert_allclose(out, _pointwise(grey[None])[0], atol=1e-5)  # float32 rounding.


def test_tile_starts_cover_the_image():
  for size in (1, 23, 24, 25, 100):
    for offset in (0, 3, 15):
      starts = tiling.grid_starts(size, 24, 8, offset)
      assert starts[0] <= 0 and starts[-1] + 24 >= size and np.all(np.diff(starts) == 16)


def test_chroma_is_predicted_at_the_model_scale_and_upsampled():
  seen = []

  def model(pieces):
    seen.append(pieces.shape)
    return np.zeros(pieces.shape[:-1] + (2,), np.float32) + 0.25

  ab = photo_colorize.colorize_chroma(model, wavy_grey(90, 150).astype(np.float32),
                                      model_short_side=30, tile=16, overlap=4)
  assert ab.shape == (90, 150, 2)
  np.testing.assert_allclose(ab, 0.25, atol=1e-6)
  assert all(s == (8, 16, 16, 1) for s in seen)
  # 30 x 50 at the model's scale, tiles of 16 every 12 pixels from -12 (one before the image):
  # starts -12, 0, 12, 24 (rows: the last must reach 30 + 4 - 16 = 18) and -12 ... 36 (cols):
  # 4 x 5 = 20 tiles = 3 batches of 8.
  assert len(seen) == 3


def _blur_zero_padded(pieces):
  """A 'conv net' with a 5x5 receptive field and zero padding at each tile's edges: its output
  within 2 pixels of a tile edge is spoilt, as a real conv colouriser's is."""
  padded = np.pad(pieces, ((0, 0), (2, 2), (2, 2), (0, 0)))
  h, w = pieces.shape[1:3]
  out = sum(padded[:, dy:dy + h, dx:dx + w] for dy in range(5) for dx in range(5)) / 25.0
  return np.concatenate([np.tanh(2 * out), out ** 2], axis=-1)


def _blur_reflect(grey):
  padded = np.pad(grey, ((2, 2), (2, 2), (0, 0)), mode='reflect')
  h, w = grey.shape[:2]
  out = sum(padded[dy:dy + h, dx:dx + w] for dy in range(5) for dx in range(5)) / 25.0
  return np.concatenate([np.tanh(2 * out), out ** 2], axis=-1)


@pytest.mark.parametrize('shift', [(0, 0), (3, 5), (8, 16)])
def test_margin_hides_the_zero_padding_of_a_local_conv(shift):
  """No seam for a conv 'model': with a zero-weight margin >= its receptive radius (2), every
  pixel is blended from tile interiors only, so any grid gives the whole-image result (computed
  independently with reflect padding at the image border, as the tiler pads) up to float32
  rounding (1e-5)."""
  grey = wavy_grey(45, 70, seed=1).astype(np.float32)  # Non-square, 4 x 5 tiles of 24.
  out = photo_colorize.predict_tiled(_blur_zero_padded, grey, tile=24, overlap=12, margin=2,
                                     offset=shift)
  np.testing.assert_allclose(out, _blur_reflect(grey), atol=1e-5)
  # Without the margin the padding leaks into the blend: the test can fail.
  leaky = photo_colorize.predict_tiled(_blur_zero_padded, grey, tile=24, overlap=12, offset=shift)
  assert np.abs(leaky - _blur_reflect(grey)).max() > 1e-3


def test_hints_reach_the_model_as_channels_on_its_grid():
  # A model that returns its hint channels' ab: where a hint lands on the model's grid, every
  # tile covering it sees it, and the blend weights sum to one, so the output there is the
  # hint's ab; elsewhere 0. The photo is 48x64, the model's short side 24: pixel (r, c) goes to
  # (r // 2, c // 2), and the chroma is upsampled x2 bilinearly.
  lightness = wavy_grey(48, 64)
  hints = hints_lib.make(48, 64, [10, 31], [20, 51], [[0.5, -0.25], [-0.75, 0.125]])
  seen = []

  def predict(pieces):
    seen.append(pieces.shape[-1])
    return pieces[..., 1:3]

  small = photo_colorize.predict_tiled(
      predict, np.concatenate([np.zeros((24, 32, 1), np.float32), hints_lib.to_channels(
          hints_lib.rescale(hints, 24, 32))], -1), tile=16, overlap=8)
  np.testing.assert_allclose(small[5, 10], [0.5, -0.25], atol=1e-6)
  np.testing.assert_allclose(small[15, 25], [-0.75, 0.125], atol=1e-6)
  assert np.abs(small).sum() == pytest.approx(0.75 + 0.875, abs=1e-5)
  ab = photo_colorize.colorize_chroma(predict, lightness, model_short_side=24, tile=16,
                                      overlap=8, hints=hints)
  assert ab.shape == (48, 64, 2) and set(seen) == {4}
  assert np.abs(ab[10, 20]).max() > 0.2 and np.all(ab[:, :5] == 0)
  with pytest.raises(ValueError, match='hints are for a 32x24 photo'):
    photo_colorize.colorize_chroma(predict, lightness, model_short_side=24, tile=16, overlap=8,
                                   hints=hints_lib.make(24, 32, [], [], np.zeros((0, 2))))
