"""siren_jax.data: sources, splits by photo, training order and augmentation, determinism,
sharding, the edges of the valid arguments and error messages.

The TFDS sources are tiny datasets built offline (no download): RGB uint8 records stored as
zlib tensors (encoding PNGs would need TensorFlow).
"""

from collections.abc import Callable
import os

import imageio.v3 as iio
import numpy as np
import pytest
import tensorflow_datasets as tfds

from siren_jax import data, files
from siren_jax.colorize import colour
from tests.fake_gcs import bucket  # noqa: F401 (a fixture)


def tiny_rgb_builder(class_name: str, count: int, shape: Callable[[int], tuple[int, int]],
                     seed: int, module: str) -> type:
  """A ``GeneratorBasedBuilder`` subclass registered as snake_case(``class_name``) with one
  'train' split of ``count`` random RGB images, record ``i`` of size ``shape(i)``.

  ``module``: this test module's ``__name__``. TFDS looks for a builder's checksums next to its
  module; pytest imports test files as top-level modules, which TFDS skips, whereas a module of
  the ``tests.`` namespace package would send it down a path needing ``importlib_resources``.
  """

  def _info(self):
    return tfds.core.DatasetInfo(builder=self, features=tfds.features.FeaturesDict({
        'image': tfds.features.Tensor(shape=(None, None, 3), dtype=np.uint8, encoding='zlib')}))

  def _split_generators(self, dl_manager):
    del dl_manager
    return {'train': self._generate_examples()}

  def _generate_examples(self):
    rng = np.random.default_rng(seed)
    for i in range(count):
      yield i, {'image': rng.integers(0, 256, (*shape(i), 3), dtype=np.uint8)}

  return type(class_name, (tfds.core.GeneratorBasedBuilder,), {
      'VERSION': tfds.core.Version('1.0.0'), '_info': _info,
      '_split_generators': _split_generators, '_generate_examples': _generate_examples,
      '__module__': module})


SirenJaxTinyColour = tiny_rgb_builder(
    'SirenJaxTinyColour', count=10, shape=lambda i: (16 + i % 5, 20), seed=0, module=__name__)


@pytest.fixture(scope='module')
def embedded():
  return data.Pipeline('embedded', image_size=16, batch_size=4, seed=3)


def _write_images(folder, sizes):
  os.makedirs(folder, exist_ok=True)
  rng = np.random.default_rng(0)
  for i, (h, w) in enumerate(sizes):
    iio.imwrite(os.path.join(folder, f'img{i}.png'), rng.integers(0, 256, (h, w, 3), np.uint8))


def test_embedded_batches_have_the_model_layout(embedded):
  batch = embedded.train_batch(0)
  assert batch['grey'].shape == (4, 16, 16, 1) and batch['ab'].shape == (4, 16, 16, 2)
  assert batch['rgb'].shape == (4, 16, 16, 3) and batch['rgb'].dtype == np.float32
  assert batch['grey'].min() >= -1 and batch['grey'].max() <= 1
  grey, ab = colour.rgb_to_scaled_lab(batch['rgb'])
  np.testing.assert_allclose(grey, batch['grey'], atol=1e-4)
  np.testing.assert_allclose(ab, batch['ab'], atol=1e-4)


def test_splits_are_disjoint_fixed_and_cover_every_example(embedded):
  splits = embedded.splits
  together = np.concatenate([splits[s] for s in data.SPLITS])
  assert sorted(together) == list(range(len(embedded.source)))
  other = data.split_groups(embedded.source.groups, 0.1, 0.1, split_seed=0)
  for name in data.SPLITS:
    np.testing.assert_array_equal(other[name], splits[name])
  assert len(splits['val']) >= 1 and len(splits['test']) >= 1


def test_train_batches_are_a_pure_function_of_seed_and_step(embedded):
  again = data.Pipeline('embedded', image_size=16, batch_size=4, seed=3)
  for step in (0, 7, embedded.steps_per_epoch + 1):
    np.testing.assert_array_equal(embedded.train_batch(step)['rgb'], again.train_batch(step)['rgb'])
  assert not np.array_equal(embedded.train_batch(0)['rgb'], embedded.train_batch(1)['rgb'])
  other_seed = data.Pipeline('embedded', image_size=16, batch_size=4, seed=4)
  assert not np.array_equal(embedded.train_batch(0)['rgb'], other_seed.train_batch(0)['rgb'])
  np.testing.assert_array_equal(embedded.eval_set('val')['rgb'], again.eval_set('val')['rgb'])


def test_process_slices_make_up_the_global_batch(embedded):
  slices = [data.Pipeline('embedded', image_size=16, batch_size=4, seed=3, process_index=p,
                          process_count=2).train_batch(5)['rgb'] for p in range(2)]
  assert slices[0].shape[0] == 2
  np.testing.assert_array_equal(np.concatenate(slices), embedded.train_batch(5)['rgb'])


def test_folder_of_mixed_sizes(tmp_path):
  _write_images(tmp_path, [(20, 30), (40, 17), (16, 16), (64, 64), (33, 21)])
  pipeline = data.Pipeline(f'folder:{tmp_path}', image_size=16, batch_size=2, val_fraction=0.2,
                           test_fraction=0.2)
  assert [len(pipeline.splits[s]) for s in data.SPLITS] == [3, 1, 1]
  assert pipeline.train_batch(3)['grey'].shape == (2, 16, 16, 1)
  assert pipeline.eval_set('test')['ab'].shape == (1, 16, 16, 2)


def test_a_folder_in_a_bucket_with_split_subfolders(bucket):
  root, cwd = bucket
  arrays = {f'gs://bucket/photos/{s}/{i}.png': np.random.default_rng(i).integers(
      0, 256, (16, 18, 3), dtype=np.uint8) for i, s in enumerate(['train', 'train', 'val', 'test'])}
  for path, pixels in arrays.items():
    files.write_bytes(path, iio.imwrite('<bytes>', pixels, extension='.png'))
  pipeline = data.Pipeline('folder:gs://bucket/photos', image_size=16, batch_size=2)
  assert pipeline.source.names == list(arrays)
  assert {s: list(pipeline.splits[s]) for s in data.SPLITS} == {
      'train': [0, 1], 'val': [2], 'test': [3]}
  for i, pixels in enumerate(arrays.values()):  # 16x18 is within 1.25 x 16: not downscaled.
    np.testing.assert_allclose(pipeline.source[i], pixels / 255.0, atol=1e-6)
  with pytest.raises(FileNotFoundError, match='gs://bucket/none'):
    data.Pipeline('folder:gs://bucket/none', image_size=16)
  assert not os.listdir(cwd)


def test_a_tfds_dataset_in_a_bucket_is_a_one_line_error():
  with pytest.raises(ValueError, match="data_dir 'gs://bucket/tfds' is a URL, but array_record"):
    data.Pipeline('tfds:siren_jax_tiny_colour', image_size=16, data_dir='gs://bucket/tfds')


def test_folder_errors_name_the_problem(tmp_path):
  with pytest.raises(ValueError, match='no image files'):
    data.Pipeline(f'folder:{tmp_path}', image_size=16)
  with pytest.raises(FileNotFoundError, match='not found'):
    data.Pipeline(f'folder:{tmp_path}/missing', image_size=16)
  _write_images(tmp_path, [(20, 30), (12, 40), (30, 30)])
  with pytest.raises(ValueError, match=r'img1.png is 12x40, smaller than the 16x16 crop'):
    data.Pipeline(f'folder:{tmp_path}', image_size=16, batch_size=1)
  (tmp_path / 'img1.png').write_bytes(b'not a png')
  with pytest.raises(ValueError, match='cannot read image .*img1.png'):
    data.Pipeline(f'folder:{tmp_path}', image_size=16, batch_size=1)


def test_bad_dataset_and_batch_settings_are_errors():
  with pytest.raises(ValueError, match="unknown dataset 'imagenet'"):
    data.Pipeline('imagenet')
  with pytest.raises(ValueError, match='divisible by the process count'):
    data.Pipeline('embedded', image_size=16, batch_size=3, process_count=2)


def test_tfds_source_reads_a_prepared_dataset_without_tensorflow(tmp_path):
  SirenJaxTinyColour(data_dir=str(tmp_path), file_format='array_record').download_and_prepare()
  pipeline = data.Pipeline('tfds:siren_jax_tiny_colour:train', image_size=16, batch_size=2,
                           data_dir=str(tmp_path), val_fraction=0.2, test_fraction=0.2)
  assert len(pipeline.source) == 10
  batch = pipeline.train_batch(1)
  assert batch['rgb'].shape == (2, 16, 16, 3)
  record = np.asarray(pipeline.source.source[int(pipeline.splits['val'][0])]['image'])
  top = (record.shape[0] - 16) // 2  # Centre crop of a (16 + i % 5, 20) record (not resized).
  expected = data.to_model_arrays(record[None, top:top + 16, 2:18] / 255.0)
  np.testing.assert_allclose(pipeline.eval_set('val')['rgb'][:1], expected['rgb'], atol=1e-6)


def test_tfds_errors_say_what_is_wrong(tmp_path):
  with pytest.raises(ValueError, match="unknown TFDS dataset 'no_such_dataset_xyz'"):
    data.Pipeline('tfds:no_such_dataset_xyz', data_dir=str(tmp_path))
  with pytest.raises(ValueError, match="'beans' split 'train' is not ready .*tfds build beans"):
    data.Pipeline('tfds:beans', data_dir=str(tmp_path))


SirenJaxTinyPhotos = tiny_rgb_builder(
    'SirenJaxTinyPhotos', count=6, shape=lambda i: (16, 18), seed=1, module=__name__)


def _photos_per_split(pipeline):
  return {s: {pipeline.source.groups[i] for i in pipeline.splits[s]} for s in data.SPLITS}


def _assert_no_photo_in_two_splits(pipeline):
  photos = _photos_per_split(pipeline)
  for a in data.SPLITS:
    for b in data.SPLITS:
      if a < b:
        assert not photos[a] & photos[b], (a, b, photos[a] & photos[b])
  together = np.sort(np.concatenate([pipeline.splits[s] for s in data.SPLITS]))
  np.testing.assert_array_equal(together, np.arange(len(pipeline.source)))


def _write(folder, count, shape=(20, 24)):
  os.makedirs(folder, exist_ok=True)
  rng = np.random.default_rng(len(str(folder)))
  for i in range(count):
    iio.imwrite(os.path.join(folder, f'img{i}.png'), rng.integers(0, 256, shape + (3,), np.uint8))


@pytest.mark.parametrize('split_seed', [0, 1, 2])
def test_embedded_tiles_of_one_photo_share_a_split(split_seed):
  pipeline = data.Pipeline('embedded', image_size=16, batch_size=4, split_seed=split_seed,
                           val_fraction=0.2, test_fraction=0.2)
  # Every photo gives several tiles, so a shuffle of tiles would split photos.
  counts = {g: pipeline.source.groups.count(g) for g in set(pipeline.source.groups)}
  assert len(counts) == 9 and min(counts.values()) > 1
  _assert_no_photo_in_two_splits(pipeline)
  photos = _photos_per_split(pipeline)
  assert [len(photos[s]) for s in data.SPLITS] == [5, 2, 2]  # round(0.2 * 9) = 2 photos held out.


def test_stereo_views_are_one_photo_and_cat_is_refused():
  source = data.open_source('embedded:stereo_motorcycle,grace_hopper', image_size=16,
                            photo_side=40)
  # Two 40x59 views of the motorcycle -> 2 x (2 x 2) tiles of 20, one photo;
  # grace hopper 47x40 -> 2 x 2.
  assert source.groups.count('stereo_motorcycle') == 8
  assert source.groups.count('grace_hopper') == 4
  splits = data.split_groups(source.groups, 0.0, 0.4, split_seed=0)
  _photos = {s: {source.groups[i] for i in splits[s]} for s in data.SPLITS}
  assert len(_photos['test']) == 1 and not _photos['val'] and not _photos['test'] & _photos['train']
  with pytest.raises(ValueError, match="'cat' is the same photo as 'chelsea'"):
    data.open_source('embedded:chelsea,cat', image_size=16)
  with pytest.raises(ValueError, match='bad embedded photo list'):
    data.open_source('embedded:astronaut,astronaut', image_size=16)


def test_zero_fractions_train_on_every_photo():
  pipeline = data.Pipeline('embedded:astronaut,coffee', image_size=16, batch_size=4,
                           val_fraction=0.0, test_fraction=0.0, photo_side=48)
  # 20-pixel tiles: astronaut 48x48 -> 2 x 2, coffee 48x72 -> 2 x 3.
  assert len(pipeline.splits["train"]) == len(pipeline.source) == 2 * 2 + 2 * 3
  with pytest.raises(ValueError, match='the test split .* is empty'):
    pipeline.eval_set('test')


def test_folder_split_is_by_file(tmp_path):
  _write(tmp_path, 10)
  pipeline = data.Pipeline(f'folder:{tmp_path}', image_size=16, batch_size=2,
                           val_fraction=0.2, test_fraction=0.2)
  _assert_no_photo_in_two_splits(pipeline)
  assert [len(pipeline.splits[s]) for s in data.SPLITS] == [6, 2, 2]


def test_folder_with_split_subfolders_uses_them(tmp_path):
  for split, count in (('train', 4), ('val', 2), ('test', 3)):
    _write(tmp_path / split, count)
  pipeline = data.Pipeline(f'folder:{tmp_path}', image_size=16, batch_size=2)
  _assert_no_photo_in_two_splits(pipeline)
  for split, count in (('train', 4), ('val', 2), ('test', 3)):
    names = [pipeline.source.names[i] for i in pipeline.splits[split]]
    assert len(names) == count and all(os.sep + split + os.sep in n for n in names)
  os.rename(tmp_path / 'val', tmp_path / 'other')
  with pytest.raises(ValueError, match='not all of train/, val/, test/'):
    data.Pipeline(f'folder:{tmp_path}', image_size=16, batch_size=2)


def test_tfds_split_is_by_record(tmp_path):
  SirenJaxTinyPhotos(data_dir=str(tmp_path), file_format='array_record').download_and_prepare()
  pipeline = data.Pipeline('tfds:siren_jax_tiny_photos', image_size=16, batch_size=2,
                           data_dir=str(tmp_path), val_fraction=0.2, test_fraction=0.2)
  _assert_no_photo_in_two_splits(pipeline)
  assert len(set(pipeline.source.groups)) == 6


def test_split_groups_keeps_repeated_group_names_together():
  groups = ['a', 'b', 'a', 'c', 'b', 'd', 'a', 'e']
  for seed in range(5):
    splits = data.split_groups(groups, 0.2, 0.2, split_seed=seed)
    owner = {}
    for split, indices in splits.items():
      for i in indices:
        assert owner.setdefault(groups[i], split) == split
  with pytest.raises(ValueError, match='too few'):
    data.split_groups(['a', 'a', 'b'], 0.3, 0.3)


def test_split_sizes_worked_by_hand():
  # Ten examples, val 0.05 and test 0.26: round(0.5) = 0 -> at least 1 val; round(2.6) = 3 test.
  sizes = {s: len(i) for s, i in data.split_indices(10, 0.05, 0.26).items()}
  assert sizes == {'train': 6, 'val': 1, 'test': 3}
  # Test 0.04: round(0.4) = 0 -> at least 1 test example too.
  sizes = {s: len(i) for s, i in data.split_indices(10, 0.26, 0.04).items()}
  assert sizes == {'train': 6, 'val': 3, 'test': 1}
  # By photo: five photos (two examples each), val fraction 0 -> no val photo at all, test 0.4
  # -> 2 photos; train keeps the other 3 photos' 6 examples.
  groups = [g for g in 'abcde' for _ in range(2)]
  sizes = {s: len(i) for s, i in data.split_groups(groups, 0.0, 0.4).items()}
  assert sizes == {'train': 6, 'val': 0, 'test': 4}


@pytest.mark.parametrize('val, test', [
    (1.0, 0.0), (0.0, 1.0), (0.5, 0.5), (-0.1, 0.2), (0.2, -0.1), (0.6, 0.6)])
def test_split_groups_rejects_fractions_outside_0_1_or_summing_to_1(val, test):
  with pytest.raises(ValueError, match=r'must be in \[0, 1\) and sum to less than 1'):
    data.split_groups(list('abcdefghij'), val, test)


def test_split_groups_allows_fractions_of_zero_and_just_under_one():
  groups = list('abcdefghij')
  assert [len(v) for v in data.split_groups(groups, 0.0, 0.0).values()] == [10, 0, 0]
  assert [len(v) for v in data.split_groups(groups, 0.0, 0.8).values()] == [2, 0, 8]
  assert [len(v) for v in data.split_groups(groups, 0.8, 0.0).values()] == [2, 8, 0]


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


def test_a_photo_folder_in_a_bucket_that_does_not_answer_is_one_value_error(monkeypatch):
  def refuse(path):
    raise RuntimeError('401 Unauthorized')  # As a remote client might.

  monkeypatch.setattr(files, 'exists', refuse)
  with pytest.raises(ValueError, match="cannot reach 'gs://bucket/photos': RuntimeError: 401"):
    data.Pipeline('folder:gs://bucket/photos', image_size=16)
