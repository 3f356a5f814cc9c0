"""render.block_shape keeps every block within the memory bound (values worked by hand)."""

import pytest

from siren_jax import render


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
