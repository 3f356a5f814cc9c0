"""Random crops (siren_jax.data.crops): geometry against a closed form, purity in (seed, step),
resuming after a kill, per-host slices, views against scikit-image, prefetching, and the same
pipeline over a folder, a built corpus and a div2k-shaped tfds dataset."""

import os
import threading

import imageio.v3 as iio
import numpy as np
import pytest
import skimage.color
import tensorflow_datasets as tfds
from PIL import Image

from siren_jax import files
from siren_jax.data import corpus, crops
from tests.fake_gcs import bucket  # noqa: F401 (a fixture)

H, W = 64, 96


def _ramp():
  """(64, 96, 3) uint8 linear in the pixel indices: (y + 2x, 3y, 2x + 5), all below 256."""
  y, x = np.mgrid[0:H, 0:W]
  return np.stack([y + 2 * x, 3 * y, 2 * x + 5], axis=-1).astype(np.uint8)


def _ramp_crop(side, top, left, size):
  """The ramp sampled at the crop's output pixel centres: pixel i of `size` covers
  [top + i side/size, top + (i+1) side/size) in source pixels, centre - 0.5 in indices."""
  i, j = np.mgrid[0:size, 0:size]
  y = top + (i + 0.5) * side / size - 0.5
  x = left + (j + 0.5) * side / size - 0.5
  return np.stack([y + 2 * x, 3 * y, 2 * x + 5], axis=-1)


@pytest.mark.parametrize('fraction, position, size, flip', [
    (0.5, (0.3, 0.6), 16, False),   # side 32: top floor(0.3 * 33) = 9, left floor(0.6 * 65) = 39
    (1.0, (0.0, 0.99), 24, True),   # side 64: top 0, left floor(0.99 * 33) = 32
    (0.25, (0.99, 0.0), 32, False),  # side 16 upscaled to 32: top floor(0.99 * 49) = 48
])
def test_crop_of_a_linear_ramp_matches_the_closed_form(fraction, position, size, flip):
  side = round(fraction * H)
  top, left = int(position[0] * (H - side + 1)), int(position[1] * (W - side + 1))
  expected = _ramp_crop(side, top, left, size)
  if flip:
    expected = expected[:, ::-1]
  got = crops.crop(_ramp(), size, fraction, position, flip)
  assert got.shape == (size, size, 3) and got.dtype == np.uint8
  # Bicubic weights preserve linear functions; PIL's 8-bit arithmetic rounds within 1 level. A
  # crop one pixel off is 3 levels off in the 3y channel.
  np.testing.assert_allclose(got, expected, atol=1.0)


def test_a_crop_as_large_as_the_output_is_the_exact_slice():
  photo = np.random.default_rng(0).integers(0, 256, (40, 50, 3), dtype=np.uint8)
  got = crops.crop(photo, 20, 0.5, (0.5, 0.25), True)  # side 20: top 10, left floor(0.25*31)=7
  np.testing.assert_array_equal(got, photo[10:30, 7:27][:, ::-1])


class _Photos:
  """A PhotoSource of random photos of several sizes that counts its decodes."""

  def __init__(self, count=5):
    rng = np.random.default_rng(1)
    self.arrays = [rng.integers(0, 256, (30 + 7 * i, 50 - 3 * i, 3), dtype=np.uint8)
                   for i in range(count)]
    self.groups = [f'p{i}' for i in range(count)]
    self.reads = 0

  def __len__(self):
    return len(self.arrays)

  def __getitem__(self, index):
    self.reads += 1
    return self.arrays[index]


def _crops(photos=None, **kwargs):
  kwargs = {'size': 8, 'batch_size': 6, 'seed': 3, 'process_index': 0, 'process_count': 1,
            **kwargs}
  return crops.Crops(photos or _Photos(), **kwargs)


def test_batches_are_a_pure_function_of_seed_and_step():
  one, two = _crops(), _crops()
  for step in (0, 7, 2):
    a = one.batch(step)['rgb']
    np.testing.assert_array_equal(a, two.batch(step)['rgb'])
  assert not np.array_equal(one.batch(0)['rgb'], one.batch(1)['rgb'])
  assert not np.array_equal(one.batch(0)['rgb'], _crops(seed=4).batch(0)['rgb'])


def test_each_example_is_the_crop_its_draws_describe():
  pipeline = _crops(scale=(0.3, 0.9))
  draws = pipeline.draws(5)
  batch = pipeline.batch(5)['rgb']
  for i in range(6):
    photo = pipeline.photos.arrays[draws['photo'][i]]
    expected = crops.crop(photo, 8, draws['side'][i], draws['position'][i], draws['flip'][i])
    np.testing.assert_allclose(batch[i], expected / 127.5 - 1.0, atol=1e-6)
  assert (draws['side'] >= 0.3).all() and (draws['side'] <= 0.9).all()
  assert not _crops(flip=False).draws(5)['flip'].any()


def test_the_crop_stream_resumes_after_a_kill():
  uninterrupted = [(s, b['rgb']) for s, b in _crops().iterate(0, 8)]
  stream = _crops().iterate(0)
  for _, _ in zip(range(3), stream):
    pass
  stream.close()  # Killed after step 2; a new process restarts from step 3.
  resumed = [(s, b['rgb']) for s, b in _crops().iterate(3, 5)]
  assert [s for s, _ in resumed] == list(range(3, 8))
  for (s, a), (t, b) in zip(uninterrupted[3:], resumed):
    assert s == t
    np.testing.assert_array_equal(a, b)


def test_each_host_takes_its_slice_of_the_global_batch():
  whole = _crops(batch_size=6).batch(4)['rgb']
  parts = [_crops(batch_size=6, process_index=p, process_count=3).batch(4)['rgb']
           for p in range(3)]
  assert all(p.shape == (2, 8, 8, 3) for p in parts)
  np.testing.assert_array_equal(np.concatenate(parts), whole)


def test_decoded_photos_are_cached():
  photos = _Photos(count=2)
  pipeline = _crops(photos, cache_photos=2)
  pipeline.batch(0)
  pipeline.batch(1)
  assert photos.reads == 2


def test_views_match_scikit_image_lab():
  batch = _crops(views=('rgb', 'grey', 'lab')).batch(2)
  rgb = (batch['rgb'] + 1.0) / 2.0
  lab = skimage.color.rgb2lab(rgb.astype(np.float64))
  np.testing.assert_allclose(batch['grey'][..., 0], lab[..., 0] / 50.0 - 1.0, atol=2e-4)
  np.testing.assert_allclose(batch['lab'][..., 0], lab[..., 0] / 50.0 - 1.0, atol=2e-4)
  np.testing.assert_allclose(batch['lab'][..., 1:], lab[..., 1:] / 128.0, atol=2e-4)
  assert batch['grey'].shape == (6, 8, 8, 1) and batch['lab'].dtype == np.float32


@pytest.mark.parametrize('kwargs, message', [
    ({'scale': (0.0, 1.0)}, 'scale'), ({'scale': (0.5, 1.5)}, 'scale'),
    ({'views': ('hsv',)}, 'views'), ({'batch_size': 5, 'process_count': 2}, 'divisible'),
    ({'process_index': 2, 'process_count': 2}, 'process_index'), ({'size': 0}, 'positive')])
def test_bad_arguments_are_refused(kwargs, message):
  with pytest.raises(ValueError, match=message):
    _crops(**kwargs)


def test_prefetch_raises_an_error_at_its_step_and_stops_its_thread():
  def batch(step):
    if step == 2:
      raise ValueError('photo 2 is broken')
    return step * 10

  got = []
  with pytest.raises(ValueError, match='photo 2 is broken'):
    for step, value in crops.prefetch(batch, range(5)):
      got.append((step, value))
  assert got == [(0, 0), (1, 10)]
  before = threading.active_count()
  stream = crops.prefetch(lambda s: s, range(10**6), buffer_size=3)
  assert next(stream) == (0, 0)
  stream.close()
  assert threading.active_count() == before
  assert list(crops.prefetch(lambda s: -s, range(3), buffer_size=1)) == [(0, 0), (1, -1),
                                                                         (2, -2)]
  with pytest.raises(ValueError, match='buffer_size'):
    crops.prefetch(lambda s: s, range(3), buffer_size=0)


# --- Sources -----------------------------------------------------------------------------------

def test_a_folder_source_reads_its_files(tmp_path):
  arrays = {}
  for i, name in enumerate(['b.png', 'a.png', 'sub/c.png']):
    arrays[name] = np.random.default_rng(i).integers(0, 256, (12 + i, 20, 3), dtype=np.uint8)
    (tmp_path / name).parent.mkdir(exist_ok=True)
    iio.imwrite(tmp_path / name, arrays[name])
  grey = np.random.default_rng(9).integers(0, 256, (12, 20), dtype=np.uint8)
  iio.imwrite(tmp_path / 'grey.png', grey)
  photos = crops.open_photos(f'folder:{tmp_path}')
  assert photos.names == ['a.png', 'b.png', 'grey.png', 'sub/c.png']
  for i, name in enumerate(photos.names):
    expected = np.repeat(grey[..., None], 3, axis=-1) if name == 'grey.png' else arrays[name]
    np.testing.assert_array_equal(photos[i], expected)
  assert crops.Crops(photos, size=8, batch_size=2, process_index=0,
                     process_count=1).batch(0)['rgb'].shape == (2, 8, 8, 3)


def test_a_folder_in_a_bucket_is_a_source_and_touches_no_local_disk(bucket):
  root, cwd = bucket
  arrays = {name: np.random.default_rng(i).integers(0, 256, (12 + i, 20, 3), dtype=np.uint8)
            for i, name in enumerate(['b.png', 'a.png', 'sub/c.png'])}
  for name, pixels in arrays.items():
    files.write_bytes(f'gs://bucket/photos/{name}', iio.imwrite('<bytes>', pixels,
                                                                extension='.png'))
  files.write_bytes('gs://bucket/photos/.hidden/d.png', b'')  # Hidden: skipped.
  photos = crops.open_photos('folder:gs://bucket/photos')
  assert photos.names == ['a.png', 'b.png', 'sub/c.png']
  assert photos.files == [f'gs://bucket/photos/{n}' for n in photos.names]
  for i, name in enumerate(photos.names):
    np.testing.assert_array_equal(photos[i], arrays[name])
  assert crops.Crops(photos, size=8, batch_size=2, process_index=0,
                     process_count=1).batch(0)['rgb'].shape == (2, 8, 8, 3)
  with pytest.raises(FileNotFoundError, match='gs://bucket/none'):
    crops.open_photos('folder:gs://bucket/none')
  assert not os.listdir(cwd)


def test_a_built_folder_corpus_is_a_source(tmp_path):
  folder = tmp_path / 'photos'
  folder.mkdir()
  for i in range(3):
    iio.imwrite(folder / f'{i}.png', np.full((16, 16, 3), 80 * i, np.uint8))
  corpus.fetch_and_build(str(tmp_path / 'data'), folder=str(folder), log=lambda line: None)
  test = crops.open_photos('corpus/folder:test', data_dir=str(tmp_path / 'data'))
  (name,) = test.names
  np.testing.assert_array_equal(test[0], iio.imread(folder / name))
  batch = crops.Crops(test, size=4, batch_size=2, process_index=0, process_count=1).batch(0)
  np.testing.assert_allclose(batch['rgb'], test[0][0, 0, 0] / 127.5 - 1.0, atol=1e-6)
  with pytest.raises(ValueError, match='unknown photos'):
    crops.open_photos('imagenet:train')


class SirenJaxFakeDiv2k(tfds.core.GeneratorBasedBuilder):
  """div2k's shape: 'hr' and 'lr' (half size) PNG images, train and validation splits."""

  VERSION = tfds.core.Version('2.0.0')

  def _info(self):
    return tfds.core.DatasetInfo(builder=self, features=tfds.features.FeaturesDict({
        'hr': tfds.features.Image(), 'lr': tfds.features.Image()}))

  def _split_generators(self, dl_manager):
    del dl_manager
    return {'train': self._generate_examples(0, 3), 'validation': self._generate_examples(1, 2)}

  def _generate_examples(self, seed, count):
    for i in range(count):
      hr = fake_div2k_hr(seed, i)
      lr = Image.fromarray(hr).resize((hr.shape[1] // 2, hr.shape[0] // 2))
      yield i, {'hr': Image.fromarray(hr), 'lr': lr}  # PIL images: PNG-encoded without TF.


def fake_div2k_hr(seed, i):
  return np.random.default_rng([seed, i]).integers(0, 256, (20 + 2 * i, 30, 3), dtype=np.uint8)


def test_the_same_pipeline_reads_a_div2k_shaped_tfds_dataset(tmp_path):
  SirenJaxFakeDiv2k(data_dir=str(tmp_path), file_format='array_record').download_and_prepare()
  photos = crops.open_photos('tfds:siren_jax_fake_div2k:validation', data_dir=str(tmp_path),
                             image_key='hr')
  assert len(photos) == 2
  stored = sorted((photos[i] for i in range(2)), key=lambda a: a.shape[0])
  for i in range(2):
    np.testing.assert_array_equal(stored[i], fake_div2k_hr(1, i))
  pipeline = crops.Crops(photos, size=10, batch_size=4, seed=0, scale=(0.5, 0.5), flip=False,
                         process_index=0, process_count=1)
  draws = pipeline.draws(1)
  batch = pipeline.batch(1)['rgb']
  for k in range(4):  # short side 20 or 22, half of it: 10 or 11 pixels.
    photo = photos[draws['photo'][k]]
    expected = crops.crop(photo, 10, 0.5, draws['position'][k], False)
    np.testing.assert_allclose(batch[k], expected / 127.5 - 1.0, atol=1e-6)
  with pytest.raises(ValueError, match="no feature 'image'; its features are hr, lr"):
    crops.open_photos('tfds:siren_jax_fake_div2k:train', data_dir=str(tmp_path))[0]


class SirenJaxFakeGrey(tfds.core.GeneratorBasedBuilder):
  """Grey PNG images (one channel) and 16-bit ones, to check the conversion to RGB uint8."""

  VERSION = tfds.core.Version('1.0.0')

  def _info(self):
    return tfds.core.DatasetInfo(builder=self, features=tfds.features.FeaturesDict({
        'image': tfds.features.Image(shape=(None, None, 1)),
        'deep': tfds.features.Tensor(shape=(None, None, 3), dtype=np.uint16,
                                      encoding='zlib')}))

  def _split_generators(self, dl_manager):
    del dl_manager
    return {'train': self._generate_examples()}

  def _generate_examples(self):
    yield 0, {'image': Image.fromarray(fake_grey()[..., 0]), 'deep': fake_deep()}


def fake_grey():
  return np.random.default_rng(5).integers(0, 256, (6, 9, 1), dtype=np.uint8)


def fake_deep():
  return np.array([[[0, 257, 65535], [32896, 0, 514]]], dtype=np.uint16)  # 1x2 pixels.


def test_grey_and_16_bit_tfds_images_become_rgb_uint8(tmp_path):
  SirenJaxFakeGrey(data_dir=str(tmp_path), file_format='array_record').download_and_prepare()
  grey = crops.open_photos('tfds:siren_jax_fake_grey', data_dir=str(tmp_path))[0]
  np.testing.assert_array_equal(grey, np.repeat(fake_grey(), 3, axis=-1))
  deep = crops.open_photos('tfds:siren_jax_fake_grey', data_dir=str(tmp_path),
                           image_key='deep')[0]
  # 16-bit levels v -> round(v / 65535 * 255): 257 -> 1, 32896 -> 128, 514 -> 2.
  np.testing.assert_array_equal(deep, [[[0, 1, 255], [128, 0, 2]]])
