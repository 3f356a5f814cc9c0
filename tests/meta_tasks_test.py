"""Meta-learning tasks: pure in (seed, step), pixel subsets without replacement whose values are
the crop's pixels at their coordinates, crop sides drawn from the list, any process split
giving the global batch's rows; the synthetic class is low-frequency."""

import numpy as np
import pytest

from siren_jax import grids
from siren_jax.data import crops
from siren_jax.meta import tasks

PHOTOS = tasks.SinusoidPhotos(5, 40, seed=3)


def _tasks(**kwargs):
  settings = dict(photos=PHOTOS, sizes=(8, 16), meta_batch=4, inner_steps=3, inner_pixels=32,
                  outer_pixels=48, colour='rgb', seed=7)
  return tasks.PixelTasks(**{**settings, **kwargs})


def test_shapes_and_purity():
  stream = _tasks()
  batch = stream.batch(5)
  assert batch['inner']['coords'].shape == (4, 3, 32, 2)
  assert batch['inner']['values'].shape == (4, 3, 32, 3)
  assert batch['outer']['coords'].shape == (4, 48, 2)
  again = _tasks().batch(5)
  for part in ('inner', 'outer'):
    for key in ('coords', 'values'):
      np.testing.assert_array_equal(batch[part][key], again[part][key])
  assert {stream.size_at(s) for s in range(40)} == {8, 16}


def test_values_are_the_crop_pixels_at_the_sampled_coordinates():
  stream = _tasks(sizes=(16,), colour='grey')
  batch = stream.batch(2)
  image = crops.Crops(PHOTOS, 16, 4, seed=7, views=('grey',)).batch(2)['grey']
  centres = np.asarray(grids.pixel_centers(16))
  for task in range(4):
    coords = batch['inner']['coords'][task, 1]
    rows = np.abs(coords[:, :1] - centres[None]).argmin(axis=1)
    cols = np.abs(coords[:, 1:] - centres[None]).argmin(axis=1)
    np.testing.assert_array_equal(batch['inner']['values'][task, 1], image[task, rows, cols])
    assert len(set(zip(rows, cols))) == 32  # Without replacement.


def test_zero_pixels_means_the_whole_crop_in_grid_order():
  batch = _tasks(sizes=(8,), inner_pixels=0, outer_pixels=0).batch(0)
  np.testing.assert_array_equal(batch['outer']['coords'][0],
                                np.asarray(grids.make_grid(8, 8)).reshape(-1, 2))
  assert batch['inner']['values'].shape == (4, 3, 64, 3)


def test_each_process_gets_its_rows_of_the_global_batch():
  whole = _tasks().batch(3)
  for index in range(2):
    part = _tasks(process_index=index, process_count=2).batch(3)
    np.testing.assert_array_equal(part['inner']['values'],
                                  whole['inner']['values'][2 * index:2 * index + 2])
    np.testing.assert_array_equal(part['outer']['coords'],
                                  whole['outer']['coords'][2 * index:2 * index + 2])


def test_bad_settings_name_the_field():
  with pytest.raises(ValueError, match='^colour must be one of grey, rgb'):
    _tasks(colour='lab')
  with pytest.raises(ValueError, match=r'^inner_pixels=65 must be in \[0, 64\]'):
    _tasks(inner_pixels=65)
  with pytest.raises(ValueError, match=r'^outer_pixels=0 \(every pixel\) needs one crop side'):
    _tasks(outer_pixels=0)


def test_sinusoid_photos_are_deterministic_full_range_and_low_frequency():
  photo = PHOTOS[1]
  np.testing.assert_array_equal(photo, tasks.SinusoidPhotos(5, 40, seed=3)[1])
  assert photo.dtype == np.uint8 and photo.min() == 0 and photo.max() == 255
  spectrum = np.abs(np.fft.fft2(photo[..., 0].astype(float) - photo[..., 0].mean()))
  freqs = np.abs(np.round(np.fft.fftfreq(40) * 40))
  high = (freqs[:, None] > 3) | (freqs[None, :] > 3)
  # Integer frequencies up to 3 cycles per side: no energy beyond them (rounding aside).
  energy = spectrum ** 2
  assert energy[high].sum() < 1e-3 * energy.sum()
  with pytest.raises(IndexError):
    PHOTOS[5]


def test_centre_view_is_the_centred_square_resized():
  photo = np.zeros((30, 50, 3), np.uint8)
  photo[:, 5:45] = 255  # White beyond the centred 30 x 30 square (the bicubic support).
  view = tasks.centre_view(photo, 15, 'rgb')
  assert view.shape == (15, 15, 3)
  np.testing.assert_allclose(view, 1.0)
