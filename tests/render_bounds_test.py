"""render's size limit and crop boxes at their boundaries (values worked by hand)."""

import pytest

from siren_jax import render


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
