"""siren_jax.render: any size, crops and zooms, in bounded blocks; output-size checks, the
block shape and crop boxes at their boundaries (values worked by hand)."""

import jax.numpy as jnp
import numpy as np
import pytest

from siren_jax import fitting, grids, metrics, render


def test_render_on_training_grid_reproduces_the_fit(camera32, camera32_fit):
  h, w, _ = camera32.shape
  coords, values = grids.image_to_samples(camera32)
  own = np.asarray(camera32_fit.apply_fn(camera32_fit.params, coords)).reshape(h, w, 1)
  rendered = render.render(camera32_fit.apply_fn, camera32_fit.params, h, w)
  np.testing.assert_allclose(rendered, own, atol=1e-5)
  fit_psnr = float(fitting.image_loss(camera32_fit.params, {'coords': coords, 'values': values},
                                      camera32_fit.apply_fn)[1]['psnr'])
  assert float(metrics.psnr(rendered, camera32)) == pytest.approx(fit_psnr, abs=0.05)
  assert fit_psnr > 20.0  # The fit learned the image, so the comparison means something.


@pytest.mark.parametrize('size', [(37, 23), (64, 64), (5, 70)])
def test_chunked_render_equals_one_shot_render(camera32_fit, size):
  h, w = size
  one_shot = np.asarray(camera32_fit.apply_fn(camera32_fit.params,
                                               grids.make_grid(h, w).reshape(-1, 2)))
  for max_chunk_points in (7, 100, h * w):
    chunked = render.render(camera32_fit.apply_fn, camera32_fit.params, h, w,
                            max_chunk_points=max_chunk_points)
    np.testing.assert_allclose(chunked, one_shot.reshape(h, w, 1), atol=1e-5)


def test_crop_equals_region_of_full_render(camera32_fit):
  full = render.render(camera32_fit.apply_fn, camera32_fit.params, 96, 64)
  y_range, x_range = render.pixel_box_to_ranges(30, 10, 70, 35, 96, 64)
  crop = render.render(camera32_fit.apply_fn, camera32_fit.params, 40, 25, y_range=y_range,
                       x_range=x_range, max_chunk_points=64)
  np.testing.assert_allclose(crop, full[30:70, 10:35], atol=1e-4)
  # A 2x zoom of the crop lands every other output pixel between the coarse centres: its 2x2
  # block means approximate the coarse crop (the field is smooth at this scale).
  zoom = render.render(camera32_fit.apply_fn, camera32_fit.params, 80, 50, y_range=y_range,
                       x_range=x_range)
  assert np.abs(zoom.reshape(40, 2, 25, 2).mean(axis=(1, 3)) - crop[..., 0]).mean() < 0.05


def test_large_render_evaluates_only_bounded_chunks():
  seen = []

  def field(params, coords):
    seen.append(coords.shape[0])  # Runs at trace time only: records the block size.
    return coords @ params

  params = jnp.array([[1.0], [2.0]])
  out = render.render(field, params, 4096, 4096, max_chunk_points=65536)
  assert out.shape == (4096, 4096, 1)
  assert seen and max(seen) <= 65536
  ys = grids.pixel_centers(4096)
  rows = np.array([0, 2000, 4095])
  np.testing.assert_allclose(out[rows, 17, 0], np.asarray(ys)[rows] + 2 * ys[17], atol=1e-6)


@pytest.mark.parametrize('kwargs, expected', [
    ({'factor': 4}, (128, 64)), ({'factor': 0.5}, (16, 8)), ({'out_height': 100}, (100, 50)),
    ({'out_width': 10}, (20, 10)), ({'out_height': 7, 'out_width': 300}, (7, 300))])


def test_target_size_keeps_aspect_unless_both_sides_given(kwargs, expected):
  assert render.target_size(32, 16, **kwargs) == expected


@pytest.mark.parametrize('size, kwargs, expected', [
    ((32, 1), {'out_height': 16}, (16, 1)), ((1, 32), {'out_width': 16}, (1, 16)),
    ((32, 1), {'factor': 0.5}, (16, 1)), ((1, 32), {'factor': 0.5}, (1, 16)),
    ((32, 1), {'factor': 0.25}, (8, 1))])
def test_a_side_that_rounds_to_zero_pixels_keeps_one(size, kwargs, expected):
  # 1 x 0.5 rounds to 0 (round half to even): the side keeps 1 pixel, not 0 and not 2.
  assert render.target_size(*size, **kwargs) == expected


@pytest.mark.parametrize('kwargs, message', [
    ({}, 'scale factor must be a positive number, got 0.0'),  # No size and no factor given.
    ({'factor': 0}, 'scale factor must be a positive number'),
    ({'factor': -2.0}, 'scale factor must be a positive number'),
    ({'out_height': -5}, 'out_height must be an integer >= 0'),
    ({'factor': 1000.0}, 'exceeds the limit'),
    ({'out_height': 10, 'out_width': 10, 'max_pixels': 99}, 'exceeds the limit')])


def test_bad_sizes_raise_one_line_errors(kwargs, message):
  with pytest.raises(ValueError, match=message) as e:
    render.target_size(32, 16, **kwargs)
  assert '\n' not in str(e.value)


def test_render_rejects_zero_size(camera32_fit):
  with pytest.raises(ValueError, match='output width must be a positive integer'):
    render.render(camera32_fit.apply_fn, camera32_fit.params, 10, 0)


@pytest.mark.parametrize('height, width, max_points, expected', [
    (10, 7, 20, (2, 7)),     # 20 // 7 = 2 whole rows (3 rows = 21 points would break the bound).
    (10, 7, 70, (10, 7)),    # The whole image fits.
    (10, 7, 1000, (10, 7)),  # Never more rows than the image has.
    (4, 100, 30, (1, 30)),   # A row does not fit: one row, 30 columns.
    (5, 5, 1, (1, 1)),
])
def test_block_shape_values(height, width, max_points, expected):
  assert render.block_shape(height, width, max_points) == expected


def test_block_shape_rejects_an_empty_chunk():
  with pytest.raises(ValueError, match='max_chunk_points'):
    render.block_shape(4, 4, 0)


def test_an_output_of_exactly_max_pixels_is_allowed_and_one_more_row_is_not():
  render.check_size(10, 10, max_pixels=100)  # 10 * 10 = 100 <= 100.
  with pytest.raises(ValueError) as error:
    render.check_size(11, 10, max_pixels=100)
  # The message states the size and its pixel count: 11 * 10 = 110.
  assert 'output size 11x10 = 110 pixels exceeds the limit of 100' in str(error.value)


def test_crop_box_ranges_worked_by_hand():
  # A 96 x 64 image spans [-1, 1] on both axes: row r is at -1 + 2 r / 96, column c at
  # -1 + 2 c / 64. Rows [24, 48): -1 + 48/96 = -0.5 to -1 + 96/96 = 0; columns [16, 64):
  # -1 + 32/64 = -0.5 to 1.
  assert render.pixel_box_to_ranges(24, 16, 48, 64, 96, 64) == ((-0.5, 0.0), (-0.5, 1.0))
  assert render.pixel_box_to_ranges(0, 0, 96, 64, 96, 64) == ((-1.0, 1.0), (-1.0, 1.0))


@pytest.mark.parametrize('box', [
    (10, 0, 10, 5),    # rows empty, columns fine
    (0, 5, 4, 5),      # columns empty, rows fine
    (-1, 0, 4, 5),     # above the image
    (0, 0, 97, 5),     # below the image
    (0, -0.5, 4, 5),   # left of the image
    (0, 0, 4, 65),     # right of the image
])
def test_empty_or_outside_crop_boxes_are_one_line_errors(box):
  with pytest.raises(ValueError, match='is empty or outside the 96x64 image') as error:
    render.pixel_box_to_ranges(*box, 96, 64)
  assert '\n' not in str(error.value)
