"""Tests of siren_jax.data: sources, splits, determinism, sharding and error messages."""

import os

import imageio.v3 as iio
import numpy as np
import pytest

from siren_jax import data
from siren_jax.colorize import colour
from tests import tfds_builders


SirenJaxTinyColour = tfds_builders.tiny_rgb_builder(
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
