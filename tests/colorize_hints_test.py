"""Colour hints (siren_jax.colorize.hints): the stroke-image and JSON formats, and sampling from
the truth as a pure function that reads only the hinted pixels."""

import json
import os

import imageio.v3 as iio
import numpy as np
import pytest
import skimage.color

from siren_jax import files
from siren_jax.colorize import hints as hints_lib
from tests.fake_gcs import bucket  # noqa: F401 (a fixture)


def lab_ab(rgb_255):
  """scikit-image's Lab a, b / 128 of 8-bit sRGB colours (N, 3)."""
  return skimage.color.rgb2lab(np.asarray(rgb_255, np.float64)[None] / 255.0)[0, :, 1:] / 128.0


def test_stroke_image_hints_are_its_opaque_pixels_in_their_lab_chroma():
  rgba = np.zeros((5, 7, 4), np.uint8)
  rgba[1, 2] = [200, 30, 40, 255]
  rgba[3, 5] = [20, 90, 220, 10]  # Any alpha > 0 counts.
  rgba[4, 0] = [255, 255, 0, 0]  # Transparent: free, whatever its colour.
  hints = hints_lib.from_stroke_image(rgba, 5, 7)
  assert hints.rows.tolist() == [1, 3] and hints.cols.tolist() == [2, 5]
  np.testing.assert_allclose(hints.ab, lab_ab([[200, 30, 40], [20, 90, 220]]), atol=1e-4)
  assert hints.mask().sum() == 2 and np.all(hints.dense_ab()[4, 0] == 0)


def test_stroke_image_of_another_size_or_without_alpha_is_refused():
  with pytest.raises(ValueError, match=r"is 7x5 but the photo is 7x6"):
    hints_lib.from_stroke_image(np.zeros((5, 7, 4), np.uint8), 6, 7)
  with pytest.raises(ValueError, match='no alpha channel'):
    hints_lib.from_stroke_image(np.zeros((5, 7, 3), np.uint8), 5, 7)


def test_points_take_hex_or_rgb_colours_and_x_is_the_column():
  points = [{'x': 6, 'y': 0, 'color': '#c81e28'}, {'x': 0, 'y': 4, 'color': [20, 90, 220]}]
  hints = hints_lib.from_points(points, 5, 7)
  assert hints.rows.tolist() == [0, 4] and hints.cols.tolist() == [6, 0]
  np.testing.assert_allclose(hints.ab, lab_ab([[200, 30, 40], [20, 90, 220]]), atol=1e-4)


@pytest.mark.parametrize('point', [{'x': 7, 'y': 0}, {'x': 0, 'y': 5}, {'x': -1, 'y': 2}])
def test_points_outside_the_photo_are_refused_naming_the_first(point):
  with pytest.raises(ValueError, match=rf"outside the 7x5 photo, the first at \(x, y\) = "
                                       rf"\({point['x']}, {point['y']}\)"):
    hints_lib.from_points([{**point, 'color': '#ffffff'}], 5, 7)


@pytest.mark.parametrize('bad', ['#12345', 'red', [1, 2], [0, 0, 256], [True, 0, 0]])
def test_bad_colours_are_refused(bad):
  with pytest.raises(ValueError, match='colour must be'):
    hints_lib.from_points([{'x': 0, 'y': 0, 'color': bad}], 5, 7)


def test_a_pixel_given_twice_keeps_the_last_hint():
  hints = hints_lib.make(4, 4, [1, 2, 1], [1, 2, 1], [[0.1, 0.1], [0.2, 0.2], [0.3, 0.3]])
  assert len(hints) == 2
  np.testing.assert_allclose(hints.dense_ab()[1, 1], [0.3, 0.3])


def test_files_load_and_an_empty_one_says_the_result_would_be_grey(tmp_path):
  rgba = np.zeros((5, 7, 4), np.uint8)
  rgba[2, 3] = [10, 200, 30, 255]
  iio.imwrite(tmp_path / 'strokes.png', rgba)
  (tmp_path / 'points.json').write_text(json.dumps([{'x': 3, 'y': 2, 'color': '#0ac81e'}]))
  from_png = hints_lib.load(str(tmp_path / 'strokes.png'), 5, 7)
  from_json = hints_lib.load(str(tmp_path / 'points.json'), 5, 7)
  np.testing.assert_allclose(from_png.ab, from_json.ab)
  iio.imwrite(tmp_path / 'empty.png', np.zeros((5, 7, 4), np.uint8))
  (tmp_path / 'empty.json').write_text('[]')
  for name in ('empty.png', 'empty.json'):
    with pytest.raises(ValueError, match='holds no hints: the colourisation would be grey'):
      hints_lib.load(str(tmp_path / name), 5, 7)
  with pytest.raises(FileNotFoundError):
    hints_lib.load(str(tmp_path / 'missing.png'), 5, 7)
  (tmp_path / 'bad.json').write_text('{"x": 1')
  with pytest.raises(ValueError, match='not valid JSON'):
    hints_lib.load(str(tmp_path / 'bad.json'), 5, 7)


def test_hint_files_load_from_a_bucket(bucket):
  root, cwd = bucket
  rgba = np.zeros((5, 7, 4), np.uint8)
  rgba[2, 3] = [10, 200, 30, 255]
  files.write_bytes('gs://bucket/h/strokes.png', iio.imwrite('<bytes>', rgba, extension='.png'))
  files.write_bytes('gs://bucket/h/points.json',
                    json.dumps([{'x': 3, 'y': 2, 'color': '#0ac81e'}]).encode())
  from_png = hints_lib.load('gs://bucket/h/strokes.png', 5, 7)
  from_json = hints_lib.load('gs://bucket/h/points.json', 5, 7)
  # One hint at row 2, column 3: the colour (10, 200, 30) = #0ac81e in both files.
  for hints in (from_png, from_json):
    assert (hints.rows.tolist(), hints.cols.tolist()) == ([2], [3])
    np.testing.assert_allclose(hints.ab, lab_ab([[10, 200, 30]]), atol=1e-4)
  with pytest.raises(FileNotFoundError, match='gs://bucket/h/none.json'):
    hints_lib.load('gs://bucket/h/none.json', 5, 7)
  assert not os.listdir(cwd)


def test_rescale_moves_hints_to_the_coarse_pixel_and_averages_them():
  # 4x4 -> 2x2: pixels (0, 0) and (1, 1) share coarse pixel (0, 0); (3, 2) goes to (1, 1).
  hints = hints_lib.make(4, 4, [0, 1, 3], [0, 1, 2], [[0.2, 0.0], [0.4, -0.2], [0.1, 0.1]])
  coarse = hints_lib.rescale(hints, 2, 2)
  assert coarse.rows.tolist() == [0, 1] and coarse.cols.tolist() == [0, 1]
  np.testing.assert_allclose(coarse.ab, [[0.3, -0.1], [0.1, 0.1]], atol=1e-7)


@pytest.mark.parametrize('kind', hints_lib.KINDS)
def test_positions_are_a_pure_function_of_seed_and_shape_and_nested_in_count(kind):
  draw = lambda seed, count: hints_lib.sample_positions(seed, 40, 60, count, kind)  # noqa: E731
  first, again = draw(3, 10), draw(3, 10)
  assert all(np.array_equal(a, b) for a, b in zip(first, again))
  assert all(np.array_equal(a, b) for a, b in zip(draw(3, 4), first[:4]))
  assert not all(np.array_equal(a, b) for a, b in zip(draw(4, 10), first))
  pixels = np.concatenate(first)
  assert pixels.min() >= 0 and pixels[:, 0].max() < 40 and pixels[:, 1].max() < 60


def test_points_are_distinct_and_strokes_are_short_straight_lines():
  points = np.concatenate(hints_lib.sample_positions(0, 8, 8, 64, 'points'))
  assert len({tuple(p) for p in points}) == 64  # Every pixel of the 8x8 photo, once.
  for stroke in hints_lib.sample_positions(1, 100, 100, 20, 'strokes', stroke_length=9):
    assert 1 <= len(stroke) <= 9
    assert (stroke.max(0) - stroke.min(0)).max() <= 8
    if len(stroke) > 2:  # Every pixel within a pixel of the line through the end pixels.
      direction = (stroke[-1] - stroke[0]) / np.linalg.norm(stroke[-1] - stroke[0])
      offsets = stroke - stroke[0]
      assert np.abs(offsets[:, 0] * direction[1] - offsets[:, 1] * direction[0]).max() <= 1.0


class RecordingArray:
  """An (H, W, 2) array that records every index it is read at."""

  def __init__(self, array):
    self.array, self.shape, self.reads = array, array.shape, []

  def __getitem__(self, index):
    self.reads.append(index)
    return self.array[index]

  def __array__(self, *args, **kwargs):
    raise AssertionError('the whole truth was read')


@pytest.mark.parametrize('kind', hints_lib.KINDS)
def test_sampling_reads_the_truth_only_at_the_hint_positions(kind):
  height, width = 30, 40
  positions = hints_lib.sample_positions(7, height, width, 6, kind)
  pixels = np.concatenate(positions)
  truth = np.full((height, width, 2), np.nan)  # Any pixel read besides the hints poisons them.
  truth[pixels[:, 0], pixels[:, 1]] = np.random.default_rng(0).uniform(-0.5, 0.5, (len(pixels), 2))
  recorder = RecordingArray(truth)
  hints = hints_lib.sample(7, recorder, 6, kind)
  assert np.all(np.isfinite(hints.ab))
  read = {(int(y), int(x)) for index in recorder.reads for y, x in zip(*index[:2])}
  assert read == {tuple(p) for p in pixels.tolist()}
  # A point takes its pixel's colour, a stroke the mean of its pixels' colours.
  for stroke in positions:
    expected = truth[stroke[:, 0], stroke[:, 1]].mean(0)
    np.testing.assert_allclose(hints.dense_ab()[stroke[-1, 0], stroke[-1, 1]], expected,
                               atol=1e-6)


def test_hint_channels_hold_the_hinted_ab_and_a_mask():
  hints = hints_lib.make(3, 4, [0, 2], [1, 3], [[0.25, -0.5], [-0.125, 0.75]])
  channels = hints_lib.to_channels(hints)
  expected = np.zeros((3, 4, 3), np.float32)
  expected[0, 1] = [0.25, -0.5, 1.0]
  expected[2, 3] = [-0.125, 0.75, 1.0]
  np.testing.assert_array_equal(channels, expected)


def test_training_hint_channels_read_the_truth_at_up_to_max_count_points():
  truth = np.random.default_rng(3).uniform(-0.5, 0.5, (64, 12, 12, 2)).astype(np.float32)
  channels = hints_lib.sample_channels([7, 11], truth, max_count=20)
  assert channels.shape == (64, 12, 12, 3)
  counts = channels[..., 2].sum(axis=(1, 2))
  assert counts.min() == 0 and counts.max() <= 20 and len(set(counts.tolist())) > 5
  mask = channels[..., 2] == 1
  np.testing.assert_array_equal(channels[..., :2][mask], truth[mask])
  assert np.all(channels[..., :2][~mask] == 0)
  # log-uniform counts: about as many crops with 0-4 hints as with 5-20 (ln 5 / ln 21 = 0.53).
  assert 0.3 < np.mean(counts <= 4) < 0.75
  np.testing.assert_array_equal(channels, hints_lib.sample_channels([7, 11], truth, 20))
  with pytest.raises(ValueError, match='max_count=145'):
    hints_lib.sample_channels(0, truth, 145)
