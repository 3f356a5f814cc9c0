"""Property-based tests (hypothesis) where a property is the natural spec.

Small ``max_examples`` and no deadline (JAX compiles on first use of a shape): these run in the
default suite, so they stay a few seconds each.
"""

import functools

import hypothesis
import hypothesis.extra.numpy as hnp
import hypothesis.strategies as st
import jax.numpy as jnp
import numpy as np
import pytest
import skimage.color

from siren_jax import data, render, tiling
from siren_jax.colorize import colour
from siren_jax.poisson import targets

settings = functools.partial(hypothesis.settings, deadline=None, derandomize=True,
                             suppress_health_check=[hypothesis.HealthCheck.too_slow])

# A fixed smooth field with a known closed form: f(y, x) = (sin(1.3 y + 0.4 x + 0.2),
# cos(0.7 y - 2.1 x)). A module-level function: render needs a hashable apply_fn.
_PARAMS = jnp.array([[1.3, 0.7], [0.4, -2.1]])


def _field(params, coords):
  z = coords @ params
  return jnp.stack([jnp.sin(z[:, 0] + 0.2), jnp.cos(z[:, 1])], axis=-1)


def _closed_form(height, width, y_range, x_range):
  """The field at the pixel centres in float64: centre i of n over (lo, hi) is
  lo + (hi - lo) (i + 0.5) / n."""
  ys = y_range[0] + (y_range[1] - y_range[0]) * (np.arange(height) + 0.5) / height
  xs = x_range[0] + (x_range[1] - x_range[0]) * (np.arange(width) + 0.5) / width
  y, x = np.meshgrid(ys, xs, indexing='ij')
  return np.stack([np.sin(1.3 * y + 0.4 * x + 0.2), np.cos(0.7 * y - 2.1 * x)], axis=-1)


@settings(max_examples=15)
@hypothesis.given(height=st.integers(1, 24), width=st.integers(1, 24),
                  max_chunk_points=st.integers(1, 700),
                  box=st.tuples(st.floats(0, 0.45), st.floats(0, 0.45), st.floats(0.55, 1),
                                st.floats(0.55, 1)))
def test_render_any_size_crop_and_chunk_equals_one_shot_evaluation(height, width,
                                                                  max_chunk_points, box):
  top, left, bottom, right = (f * n for f, n in zip(box, (40, 30, 40, 30)))
  y_range, x_range = render.pixel_box_to_ranges(top, left, bottom, right, 40, 30)
  out = render.render(_field, _PARAMS, height, width, y_range=y_range, x_range=x_range,
                      max_chunk_points=max_chunk_points)
  np.testing.assert_allclose(out, _closed_form(height, width, y_range, x_range), atol=2e-5)


@settings(max_examples=200)
@hypothesis.given(height=st.integers(1, 5000), width=st.integers(1, 5000),
                  max_chunk_points=st.integers(1, 10**6))
def test_render_blocks_respect_the_memory_bound_and_are_as_large_as_allowed(
    height, width, max_chunk_points):
  rows, cols = render.block_shape(height, width, max_chunk_points)
  assert 1 <= rows <= height and 1 <= cols <= width
  assert rows * cols <= max_chunk_points
  assert cols == width or rows == 1  # Whole rows, or column blocks of one row.
  assert cols == min(width, max_chunk_points)
  assert rows == height or (rows + 1) * cols > max_chunk_points  # No smaller than needed.


@settings(max_examples=30)
@hypothesis.given(hnp.arrays(np.float64, st.tuples(st.integers(1, 6), st.just(3)),
                             elements=st.floats(0, 1)))
def test_lab_round_trip_inside_the_gamut(rgb):
  lab = colour.rgb_to_lab(rgb)
  np.testing.assert_allclose(lab, skimage.color.rgb2lab(rgb), atol=1e-6)
  np.testing.assert_allclose(colour.lab_to_rgb(lab), rgb, atol=1e-6)
  lightness, ab = colour.rgb_to_scaled_lab(rgb, rgb_range='unit')
  np.testing.assert_allclose(colour.scaled_lab_to_rgb(lightness, ab, rgb_range='unit'), rgb,
                             atol=1e-6)


@settings(max_examples=60)
@hypothesis.given(num_examples=st.integers(3, 400), val=st.floats(0.01, 0.45),
                  test=st.floats(0.01, 0.45), seed=st.integers(0, 2**31))
def test_split_indices_partition_their_input(num_examples, val, test, seed):
  num_val, num_test = max(1, round(val * num_examples)), max(1, round(test * num_examples))
  if num_examples - num_val - num_test < 1:
    with pytest.raises(ValueError, match='too few'):
      data.split_indices(num_examples, val, test, seed)
    return
  splits = data.split_indices(num_examples, val, test, seed)
  joined = np.concatenate([splits['train'], splits['val'], splits['test']])
  np.testing.assert_array_equal(np.sort(joined), np.arange(num_examples))  # Disjoint, covering.
  assert (len(splits['val']), len(splits['test'])) == (num_val, num_test)
  again = data.split_indices(num_examples, val, test, seed)
  assert all(np.array_equal(splits[k], again[k]) for k in splits)  # Fixed by the seed.


@settings(max_examples=40)
@hypothesis.given(height=st.integers(1, 23), width=st.integers(1, 23), channels=st.integers(1, 3),
                  piece=st.tuples(st.integers(1, 9), st.integers(1, 9)))
def test_abutting_grid_tiles_split_and_map_back_for_any_size(height, width, channels, piece):
  image = np.random.default_rng(height * 100 + width).normal(size=(height, width, channels))
  layout = tiling.grid_layout(height, width, *piece)
  pieces = tiling.split(image, layout)
  assert pieces.shape == (-(-height // piece[0]) * -(-width // piece[1]), *piece, channels)
  np.testing.assert_array_equal(tiling.map_tiles(lambda p: p, image, layout, batch_size=3),
                                image)
  # Row-major: piece k covers rows (k // cols) * h... and columns (k % cols) * w... .
  cols = -(-width // piece[1])
  for k, p in enumerate(pieces):
    r0, c0 = (k // cols) * piece[0], (k % cols) * piece[1]
    inside = image[r0:r0 + piece[0], c0:c0 + piece[1]]
    np.testing.assert_array_equal(p[:inside.shape[0], :inside.shape[1]], inside)


@settings(max_examples=20)
@hypothesis.given(height=st.integers(1, 30), width=st.integers(1, 30),
                  tile_size=st.integers(2, 16), overlap_fraction=st.floats(0, 0.5))
def test_tiling_split_covers_the_image_and_pastes_back(height, width, tile_size,
                                                       overlap_fraction):
  overlap = int(overlap_fraction * (tile_size // 2))
  layout = tiling.make_layout(height, width, tile_size, overlap)
  image = np.random.default_rng(0).normal(size=(height, width, 2)).astype(np.float32)
  tiles = np.asarray(tiling.split(image, layout))
  assert tiles.shape == (layout.num_tiles, layout.tile_height, layout.tile_width, 2)
  pasted, covered = np.zeros_like(image), np.zeros((height, width), int)
  k = 0
  for y in layout.y_starts:
    for x in layout.x_starts:
      pasted[y:y + layout.tile_height, x:x + layout.tile_width] = tiles[k]
      covered[y:y + layout.tile_height, x:x + layout.tile_width] += 1
      k += 1
  assert covered.min() >= 1  # Every pixel lies in some tile...
  np.testing.assert_array_equal(pasted, image)  # ...and each tile is the image's pixels there.
  for starts, size, tile in ((layout.y_starts, height, layout.tile_height),
                             (layout.x_starts, width, layout.tile_width)):
    assert starts[0] == 0 and starts[-1] == size - tile
    assert all(b - a <= tile - overlap for a, b in zip(starts, starts[1:]))  # Overlap >= asked.


# No subnormal numbers: XLA:GPU flushes them to zero (seen on an H200: a 1e-39 gradient came back
# as 0, equal to neither input), a property of the hardware, not of the composition rules.
_gradient_values = st.floats(-10, 10, width=32, allow_subnormal=False)
_fields = hnp.arrays(np.float32, st.tuples(st.integers(1, 5), st.integers(1, 5),
                                           st.integers(1, 3), st.just(2)),
                     elements=_gradient_values)


@settings(max_examples=30)
@hypothesis.given(st.data())
def test_compose_gradients_rules_on_random_fields(drawn):
  a = drawn.draw(_fields)
  b = drawn.draw(hnp.arrays(np.float32, a.shape, elements=_gradient_values))
  mask = drawn.draw(hnp.arrays(bool, a.shape[:2]))
  np.testing.assert_allclose(targets.compose_gradients(a, b, 'mean'), (a + b) / 2, rtol=1e-6)
  mixed = targets.compose_gradients(a, b, 'mixed')
  norm = lambda g: np.sum(g.astype(np.float64) ** 2, axis=-1)  # noqa: E731
  np.testing.assert_allclose(norm(mixed), np.maximum(norm(a), norm(b)), rtol=1e-6)
  picked_a, picked_b = np.all(mixed == a, -1), np.all(mixed == b, -1)
  assert np.all(picked_a | picked_b)  # Each pixel and channel keeps one whole gradient.
  for rule in targets.RULES:
    inside = targets.compose_gradients(a, b, rule, mask)
    np.testing.assert_array_equal(inside[~mask], a[~mask])  # A's gradient outside the mask.
    if rule != 'masked':
      np.testing.assert_array_equal(inside[mask], targets.compose_gradients(a, b, rule)[mask])
      np.testing.assert_array_equal(targets.compose_gradients(a, a, rule), a)
  np.testing.assert_array_equal(targets.compose_gradients(a, b, 'masked', mask)[mask], b[mask])
