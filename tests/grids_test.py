"""The grid convention and chunked evaluation."""

import jax.numpy as jnp
import numpy as np
import pytest

from siren_jax import grids


def test_pixel_centres_cover_the_square_as_an_area():
  centres = np.asarray(grids.pixel_centers(4))
  np.testing.assert_allclose(centres, [-0.75, -0.25, 0.25, 0.75])


def test_downsampled_centres_are_means_of_the_centres_they_average():
  fine = np.asarray(grids.pixel_centers(12))
  coarse = np.asarray(grids.pixel_centers(3))
  np.testing.assert_allclose(fine.reshape(3, 4).mean(axis=1), coarse, atol=1e-7)


def test_grid_is_ordered_rows_then_columns():
  grid = np.asarray(grids.make_grid(2, 3))
  assert grid.shape == (2, 3, 2)
  np.testing.assert_allclose(grid[:, 0, 0], [-0.5, 0.5], atol=1e-7)  # y down the rows.
  np.testing.assert_allclose(grid[0, :, 1], [-2 / 3, 0.0, 2 / 3], atol=1e-7)  # x along columns.


def test_sub_rectangle_grid_equals_crop_of_finer_full_grid():
  full = np.asarray(grids.make_grid(8, 8))
  crop = np.asarray(grids.make_grid(4, 4, y_range=(-1.0, 0.0), x_range=(0.0, 1.0)))
  np.testing.assert_allclose(crop, full[:4, 4:], atol=1e-7)


def test_image_to_samples_round_trip():
  image = np.arange(2 * 3 * 1, dtype=np.float32).reshape(2, 3, 1)
  coords, values = grids.image_to_samples(image)
  assert coords.shape == (6, 2) and values.shape == (6, 1)
  np.testing.assert_array_equal(np.asarray(values).reshape(2, 3, 1), image)
  with pytest.raises(ValueError, match='H, W, C'):
    grids.image_to_samples(image[..., 0])


@pytest.mark.parametrize('chunk', [1, 7, 10, 64])
def test_chunked_evaluation_equals_one_shot(chunk):
  coords = grids.make_grid(5, 2).reshape(-1, 2)
  fn = lambda c: (jnp.sin(3 * c).sum(-1, keepdims=True), c * 2)
  chunked = grids.evaluate_in_chunks(fn, coords, chunk)
  direct = fn(coords)
  for a, b in zip(chunked, direct):
    np.testing.assert_allclose(a, b, rtol=1e-6)


def test_bad_sizes_are_clear_errors():
  with pytest.raises(ValueError, match='at least 1 pixel'):
    grids.make_grid(0, 4)
  with pytest.raises(ValueError, match='at least 1 pixel, got 0'):
    grids.pixel_centers(0)
  with pytest.raises(ValueError, match='chunk_size'):
    grids.evaluate_in_chunks(lambda c: c, jnp.zeros((3, 2)), 0)


def test_a_one_pixel_axis_has_its_centre_in_the_middle_of_the_extent():
  np.testing.assert_array_equal(grids.pixel_centers(1), [0.0])
  np.testing.assert_array_equal(grids.pixel_centers(1, (0.0, 1.0)), [0.5])
  np.testing.assert_array_equal(grids.make_grid(1, 2), [[[0.0, -0.5], [0.0, 0.5]]])


@pytest.mark.parametrize('n', [1, 2, 5, 256])
def test_linspace_grid_is_np_linspace_on_every_axis(n):
  # Float32 rounds i / (n - 1) (by at most 2**-24, doubled: 2**-23) and then -1 + 2 i / (n - 1)
  # (2**-24): at most 1.5 float32 steps at magnitude 1 (2**-23 each) from np.linspace.
  tolerance = 1.5 * 2**-23
  grid = np.asarray(grids.make_grid(n, n + 3, grid='linspace'))
  np.testing.assert_allclose(grid[:, 0, 0], np.linspace(-1, 1, n), rtol=0, atol=tolerance)
  np.testing.assert_allclose(grid[0, :, 1], np.linspace(-1, 1, n + 3), rtol=0, atol=tolerance)
  crop = np.asarray(grids.pixel_centers(n, (0.25, 0.5), grid='linspace'))
  np.testing.assert_allclose(crop, np.linspace(0.25, 0.5, n), rtol=0, atol=tolerance)


def test_image_samples_sit_on_the_chosen_grid():
  image = np.zeros((3, 5, 1), np.float32)
  coords, _ = grids.image_to_samples(image, 'linspace')
  np.testing.assert_allclose(np.asarray(coords).reshape(3, 5, 2)[:, 0, 0], [-1, 0, 1])
  np.testing.assert_allclose(np.asarray(coords).reshape(3, 5, 2)[0, :, 1],
                             [-1, -0.5, 0, 0.5, 1])


def test_pixel_spacing_of_each_convention():
  # Neighbouring centres: 2/4 apart as 4 cells over [-1, 1]; 2/3 apart as linspace(-1, 1, 4).
  assert grids.pixel_spacing(4) == 0.5
  assert grids.pixel_spacing(4, 'linspace') == pytest.approx(2 / 3)
  centres = np.asarray(grids.pixel_centers(4, grid='linspace'))
  np.testing.assert_allclose(np.diff(centres), 2 / 3, rtol=1e-6)


def test_unknown_grid_convention_is_a_clear_error():
  with pytest.raises(ValueError, match="unknown grid convention 'corners'; choose from "
                     'half_pixel, linspace'):
    grids.make_grid(2, 2, grid='corners')
