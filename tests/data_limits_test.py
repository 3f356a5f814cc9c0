"""data.split_indices and Pipeline at the edges of their valid arguments."""

import os

import imageio.v3 as iio
import numpy as np
import pytest

from siren_jax import data


@pytest.mark.parametrize('val, test', [(0.0, 0.1), (1.0, 0.1), (0.1, 0.0), (0.1, 1.0),
                                       (0.5, 0.5)])
def test_fractions_on_the_boundary_are_rejected(val, test):
  # Each fraction must lie strictly inside (0, 1) and the two must sum to strictly less than 1.
  with pytest.raises(ValueError, match='must be in'):
    data.split_indices(100, val, test)


def test_the_smallest_valid_split_has_one_example_each():
  # 3 examples, 10% each: round(0.3) = 0 -> at least 1 for val and test, 1 left for train.
  splits = data.split_indices(3, 0.1, 0.1)
  assert sorted(len(v) for v in splits.values()) == [1, 1, 1]
  with pytest.raises(ValueError, match='too few'):
    data.split_indices(2, 0.1, 0.1)


def test_a_batch_as_large_as_the_training_split_is_allowed(tmp_path):
  for i in range(5):  # 1 val, 1 test, 3 train.
    iio.imwrite(os.path.join(tmp_path, f'img{i}.png'), np.full((8, 8), 40 * i, np.uint8))
  pipeline = data.Pipeline(f'folder:{tmp_path}', image_size=8, batch_size=3)
  assert pipeline.steps_per_epoch == 1 and pipeline.train_batch(0)['rgb'].shape == (3, 8, 8, 3)
  with pytest.raises(ValueError, match='larger than the 3 training examples'):
    data.Pipeline(f'folder:{tmp_path}', image_size=8, batch_size=4)


def test_large_folder_images_are_shrunk_keeping_their_aspect(tmp_path):
  # Training images are shrunk to a short side of 1.25 x 16 = 20: 40 x 80 -> 20 x 40.
  for i in range(3):
    iio.imwrite(os.path.join(tmp_path, f'img{i}.png'), np.zeros((40, 80, 3), np.uint8))
  pipeline = data.Pipeline(f'folder:{tmp_path}', image_size=16, batch_size=1)
  assert pipeline.source[0].shape == (20, 40, 3)
