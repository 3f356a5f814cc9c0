"""Splits by photo, never by tile: no photo appears in two splits, for every data source."""

import os

import imageio.v3 as iio
import numpy as np
import pytest

from siren_jax import data
from tests import tfds_builders


SirenJaxTinyPhotos = tfds_builders.tiny_rgb_builder(
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
