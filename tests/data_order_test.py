"""Training order and augmentation of data.Pipeline on folders built so every crop is traceable."""

import os

import imageio.v3 as iio
import numpy as np

from siren_jax import data


def _constant_folder(folder, count, side):
  """``count`` grey images of one distinct level each (level 10 * i): a crop names its source."""
  os.makedirs(folder, exist_ok=True)
  for i in range(count):
    iio.imwrite(os.path.join(folder, f'img{i:02d}.png'), np.full((side, side), 10 * i, np.uint8))


def test_each_epoch_visits_every_training_example_once(tmp_path):
  # 20 images -> 2 val, 2 test, 16 train; batch 4 -> 4 steps per epoch.
  _constant_folder(tmp_path, 20, 10)
  pipeline = data.Pipeline(f'folder:{tmp_path}', image_size=8, batch_size=4, seed=5)
  assert pipeline.steps_per_epoch == 4
  train_levels = sorted(round(float(pipeline.source[i].mean()) * 255) for i in
                        pipeline.splits['train'])
  for epoch in range(3):
    seen = []
    for step in range(epoch * 4, epoch * 4 + 4):
      rgb = pipeline.train_batch(step)['rgb']  # (4, 8, 8, 3), one constant per crop.
      seen += [round((float(crop.mean()) + 1) / 2 * 255) for crop in rgb]
    assert sorted(seen) == train_levels, epoch  # A permutation of the training examples.


def _pattern(index, side):
  """An image that differs under both flips: level = 40 i + 3 row + column (uint8)."""
  rows, cols = np.mgrid[:side, :side]
  return (40 * index + 3 * rows + cols).astype(np.uint8)


def test_training_flips_are_horizontal(tmp_path):
  side = 8
  for i in range(5):  # 1 val, 1 test, 3 train.
    iio.imwrite(os.path.join(tmp_path, f'img{i}.png'), _pattern(i, side))
  # image_size = side: the crop is the whole image, so only the flip can change it.
  pipeline = data.Pipeline(f'folder:{tmp_path}', image_size=side, batch_size=2, seed=0)
  sources = [pipeline.source[i][..., 0] * 2 - 1 for i in pipeline.splits['train']]
  flipped = unflipped = 0
  for step in range(12):
    for crop in pipeline.train_batch(step)['rgb'][..., 0]:
      if any(np.allclose(crop, s, atol=1e-6) for s in sources):
        unflipped += 1
      elif any(np.allclose(crop, s[:, ::-1], atol=1e-6) for s in sources):  # Left <-> right.
        flipped += 1
      else:
        raise AssertionError('a training crop is neither its image nor its mirror image')
  assert flipped > 3 and unflipped > 3  # p = 0.5 each over 24 crops.
  # Evaluation crops are never flipped.
  evaluated = pipeline.eval_set('train')['rgb'][..., 0]
  for crop, s in zip(evaluated, sources):
    np.testing.assert_allclose(crop, s, atol=1e-6)


def test_random_crops_reach_every_offset(tmp_path):
  # 10 x 10 images, 8 x 8 crops: top and left can each be 0, 1 or 2. Level = 20 row + column, so
  # a crop's smallest level names its top-left source pixel (the flip is horizontal only).
  rows, cols = np.mgrid[:10, :10]
  for i in range(5):
    iio.imwrite(os.path.join(tmp_path, f'img{i}.png'), (20 * rows + cols).astype(np.uint8))
  pipeline = data.Pipeline(f'folder:{tmp_path}', image_size=8, batch_size=3, seed=1)
  corners = set()
  for step in range(30):
    for crop in pipeline.train_batch(step)['rgb'][..., 0]:
      level = int(round((crop.min() + 1) / 2 * 255))
      corners.add(divmod(level, 20))
  assert corners == {(r, c) for r in range(3) for c in range(3)}
  # Evaluation uses the centre crop: top = left = (10 - 8) // 2 = 1.
  centre = pipeline.eval_set('val')['rgb'][0, ..., 0]
  assert int(round((centre.min() + 1) / 2 * 255)) == 20 * 1 + 1
