"""siren_jax.files: images and .inr files through etils.epath round-trip through a (fake) bucket
and touch no local disk; a gs:// path without the gcs extra, a bucket that does not answer, or an
unknown URL scheme is one ValueError line."""

from __future__ import annotations

import os

import numpy as np
import pytest

from siren_jax import files, images, inr_file
from tests.fake_gcs import HAS_GCSFS, bucket  # noqa: F401 (bucket: a fixture)
from tests.helpers import SMALL_SIREN


def test_png_and_inr_files_round_trip_through_a_bucket_and_touch_no_local_disk(bucket,
                                                                             camera32_fit):
  root, cwd = bucket
  image = images.load_image('camera', size=16)
  images.save_png('gs://bucket/a/b/x.png', image)
  assert (root / 'bucket' / 'a' / 'b' / 'x.png').is_file()
  # 8-bit PNG: the round trip is exact to half a grey level (1/255 in [-1, 1] units).
  np.testing.assert_allclose(images.load_image('gs://bucket/a/b/x.png'), image, atol=1 / 255)
  size = inr_file.save('gs://bucket/net.inr', camera32_fit.params, model=SMALL_SIREN, height=32,
                       width=32, channels=1)
  assert size == (root / 'bucket' / 'net.inr').stat().st_size
  loaded = inr_file.load('gs://bucket/net.inr')
  local = cwd.parent / 'net.inr'
  inr_file.save(str(local), camera32_fit.params, model=SMALL_SIREN, height=32, width=32,
                channels=1)
  np.testing.assert_array_equal(loaded.render(8, 8), inr_file.load(str(local)).render(8, 8))
  with pytest.raises(FileNotFoundError, match='gs://bucket/none.inr'):
    inr_file.load('gs://bucket/none.inr')
  assert not os.listdir(cwd)


@pytest.mark.skipif(HAS_GCSFS, reason='gcsfs is installed: gs:// is reachable')
def test_gs_paths_without_the_gcs_extra_are_one_value_error_naming_it():
  for call in (lambda: images.save_png('gs://bucket/x.png', np.zeros((2, 2))),
               lambda: images.read_image('gs://bucket/x.png'),
               lambda: files.check_reachable('gs://bucket/run')):
    with pytest.raises(ValueError, match=r"gcsfs.*pip install 'siren_jax\[gcs\]'") as error:
      call()
    assert '\n' not in str(error.value)


def test_a_bucket_that_does_not_answer_is_one_value_error(monkeypatch):
  def refuse(path):
    raise RuntimeError('401 Unauthorized\nmore detail')  # As a remote client might.

  monkeypatch.setattr(files, 'exists', refuse)
  with pytest.raises(ValueError) as error:
    files.check_reachable('gs://bucket/run')
  assert str(error.value) == "cannot reach 'gs://bucket/run': RuntimeError: 401 Unauthorized"
  files.check_reachable('/local/paths/are/not/probed')


def test_an_unknown_url_scheme_is_a_value_error():
  with pytest.raises(ValueError, match="unsupported URL scheme"):
    files.check_reachable('foo://bucket/run')


def test_walk_and_copy_tree_in_a_bucket_keep_urls_and_copy_the_last_file_last(bucket,
                                                                             monkeypatch):
  root, cwd = bucket
  for name in ('b/x.json', 'b/sub/y.bin', 'b/a.txt', 'b/.hidden/z'):
    files.write_bytes(f'gs://bucket/{name}', name.encode())
  assert files.list_dir('gs://bucket/b') == ['.hidden', 'a.txt', 'sub', 'x.json']
  walked = []
  for directory, dirs, names in files.walk('gs://bucket/b'):
    if '.hidden' in dirs:
      dirs.remove('.hidden')  # Pruned: not entered.
    walked.append((directory, list(dirs), names))
  assert walked == [('gs://bucket/b', ['sub'], ['a.txt', 'x.json']),
                    ('gs://bucket/b/sub', [], ['y.bin'])]
  written = []
  write = files.write_bytes
  monkeypatch.setattr(files, 'write_bytes', lambda path, data: (written.append(path),
                                                                write(path, data)))
  files.copy_tree('gs://bucket/b', 'gs://bucket/c', last='x.json')
  assert written[-1] == 'gs://bucket/c/x.json' and len(written) == 4
  assert (root / 'bucket' / 'c' / 'sub' / 'y.bin').read_bytes() == b'b/sub/y.bin'
  with pytest.raises(FileNotFoundError, match='gs://bucket/none'):
    files.list_dir('gs://bucket/none')
  assert not os.listdir(cwd)


def test_walk_lists_a_link_to_a_directory_without_entering_it(tmp_path):
  (tmp_path / 'real').mkdir()
  (tmp_path / 'real' / 'f').write_text('')
  (tmp_path / 'link').symlink_to(tmp_path / 'real')
  assert list(files.walk(tmp_path)) == [(str(tmp_path), ['link', 'real'], []),
                                        (str(tmp_path / 'real'), [], ['f'])]


def test_is_file_is_false_for_a_directory_and_a_missing_path(bucket, tmp_path):
  root, cwd = bucket
  files.write_bytes('gs://bucket/d/f', b'x')
  (tmp_path / 'f').write_bytes(b'x')
  for base in ('gs://bucket/d', str(tmp_path)):
    assert files.is_file(f'{base}/f')
    assert not files.is_file(base) and not files.is_file(f'{base}/missing')
  assert not os.listdir(cwd)
