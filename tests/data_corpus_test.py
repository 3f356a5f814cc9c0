"""The photo corpus: its manifest, the split rule, fetching and verifying packages, the
siren_photos builder (on fake packages and folders) and every bad input of tools/fetch_photos."""

import gc
import hashlib
import importlib.metadata
import json
import os
import re
import shutil
import stat
import subprocess
import sys
import tarfile
import tempfile
import time

import imageio.v3 as iio
import numpy as np
import pytest
import tensorflow_datasets as tfds
from absl import flags
from absl.testing import flagsaver
from PIL import Image

from siren_jax import data, files
from siren_jax.data import corpus
from tests.fake_gcs import HAS_GCSFS, bucket  # noqa: F401 (bucket: a fixture)
from tools import fetch_photos

# --- The packaged manifest ---------------------------------------------------------------------


def test_manifest_lists_every_file_with_its_verdict():
  manifest = corpus.load_manifest()
  assert len(manifest.files) == 59  # 9 Python-package files, 12 mate nature, 38 plasma files.
  assert {s.name: s.kind for s in manifest.sources} == {
      'scikit-image': 'python', 'matplotlib': 'python', 'scikit-learn': 'python',
      'mate-backgrounds': 'debian', 'plasma-workspace-wallpapers': 'debian'}
  kept = manifest.kept
  assert len(kept) == 30 and len({e.photo_id for e in kept}) == 29  # The stereo pair: one photo.
  assert all(e.photo and e.licence and len(e.sha256) == 64 and e.size > 0 for e in kept)
  excluded = [e for e in manifest.files if not e.kept]
  assert sum(e.photo for e in excluded) == 2  # The two monochrome photos.
  assert all(e.note.startswith(('not a photo', 'monochrome')) for e in excluded)
  assert {e.tag for e in kept} == {'landscape', 'close-up', 'people', 'objects'}


def test_manifest_splits_are_fixed_by_photo_and_hold_the_builtin_photos_in_test():
  kept = corpus.load_manifest().kept
  photos = {s: {e.photo_id for e in kept if e.split == s} for s in corpus.SPLITS}
  assert {s: len(p) for s, p in photos.items()} == {'train': 18, 'validation': 2, 'test': 9}
  assert not (photos['train'] & photos['test'] or photos['train'] & photos['validation']
              or photos['validation'] & photos['test'])
  assert set(data.NATURAL_PHOTOS) <= photos['test']
  # The test photos span the content: people, objects, close-ups and a landscape.
  assert {e.tag for e in kept if e.split == 'test'} == {'people', 'objects', 'close-up',
                                                       'landscape'}


def test_manifest_splits_follow_the_written_rule():
  kept = corpus.load_manifest().kept
  first = {}
  for e in kept:
    first.setdefault(e.photo_id, (e.tag, e.sha256))
  assigned = corpus.assign_splits(first, corpus.SPLITS, corpus.FIXED_TEST_PHOTOS)
  assert {e.photo_id: e.split for e in kept} == assigned


def test_split_rule_worked_by_hand():
  # 13 close-ups: test round(1.95) = 2, validation round(1.3) = 1; 9 landscapes: round(1.35) = 1
  # and round(0.9) = 1; 2 objects (fewer than 3 splits): both train; 'f' is fixed to test.
  photos = {f'c{i:02d}': ('close-up', f'{i:02d}') for i in range(13)}
  photos.update({f'l{i}': ('landscape', f'{9 - i}') for i in range(9)})
  photos.update({'o1': ('objects', '1'), 'o2': ('objects', '0'), 'f': ('close-up', '00')})
  assigned = corpus.assign_splits(photos, corpus.SPLITS, fixed_test=['f'])
  assert [assigned[f'c{i:02d}'] for i in range(4)] == ['test', 'test', 'validation', 'train']
  # Landscapes sorted by sha256 ('0' first) are l8, l7, ...
  assert (assigned['l8'], assigned['l7'], assigned['l6']) == ('test', 'validation', 'train')
  assert assigned['o1'] == assigned['o2'] == 'train' and assigned['f'] == 'test'
  assert list(assigned.values()).count('test') == 4
  # Ten photos of one tag: test round(1.5) = 2 (half up), validation round(1.0) = 1.
  ten = corpus.assign_splits({str(i): ('', str(i)) for i in range(10)})
  assert [ten[str(i)] for i in range(10)] == ['test'] * 2 + ['validation'] + ['train'] * 7
  # Without validation and test, every photo trains.
  assert set(corpus.assign_splits({'a': ('', '1')}, ['train']).values()) == {'train'}


def test_split_rule_refuses_too_few_photos_and_bad_split_lists():
  with pytest.raises(ValueError, match='1 photo.* too few for the splits train, validation, '
                                       'test: validation, test would be empty'):
    corpus.assign_splits({'a': ('', '1')})
  with pytest.raises(ValueError, match='must list train'):
    corpus.assign_splits({'a': ('', '1')}, ['test'])
  with pytest.raises(ValueError, match='must list train'):
    corpus.check_splits(['train', 'val'])


def test_manifest_checksums_match_the_installed_python_packages():
  manifest = corpus.load_manifest()
  checked = 0
  for entry in manifest.files:
    source = next(s for s in manifest.sources if s.name == entry.source)
    if source.kind != 'python':
      continue
    try:
      path = importlib.metadata.distribution(entry.source).locate_file(entry.path)
    except importlib.metadata.PackageNotFoundError:
      continue
    content = open(path, 'rb').read()
    assert (hashlib.sha256(content).hexdigest(), len(content)) == (entry.sha256, entry.size)
    assert Image.open(path).size == (entry.width, entry.height)
    checked += 1
  assert checked >= 7  # scikit-image and matplotlib are dependencies.


def test_a_bad_manifest_is_refused(tmp_path):
  content = json.loads(corpus.MANIFEST_PATH.read_text())
  content['files'][1]['split'] = 'validation'  # motorcycle_left, away from motorcycle_right.
  moved = [f for f in content['files'] if f['photo_id'] == 'stereo_motorcycle']
  moved[0]['split'], moved[1]['split'] = 'train', 'test'
  path = tmp_path / 'manifest.json'
  path.write_text(json.dumps(content))
  with pytest.raises(ValueError, match="photo 'stereo_motorcycle' lies in two splits"):
    corpus.load_manifest(path)


# --- Fake packages: apt-get and dpkg-deb stand-ins over .deb files that are tar archives -------

FAKE_APT_GET = '''#!{python}
import os, shutil, sys
assert sys.argv[1] == 'download', sys.argv
name, _, version = sys.argv[2].partition('=')
archive = os.environ['FAKE_ARCHIVE']
debs = sorted(f for f in os.listdir(archive) if f.startswith(name + '_'))
if version:
  debs = [f for f in debs if f.split('_')[1] == version.replace(':', '%3a')]
if not debs:
  sys.exit("E: Can't find a source to download version '%s' of '%s'" % (version, name))
shutil.copy(os.path.join(archive, debs[-1]), os.getcwd())
'''

FAKE_DPKG_DEB = '''#!{python}
import os, sys, tarfile
if sys.argv[1] == '-x':
  with tarfile.open(sys.argv[2]) as deb:
    deb.extractall(sys.argv[3])
elif sys.argv[1] == '-f' and sys.argv[3] == 'Version':
  print(os.path.basename(sys.argv[2]).split('_')[1].replace('%3a', ':'))
else:
  sys.exit('unsupported: %r' % sys.argv)
'''


def _write_tool(folder, name, text):
  path = folder / name
  path.write_text(text.format(python=sys.executable))
  path.chmod(path.stat().st_mode | stat.S_IEXEC)


def _photo(seed, shape=(30, 40)):
  return np.random.default_rng(seed).integers(0, 256, shape + (3,), dtype=np.uint8)


class FakePackages:
  """A fake Debian archive with one package, 'fake-photos' 1:1.0-1, and a manifest for it plus
  two photos of the installed scikit-image; apt-get and dpkg-deb stand-ins first on PATH."""

  VERSION = '1:1.0-1'
  SCOPE = 'usr/share/fake/*'
  # (file, photo id, tag, split or '' for excluded)
  FILES = [('a.png', 'a', 'landscape', 'train'), ('b.png', 'b', 'close-up', 'train'),
           ('c.jpg', 'c', 'objects', 'validation'), ('d1.png', 'd', 'people', 'test'),
           ('d2.png', 'd', 'people', 'test'), ('logo.png', '', '', '')]

  def __init__(self, tmp_path, monkeypatch):
    self.root = tmp_path / 'fake'
    self.tree = self.root / 'tree'
    folder = self.tree / 'usr' / 'share' / 'fake'
    folder.mkdir(parents=True)
    self.arrays = {}
    for k, (name, *_) in enumerate(self.FILES):
      self.arrays[name] = _photo(k, (30 + k, 40))
      iio.imwrite(folder / name, self.arrays[name], **({'quality': 95} if name.endswith(
          '.jpg') else {}))
    os.symlink('a.png', folder / 'a_small.png')  # Other screen sizes are links: not files.
    bin_dir = self.root / 'bin'
    bin_dir.mkdir()
    _write_tool(bin_dir, 'apt-get', FAKE_APT_GET)
    _write_tool(bin_dir, 'dpkg-deb', FAKE_DPKG_DEB)
    self.archive = self.root / 'archive'
    self.archive.mkdir()
    self.pack()
    monkeypatch.setenv('FAKE_ARCHIVE', str(self.archive))
    monkeypatch.setenv('PATH', f'{bin_dir}{os.pathsep}{os.environ["PATH"]}')
    self.manifest = self.root / 'manifest.json'
    self.write_manifest()

  def pack(self, version=VERSION):
    for old in self.archive.glob('*.deb'):
      old.unlink()
    with tarfile.open(self.archive / f'fake-photos_{version.replace(":", "%3a")}_all.deb',
                      'w') as deb:
      deb.add(self.tree / 'usr', arcname='usr')

  def write_manifest(self):
    files = []
    for name, photo_id, tag, split in self.FILES:
      path = self.tree / 'usr' / 'share' / 'fake' / name
      content = path.read_bytes()
      files.append(dict(
          source='fake-photos', version=self.VERSION, path=f'usr/share/fake/{name}',
          sha256=hashlib.sha256(content).hexdigest(), size=len(content),
          width=self.arrays[name].shape[1], height=self.arrays[name].shape[0],
          licence='CC0 (test)', photo=bool(split), kept=bool(split),
          note='' if split else 'not a photo: logo', photo_id=photo_id, tag=tag, split=split))
    skimage_version = importlib.metadata.version('scikit-image')
    for name, split in (('coffee.png', 'train'), ('rocket.jpg', 'test')):
      path = importlib.metadata.distribution('scikit-image').locate_file(f'skimage/data/{name}')
      content = open(path, 'rb').read()
      width, height = Image.open(path).size
      files.append(dict(
          source='scikit-image', version=skimage_version, path=f'skimage/data/{name}',
          sha256=hashlib.sha256(content).hexdigest(), size=len(content), width=width,
          height=height, licence='CC0', photo=True, kept=True, note='', photo_id=name[:-4],
          tag='objects', split=split))
    self.manifest.write_text(json.dumps({
        'name': 'siren_photos', 'builder_version': corpus.VERSION, 'split_rule': 'by hand',
        'sources': [
            dict(name='scikit-image', kind='python', version=skimage_version, scope='',
                 install=''),
            dict(name='fake-photos', kind='debian', version=self.VERSION, scope=self.SCOPE,
                 install='')],
        'files': files}))

  def build(self, data_dir, **kwargs):
    lines = []
    summary = corpus.fetch_and_build(str(data_dir), manifest=str(self.manifest),
                                     log=lines.append, **kwargs)
    return summary, lines


@pytest.fixture
def fake(tmp_path, monkeypatch):
  return FakePackages(tmp_path, monkeypatch)


@pytest.fixture
def built(fake, tmp_path, monkeypatch):
  """The fake corpus built into tmp_path/data; its manifest is the one the reader checks."""
  monkeypatch.setattr(corpus, 'MANIFEST_PATH', fake.manifest)
  summary, lines = fake.build(tmp_path / 'data')
  return fake, tmp_path / 'data', summary, lines


def test_fake_packages_build_a_corpus_split_by_photo(built):
  fake, data_dir, summary, lines = built
  # Photos: train a, b, coffee; validation c; test d (two files) and rocket.
  assert {s: (r['photos'], r['files']) for s, r in summary.items()} == {
      'train': (3, 3), 'validation': (1, 1), 'test': (2, 3)}
  # Megapixels by hand: a 30x40, b 31x40, coffee 400x600; c 32x40; d 33x40 + 34x40, rocket
  # 427x640.
  assert summary['train']['megapixels'] == round((1200 + 1240 + 240000) / 1e6, 2)
  assert summary['test']['megapixels'] == round((1320 + 1360 + 273280) / 1e6, 2)
  assert not any('not in the manifest' in line for line in lines)  # Links are not files.
  splits = {s: corpus.open_split(s, str(data_dir)) for s in corpus.SPLITS}
  groups = {s: set(split.groups) for s, split in splits.items()}
  assert groups == {'train': {'a', 'b', 'coffee'}, 'validation': {'c'}, 'test': {'d', 'rocket'}}
  test = splits['test']
  for i, name in enumerate(test.names):
    if name.startswith('fake-photos/'):  # PNG: lossless, the very pixels written.
      np.testing.assert_array_equal(test[i], fake.arrays[os.path.basename(name)])
    else:  # rocket.jpg: the installed file, decoded by imageio.
      path = importlib.metadata.distribution('scikit-image').locate_file(
          'skimage/data/rocket.jpg')
      np.testing.assert_array_equal(test[i], iio.imread(path))


def test_photo_views_are_every_record_of_one_photo(built):
  fake, data_dir, _, _ = built
  test = corpus.open_split('test', str(data_dir))
  views = test.photo_views('d')  # Photo d is two files (a pair): both, in record order.
  assert len(views) == 2
  for view, name in zip(views, [n for n, g in zip(test.names, test.groups) if g == 'd']):
    np.testing.assert_array_equal(view, fake.arrays[os.path.basename(name)])
  with pytest.raises(ValueError, match="no photo 'a'"):  # a is a train photo.
    test.photo_views('a')


def test_the_pipeline_reads_a_built_corpus_with_its_fixed_splits(built):
  _, data_dir, _, _ = built
  pipeline = data.Pipeline('corpus', image_size=16, batch_size=2, data_dir=str(data_dir))
  photos = {s: {pipeline.source.groups[i] for i in pipeline.splits[s]} for s in data.SPLITS}
  assert photos == {'train': {'a', 'b', 'coffee'}, 'val': {'c'}, 'test': {'d', 'rocket'}}
  assert pipeline.train_batch(3)['grey'].shape == (2, 16, 16, 1)


def test_a_second_run_reuses_the_build(built, fake):
  _, data_dir, summary, _ = built
  stamp = (data_dir / 'siren_photos' / 'corpus' / corpus.VERSION / 'dataset_info.json').stat()
  again, lines = fake.build(data_dir)
  assert again == summary and any('already built' in line for line in lines)
  assert (data_dir / 'siren_photos' / 'corpus' / corpus.VERSION /
          'dataset_info.json').stat().st_mtime == stamp.st_mtime


def test_a_changed_byte_is_named_and_allow_mismatch_builds_from_the_rest(fake, tmp_path):
  path = fake.tree / 'usr' / 'share' / 'fake' / 'b.png'
  content = bytearray(path.read_bytes())
  content[-20] ^= 1
  path.write_bytes(bytes(content))
  fake.pack('1:1.1-1')  # A newer version whose b.png differs; 1:1.0-1 is gone.
  with pytest.raises(ValueError, match=r'1 file\(s\) differ from the manifest; first: '
                                       r'fake-photos 1:1.1-1: usr/share/fake/b.png: sha256'):
    fake.build(tmp_path / 'data')
  assert not (tmp_path / 'data').exists()
  summary, lines = fake.build(tmp_path / 'data', allow_mismatch=True)
  assert summary['train']['photos'] == 2
  assert any('skipped fake-photos/usr/share/fake/b.png' in line for line in lines)


def test_a_missing_file_and_extra_files_are_reported(fake, tmp_path):
  (fake.tree / 'usr' / 'share' / 'fake' / 'logo.png').unlink()
  iio.imwrite(fake.tree / 'usr' / 'share' / 'fake' / 'new.png', _photo(9))
  fake.pack()
  with pytest.raises(ValueError, match='usr/share/fake/logo.png: missing from the package'):
    fake.build(tmp_path / 'data')
  _, lines = fake.build(tmp_path / 'data', allow_mismatch=True)
  assert any('1 file(s) under usr/share/fake/* are not in the manifest' in line
             for line in lines)


def test_a_dataset_dir_of_another_builder_version_is_refused(fake, tmp_path, monkeypatch):
  monkeypatch.setattr(corpus, 'MANIFEST_PATH', fake.manifest)
  old = tmp_path / 'data' / 'siren_photos' / 'corpus' / '0.9.0'
  old.mkdir(parents=True)
  (old / 'dataset_info.json').write_text('{}')
  with pytest.raises(ValueError, match='holds siren_photos 0.9.0, built by another version of '
                                       f'the builder \\(this one is {corpus.VERSION}\\)'):
    fake.build(tmp_path / 'data')
  with pytest.raises(ValueError, match='built by another version'):
    corpus.open_split('train', str(tmp_path / 'data'))
  assert sorted(p.name for p in old.parent.iterdir()) == ['0.9.0']


def test_reading_an_unbuilt_corpus_says_how_to_build_it(tmp_path):
  with pytest.raises(ValueError, match='not built in .*python -m tools.fetch_photos '
                                       f'--data_dir={tmp_path}'):
    corpus.open_split('train', str(tmp_path))
  with pytest.raises(ValueError, match='bad corpus dataset'):
    data.Pipeline('corpus/other', data_dir=str(tmp_path))


# --- Folders ---------------------------------------------------------------------------------

def _folder(path, count, shape=(24, 28), seed=100):
  path.mkdir(parents=True, exist_ok=True)
  for i in range(count):
    iio.imwrite(path / f'p{i:02d}.png', _photo(seed + i, shape))
  return path


def test_a_folder_builds_with_the_split_rule(tmp_path):
  folder = _folder(tmp_path / 'photos', 9)
  _folder(folder / 'more', 1, seed=200)  # Recursive: more/p00.png is a tenth photo.
  shutil.copy(folder / 'p01.png', folder / 'z_copy.png')  # The same bytes: stored once.
  lines = []
  summary = corpus.fetch_and_build(str(tmp_path / 'data'), folder=str(folder), log=lines.append)
  # Ten photos, one tag: test round(1.5) = 2, validation round(1.0) = 1, train 7.
  assert {s: r['photos'] for s, r in summary.items()} == {'train': 7, 'validation': 1,
                                                         'test': 2}
  assert any('the same bytes as' in line for line in lines)
  names = {s: corpus.open_split(s, str(tmp_path / 'data'), 'folder').names
           for s in corpus.SPLITS}
  # The two test photos are those with the smallest sha256.
  shas = sorted((hashlib.sha256((folder / n).read_bytes()).hexdigest(), n)
                for n in ['more/p00.png'] + [f'p{i:02d}.png' for i in range(9)])
  assert sorted(names['test']) == sorted(n for _, n in shas[:2])
  assert names['validation'] == [shas[2][1]]


def test_a_folder_with_train_only(tmp_path):
  folder = _folder(tmp_path / 'photos', 1)
  summary = corpus.fetch_and_build(str(tmp_path / 'data'), folder=str(folder),
                                   splits=['train'], log=lambda line: None)
  assert summary == {'train': {'photos': 1, 'files': 1, 'megapixels': 0.0}}


def test_the_builder_alone_reads_a_folder_as_its_manual_dir(tmp_path):
  # What `tfds build siren_photos/folder --manual_dir=PHOTOS` does: no plan handed over.
  folder = _folder(tmp_path / 'photos', 3)
  builder = corpus.SirenPhotos(data_dir=str(tmp_path / 'data'), config='folder',
                               file_format='array_record')
  builder.download_and_prepare(
      download_dir=str(tmp_path / 'downloads'),
      download_config=tfds.download.DownloadConfig(manual_dir=str(folder)))
  names = [corpus.open_split(s, str(tmp_path / 'data'), 'folder').names for s in corpus.SPLITS]
  assert sorted(n for split in names for n in split) == ['p00.png', 'p01.png', 'p02.png']


def test_another_folder_into_the_same_data_dir_is_refused(tmp_path):
  corpus.fetch_and_build(str(tmp_path / 'data'), folder=str(_folder(tmp_path / 'one', 3)),
                         log=lambda line: None)
  with pytest.raises(ValueError, match='holds another build of siren_photos folder'):
    corpus.fetch_and_build(str(tmp_path / 'data'), folder=str(_folder(tmp_path / 'two', 4)),
                           log=lambda line: None)


def test_a_folder_in_a_bucket_builds_into_a_bucket_and_reads_back_touching_no_local_disk(
    bucket, tmp_path, monkeypatch):
  root, cwd = bucket
  scratch = tmp_path / 'tempfiles'  # Where the library's temporary files go here.
  scratch.mkdir()
  monkeypatch.setattr(tempfile, 'tempdir', str(scratch))
  arrays = {name: _photo(100 + i, (24 + i, 28))
            for i, name in enumerate(['p0.png', 'p1.png', 'more/p2.png', 'p3.png'])}
  encoded = {name: iio.imwrite('<bytes>', a, extension='.png') for name, a in arrays.items()}
  for name, data in encoded.items():
    files.write_bytes(f'gs://bucket/photos/{name}', data)
  plan = corpus.folder_photos('gs://bucket/photos', log=lambda line: None)
  assert {(p.key, p.path, p.sha256, p.width, p.height) for p in plan} == {
      (n, f'gs://bucket/photos/{n}', hashlib.sha256(encoded[n]).hexdigest(),
       a.shape[1], a.shape[0]) for n, a in arrays.items()}
  summary = corpus.fetch_and_build('gs://bucket/data', folder='gs://bucket/photos',
                                   splits=['train', 'test'], log=lambda line: None)
  # Four photos, one tag: test max(1, round(0.6)) = 1, train 3.
  assert {s: r['photos'] for s, r in summary.items()} == {'train': 3, 'test': 1}
  built = root / 'bucket' / 'data' / 'siren_photos' / 'folder' / corpus.VERSION
  assert (built / 'dataset_info.json').is_file()
  assert corpus.built_splits('gs://bucket/data', 'folder') == ('train', 'test')
  read = {}
  for split in ('train', 'test'):
    photos = corpus.open_split(split, 'gs://bucket/data', 'folder')
    read.update({name: photos[i] for i, name in enumerate(photos.names)})
    del photos
  gc.collect()  # A split read from a bucket removes its local copy with itself.
  assert read.keys() == arrays.keys()
  for name, pixels in arrays.items():
    np.testing.assert_array_equal(read[name], pixels)
  assert not os.listdir(cwd) and not os.listdir(scratch)


def test_a_build_leaves_no_temporary_directory(tmp_path, monkeypatch):
  # tfds makes a temporary directory for every dataset not built yet and never removes it.
  scratch = tmp_path / 'tempfiles'
  scratch.mkdir()
  monkeypatch.setattr(tempfile, 'tempdir', str(scratch))
  corpus.fetch_and_build(str(tmp_path / 'data'), folder=str(_folder(tmp_path / 'photos', 3)),
                         log=lambda line: None)
  with pytest.raises(ValueError, match='is not built'):
    corpus.open_split('train', str(tmp_path / 'none'), 'folder')
  assert not os.listdir(scratch)


# --- Bad inputs through the command: one error line, exit 2, nothing built --------------------

def _run_tool(argv, capsys):
  with flagsaver.flagsaver():
    flags.FLAGS(['fetch_photos', *argv])
    with pytest.raises(SystemExit) as exit_info:
      fetch_photos.main(['fetch_photos'])
  err = capsys.readouterr().err.strip().splitlines()
  return exit_info.value.code, err


def _assert_error(argv, capsys, data_dir, pattern):
  code, err = _run_tool(argv, capsys)
  assert code == 2 and len(err) == 1, err
  assert err[0].startswith('error: ') and re.search(pattern, err[0]), err
  assert not os.path.exists(data_dir)


def test_command_without_apt_get_says_what_to_install(tmp_path, monkeypatch, capsys):
  empty = tmp_path / 'empty_bin'
  empty.mkdir()
  monkeypatch.setenv('PATH', str(empty))
  _assert_error([f'--data_dir={tmp_path / "data"}'], capsys, tmp_path / 'data',
                'needs apt-get and dpkg-deb, not found on PATH: install them .* --folder=DIR')


def test_command_names_a_file_that_differs_from_the_manifest(fake, tmp_path, capsys):
  path = fake.tree / 'usr' / 'share' / 'fake' / 'c.jpg'
  path.write_bytes(path.read_bytes()[:-1] + b'\x00')
  fake.pack()
  _assert_error([f'--data_dir={tmp_path / "data"}', f'--manifest={fake.manifest}'], capsys,
                tmp_path / 'data', r'fake-photos 1:1.0-1: usr/share/fake/c.jpg: sha256 .*'
                                   r'--allow_mismatch')


@pytest.mark.parametrize('damage', ['truncated', 'garbage'])
def test_command_names_a_corrupted_or_truncated_image(tmp_path, capsys, damage):
  folder = _folder(tmp_path / 'photos', 4)
  iio.imwrite(folder / 'bad.jpg', _photo(7, (64, 64)), quality=90)
  content = (folder / 'bad.jpg').read_bytes()
  (folder / 'bad.jpg').write_bytes(content[:len(content) // 2] if damage == 'truncated'
                                   else b'\x89PNG not really' + content[100:])
  _assert_error([f'--data_dir={tmp_path / "data"}', f'--folder={folder}'], capsys,
                tmp_path / 'data', f'{folder}/bad.jpg: not a readable image')


@pytest.mark.skipif(HAS_GCSFS, reason='gcsfs is installed: gs:// is reachable')
def test_command_with_a_gs_data_dir_without_the_gcs_extra_names_it(tmp_path, capsys):
  folder = _folder(tmp_path / 'photos', 3)
  _assert_error(['--data_dir=gs://bucket/data', f'--folder={folder}'], capsys, tmp_path / 'data',
                r"'gs://bucket/data' needs a filesystem package .*pip install 'siren_jax\[gcs\]'")
  assert os.listdir(tmp_path) == ['photos']


def test_command_refuses_an_empty_folder(tmp_path, capsys):
  (tmp_path / 'photos').mkdir()
  (tmp_path / 'photos' / 'notes.txt').write_text('no photos here')
  _assert_error([f'--data_dir={tmp_path / "data"}', f'--folder={tmp_path / "photos"}'], capsys,
                tmp_path / 'data', 'holds no image files')


def test_command_refuses_one_photo_for_three_splits(tmp_path, capsys):
  folder = _folder(tmp_path / 'photos', 1)
  _assert_error([f'--data_dir={tmp_path / "data"}', f'--folder={folder}'], capsys,
                tmp_path / 'data', '1 photo.* too few for the splits train, validation, test')


def test_command_refuses_a_data_dir_built_by_another_builder_version(tmp_path, capsys):
  old = tmp_path / 'data' / 'siren_photos' / 'folder' / '0.1.0'
  old.mkdir(parents=True)
  (old / 'dataset_info.json').write_text('{}')
  before = sorted(str(p) for p in (tmp_path / 'data').rglob('*'))
  code, err = _run_tool([f'--data_dir={tmp_path / "data"}',
                         f'--folder={_folder(tmp_path / "photos", 3)}'], capsys)
  assert code == 2 and len(err) == 1 and 'built by another version of the builder' in err[0]
  assert sorted(str(p) for p in (tmp_path / 'data').rglob('*')) == before


def test_command_prints_counts_and_megapixels(tmp_path, capsys):
  folder = _folder(tmp_path / 'photos', 3, shape=(1000, 500))
  with flagsaver.flagsaver():
    flags.FLAGS(['fetch_photos', f'--data_dir={tmp_path / "data"}', f'--folder={folder}'])
    fetch_photos.main(['fetch_photos'])
  table = capsys.readouterr().out.strip().splitlines()[-4:]
  assert [line.split() for line in table] == [
      ['train', '1', '1', '0.50'], ['validation', '1', '1', '0.50'], ['test', '1', '1', '0.50'],
      ['total', '3', '3', '1.50']]


# --- The real corpus ---------------------------------------------------------------------------

@pytest.mark.slow  # Downloads ~140 MB of Debian packages: ~20-60 s.
def test_the_real_corpus_builds_and_matches_its_manifest(tmp_path):
  if shutil.which('apt-get') is None or shutil.which('dpkg-deb') is None:
    pytest.skip('apt-get/dpkg-deb unavailable (not a Debian/Ubuntu machine): the corpus cannot '
                'be fetched here')
  policy = subprocess.run(['apt-cache', 'policy', 'mate-backgrounds'], capture_output=True,
                          text=True, check=False).stdout
  if 'Candidate: (none)' in policy or 'Candidate' not in policy:
    pytest.skip('apt has no package lists here (run apt-get update once): the corpus cannot '
                'be fetched')
  pytest.importorskip('sklearn', reason="scikit-learn ships two of the corpus's photos: "
                                        "pip install -e '.[test]'")
  start = time.monotonic()
  summary = corpus.fetch_and_build(str(tmp_path / 'data'), log=lambda line: None)
  assert time.monotonic() - start < 300
  manifest = corpus.load_manifest()
  for split in corpus.SPLITS:
    kept = [e for e in manifest.kept if e.split == split]
    assert summary[split]['files'] == len(kept)
    opened = corpus.open_split(split, str(tmp_path / 'data'))
    stored = {opened.names[i]: hashlib.sha256(opened.encoded(i)).hexdigest()
              for i in range(len(opened))}
    assert stored == {e.key: e.sha256 for e in kept}  # The packages' files, byte for byte.
  assert {s: r['photos'] for s, r in summary.items()} == {'train': 18, 'validation': 2,
                                                         'test': 9}


def test_a_photo_folder_in_a_bucket_that_does_not_answer_is_one_value_error(monkeypatch):
  def refuse(path):
    raise RuntimeError('401 Unauthorized')  # As a remote client might.

  monkeypatch.setattr(files, 'exists', refuse)
  with pytest.raises(ValueError, match="cannot reach 'gs://bucket/photos': RuntimeError: 401"):
    corpus.list_image_files('gs://bucket/photos')
