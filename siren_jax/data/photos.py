"""One input pipeline for colourisation: embedded, folder or TFDS images -> Lab batches.

Sources (one string, ``dataset``):
  'embedded'           the colour images shipping inside scikit-image
                       (``images.BUILTIN_COLOR_IMAGES``), each resized to a short side of
                       ``photo_side`` (default 4 x image_size) and cut into non-overlapping square
                       tiles; no download.
  'embedded:A,B,...'   the same for the named offline photos only (``PHOTOS``: scikit-image's
                       built-in colour images, 'stereo_motorcycle' (both views, one photo) and
                       matplotlib's 'grace_hopper'); 'embedded:natural' = ``NATURAL_PHOTOS``.
  'folder:/path'       every image file directly in a folder, local or gs://... (any sizes >=
                       image_size); if the folder holds 'train/', 'val/' and 'test/' subfolders
                       instead, they are the splits.
  'tfds:NAME[:SPLIT]'  a tensorflow-datasets image dataset already prepared in ``data_dir`` in
                       the array_record format; read with ``tfds.data_source`` (no TensorFlow, no
                       download). SPLIT defaults to 'train'.
  'corpus[/folder]'    the siren_photos corpus built in ``data_dir`` (``corpus.py``; '/folder':
                       its build from a folder), with the splits fixed when it was built.

Splits are by photo, never by tile: every example carries the name of the photo it comes from
(``source.groups``: the photo name for embedded tiles, the file for a folder, the record for
TFDS), and the photos -- not the examples -- are shuffled once (``split_seed``) and cut into
train / val / test, so all tiles of one photo land in one split (``split_groups``). A fraction
of 0 leaves that split empty (e.g. to train on every listed photo and evaluate elsewhere).
Training examples are downscaled to a short side of 1.25 x image_size (if larger) and yield a
random image_size crop and a random horizontal flip; evaluation examples yield the centre crop.

Batches are dicts of NumPy float32 arrays: 'grey' (B, S, S, 1) = L / 50 - 1, 'ab' (B, S, S, 2)
= ab / 128, 'rgb' (B, S, S, 3) in [-1, 1]. ``train_batch(step)`` is a pure function of
(seed, step), so a resumed run sees the same data, and returns this process's slice of the
global batch (``process_index``/``process_count``).
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Sequence

import numpy as np

from siren_jax import errors, files, images
from siren_jax.images import IMAGE_EXTENSIONS, NATURAL_PHOTOS
from siren_jax.colorize import colour

SPLITS = ('train', 'val', 'test')
EMBEDDED_SIDE_FACTOR = 4  # Embedded photos: short side = this x image_size before tiling.
TRAIN_SIDE_FACTOR = 1.25  # Training crops come from images with short side <= this x image_size.
# Synthetic or microscopy colour images: never test photos (their colours are not a scene's).
SYNTHETIC_PHOTOS = ('colorwheel', 'hubble_deep_field', 'immunohistochemistry', 'logo', 'retina')
PHOTOS = NATURAL_PHOTOS + SYNTHETIC_PHOTOS


def photo_views(name: str) -> list[np.ndarray]:
  """The views of one offline photo, each (H, W, 3) float32 in [0, 1]: two for
  'stereo_motorcycle' (left and right camera: one scene), one otherwise."""
  if name not in PHOTOS:
    raise ValueError(f'unknown offline photo {name!r}; choose from {", ".join(PHOTOS)}')
  if name == 'stereo_motorcycle':
    import skimage.data  # Lazy: only this photo needs it here.
    left, right, _ = skimage.data.stereo_motorcycle()
    return [(v / 255.0).astype(np.float32) for v in (left, right)]  # uint8 views.
  if name == 'grace_hopper':
    import matplotlib.cbook  # The sample ships inside matplotlib's mpl-data: no download.
    return [_unit_rgb(images.read_image(
        str(matplotlib.cbook.get_sample_data('grace_hopper.jpg', asfileobj=False))))]
  return [_unit_rgb(images.read_image(name))]


def photo_short_side(dataset: str, image_size: int, photo_side: int = 0) -> int:
  """The short side (pixels) the photos of ``dataset`` have when the model trains on them: the
  scale at which a colouriser should be applied to a new photo. A corpus dataset takes
  ``photo_side`` when given: the scale of random-scale crops (``crops.Crops``), which the
  held-out protocol trains on."""
  kind = dataset.partition(':')[0]
  if kind == 'embedded' or (kind.partition('/')[0] == 'corpus' and photo_side):
    return photo_side or EMBEDDED_SIDE_FACTOR * image_size
  return round(TRAIN_SIDE_FACTOR * image_size)


def _unit_rgb(image: np.ndarray) -> np.ndarray:
  """(H, W, 1 or 3) in [0, 1] -> (H, W, 3) float32."""
  return np.repeat(image, 3, axis=-1) if image.shape[-1] == 1 else image.astype(np.float32)


def _shrink(image: np.ndarray, short_side: int) -> np.ndarray:
  """Downscales (H, W, C) so its short side is ``short_side``; smaller images are kept."""
  h, w = image.shape[:2]
  if min(h, w) <= short_side:
    return image
  scale = short_side / min(h, w)
  return images.resize(image, (max(short_side, round(h * scale)),
                               max(short_side, round(w * scale))))


class _Embedded:
  """Square tiles of offline colour photos; (side, side, 3) in [0, 1]. ``groups[i]`` is the
  photo tile i comes from."""

  fixed_splits = None  # Split by photo with split_groups.

  def __init__(self, image_size: int, photos: Sequence[str], photo_side: int = 0):
    self.side = round(TRAIN_SIDE_FACTOR * image_size)
    short_side = photo_side or EMBEDDED_SIDE_FACTOR * image_size
    if short_side < self.side:
      raise ValueError(f'photo_side={short_side} is smaller than the {self.side}-pixel tiles of '
                       f'image_size={image_size}')
    self.tiles, self.groups = [], []
    for name in photos:
      for view in photo_views(name) if name in PHOTOS else [_unit_rgb(images.read_image(name))]:
        photo = _shrink(view, short_side)
        rows, cols = photo.shape[0] // self.side, photo.shape[1] // self.side
        self.tiles += [photo[r * self.side:(r + 1) * self.side, c * self.side:(c + 1) * self.side]
                       for r in range(rows) for c in range(cols)]
        self.groups += [name] * (rows * cols)
    self.names = [f'{g} tile {i}' for i, g in enumerate(self.groups)]

  def __len__(self) -> int:
    return len(self.tiles)

  def __getitem__(self, index: int) -> np.ndarray:
    return self.tiles[index]


class _Folder:
  """Every image file in a folder, read and downscaled once; (H, W, 3) in [0, 1]. One file is
  one photo (``groups`` = the file names). With train/, val/ and test/ subfolders,
  ``fixed_splits`` holds their example indices."""

  def __init__(self, path: str, image_size: int):
    files.check_reachable(path)
    if not files.is_dir(path):
      raise FileNotFoundError(f'image folder not found: {path!r}')
    subfolders = [s for s in SPLITS if files.is_dir(os.path.join(path, s))]
    if subfolders and len(subfolders) != len(SPLITS):
      raise ValueError(f'image folder {path!r} has {"/, ".join(subfolders)}/ but not all of '
                       f'train/, val/, test/ (give all three or none)')
    folders = [os.path.join(path, s) for s in SPLITS] if subfolders else [path]
    per_folder = [sorted(os.path.join(f, n) for n in files.list_dir(f)
                         if n.lower().endswith(IMAGE_EXTENSIONS)) for f in folders]
    self.names = [n for names in per_folder for n in names]
    if not self.names:
      raise ValueError(f'image folder {path!r} has no image files ({", ".join(IMAGE_EXTENSIONS)})')
    self.groups = list(self.names)
    self.fixed_splits = None
    if subfolders:
      empty = [s for s, names in zip(SPLITS, per_folder) if not names]
      if empty:
        raise ValueError(f'image folder {path!r}: {", ".join(e + "/" for e in empty)} holds no '
                         f'image files')
      bounds = np.cumsum([0] + [len(names) for names in per_folder])
      self.fixed_splits = {s: np.arange(bounds[i], bounds[i + 1]) for i, s in enumerate(SPLITS)}
    self.images = []
    for name in self.names:
      image = _unit_rgb(images.read_image(name))  # ValueError naming the file if unreadable.
      _check_size(image, image_size, name)
      self.images.append(_shrink(image, round(TRAIN_SIDE_FACTOR * image_size)))

  def __len__(self) -> int:
    return len(self.images)

  def __getitem__(self, index: int) -> np.ndarray:
    return self.images[index]


class _Tfds:
  """Records of a prepared TFDS split, read on demand; (H, W, 3) in [0, 1]."""

  def __init__(self, name: str, split: str, data_dir: str | None, image_key: str,
               image_size: int):
    import tensorflow_datasets as tfds  # Lazy: slow to import and only needed here.
    where = data_dir or os.environ.get('TFDS_DATA_DIR') or '~/tensorflow_datasets'
    if files.is_url(where):
      raise ValueError(f'TFDS dataset {name!r}: data_dir {where!r} is a URL, but array_record '
                       f'files are read from local disk only; copy the prepared dataset to a '
                       f'local data_dir')
    prepare = (f"prepare it on a machine with TensorFlow: tfds build {name} --data_dir={where} "
               f"--file_format=array_record")
    try:
      self.source = tfds.data_source(name, split=split, data_dir=data_dir, download=False)
    except tfds.core.registered.DatasetNotFoundError:
      raise ValueError(f'unknown TFDS dataset {name!r}: not registered and not found in '
                       f'{where}') from None
    except (NotImplementedError, AssertionError, FileNotFoundError, ValueError) as e:
      first = errors.first_line(e)
      raise ValueError(f'TFDS dataset {name!r} split {split!r} is not ready in {where} ({first}); '
                       f'{prepare}') from None
    self.name, self.image_key, self.image_size = name, image_key, image_size
    self.names = [f'{name}[{i}]' for i in range(len(self.source))]
    self.groups = list(self.names)  # One record, one photo.
    self.fixed_splits = None

  def __len__(self) -> int:
    return len(self.source)

  def __getitem__(self, index: int) -> np.ndarray:
    record = self.source[int(index)]
    if self.image_key not in record:
      raise ValueError(f'TFDS dataset {self.name!r} has no feature {self.image_key!r}; its '
                       f'features are {", ".join(record)} (choose one with image_key)')
    array = np.asarray(record[self.image_key])
    image = _unit_rgb(images.pixels_to_unit(np.asarray(array), self.names[index]))
    _check_size(image, self.image_size, self.names[index])
    return _shrink(image, round(TRAIN_SIDE_FACTOR * self.image_size))


class _Corpus:
  """Every split of a built siren_photos config as one ``data.Pipeline`` source: examples
  (H, W, 3) float32 in [0, 1] downscaled like the pipeline's other sources, ``groups`` the
  photos, and ``fixed_splits`` the manifest's splits ('validation' is the pipeline's 'val')."""

  def __init__(self, dataset: str, image_size: int, data_dir: str | None = None):
    from siren_jax.data import corpus  # Lazy: imports tensorflow_datasets.
    config, split = corpus.parse_dataset(dataset)
    if split:
      raise ValueError(f'dataset {dataset!r}: the pipeline reads every split of the corpus; '
                       f'give corpus[/CONFIG] without :SPLIT')
    parts = [corpus.open_split('train', data_dir, config)]  # Says how to build it if it is missing.
    built = corpus.built_splits(data_dir, config)
    parts += [corpus.open_split(s, data_dir, config) for s in corpus.SPLITS[1:] if s in built]
    self.image_size = image_size
    self._parts = [(part, i) for part in parts for i in range(len(part))]
    self.names = [n for part in parts for n in part.names]
    self.groups = [g for part in parts for g in part.groups]
    bounds = np.cumsum([0] + [len(part) for part in parts])
    named = {part.split: np.arange(bounds[k], bounds[k + 1]) for k, part in enumerate(parts)}
    self.fixed_splits = {'train': named.get('train', np.arange(0)),
                         'val': named.get('validation', np.arange(0)),
                         'test': named.get('test', np.arange(0))}
    self._cache: dict[int, np.ndarray] = {}

  def __len__(self) -> int:
    return len(self._parts)

  def __getitem__(self, index: int) -> np.ndarray:
    index = int(index)
    if index not in self._cache:
      part, i = self._parts[index]
      image = part[i].astype(np.float32) / 255.0
      _check_size(image, self.image_size, self.names[index])
      self._cache[index] = _shrink(image, round(TRAIN_SIDE_FACTOR * self.image_size))
    return self._cache[index]


def _check_size(image: np.ndarray, image_size: int, name: str) -> None:
  if min(image.shape[:2]) < image_size:
    raise ValueError(f'{name} is {image.shape[0]}x{image.shape[1]}, smaller than the '
                     f'{image_size}x{image_size} crop (use larger images or a smaller image_size)')


def _photo_names(listed: str) -> tuple[str, ...]:
  """'' -> the nine scikit-image colour images; 'natural' -> NATURAL_PHOTOS; else 'A,B,...'."""
  if not listed:
    return images.BUILTIN_COLOR_IMAGES
  if listed == 'natural':
    return NATURAL_PHOTOS
  names = [n.strip() for n in listed.split(',') if n.strip()]
  if 'cat' in names:
    raise ValueError("'cat' is the same photo as 'chelsea' in scikit-image; list 'chelsea' once")
  unknown = [n for n in names if n not in PHOTOS]
  if unknown or len(set(names)) != len(names) or not names:
    raise ValueError(f'bad embedded photo list {listed!r}: list each of {", ".join(PHOTOS)} at '
                     f'most once')
  return tuple(names)


def open_source(dataset: str, *, image_size: int, data_dir: str | None = None,
                image_key: str = 'image', photo_side: int = 0):
  """The examples named by ``dataset`` (see the module docstring): len() and [i] -> (H, W, 3);
  ``groups[i]``: the photo example i comes from."""
  kind, _, rest = dataset.partition(':')
  if kind == 'embedded':
    return _Embedded(image_size, _photo_names(rest), photo_side)
  if kind == 'folder' and rest:
    return _Folder(os.path.expanduser(rest), image_size)
  if kind.partition('/')[0] == 'corpus':
    return _Corpus(dataset, image_size, data_dir)
  if kind == 'tfds' and rest:
    name, _, split = rest.partition(':')
    return _Tfds(name, split or 'train', data_dir, image_key, image_size)
  raise ValueError(f"unknown dataset {dataset!r}; use 'embedded[:A,B,...]', 'folder:/path' or "
                   f"'tfds:NAME[:SPLIT]'")


def check_process_split(batch_size: int, process_index: int, process_count: int) -> None:
  """Raises ValueError unless ``process_index`` is in [0, ``process_count``) and the global
  ``batch_size`` splits evenly over the processes (each host feeds its own slice)."""
  if not 0 <= process_index < process_count:
    raise ValueError(f'process_index={process_index} must be in [0, process_count='
                     f'{process_count})')
  if batch_size % process_count:
    raise ValueError(f'batch_size={batch_size} must be divisible by the process count '
                     f'{process_count}')


def split_groups(groups: Sequence[str], val_fraction: float, test_fraction: float,
                 split_seed: int = 0) -> dict[str, np.ndarray]:
  """Example indices of train/val/test such that every group (photo) lies in one split.

  The distinct groups, in order of first appearance, are shuffled by ``split_seed`` and cut by
  the fractions (of photos, not of examples); a split with a positive fraction gets at least one
  photo, one with fraction 0 none; train always gets at least one.
  """
  if not (0 <= val_fraction < 1 and 0 <= test_fraction < 1 and val_fraction + test_fraction < 1):
    raise ValueError(f'val_fraction={val_fraction} and test_fraction={test_fraction} must be in '
                     f'[0, 1) and sum to less than 1')
  names = list(dict.fromkeys(groups))
  num_val = max(1, round(val_fraction * len(names))) if val_fraction else 0
  num_test = max(1, round(test_fraction * len(names))) if test_fraction else 0
  if len(names) - num_val - num_test < 1:
    raise ValueError(f'{len(names)} photos are too few for a train/val/test split by photo '
                     f'({num_val} val, {num_test} test)')
  order = [names[i] for i in np.random.default_rng(split_seed).permutation(len(names))]
  chosen = {'val': set(order[:num_val]), 'test': set(order[num_val:num_val + num_test]),
            'train': set(order[num_val + num_test:])}
  return {s: np.flatnonzero([g in chosen[s] for g in np.asarray(groups, dtype=object)])
          for s in SPLITS}


def split_indices(num_examples: int, val_fraction: float, test_fraction: float,
                  split_seed: int = 0) -> dict[str, np.ndarray]:
  """A fixed shuffle of range(num_examples) cut into train/val/test (each non-empty)."""
  if not (0 < val_fraction < 1 and 0 < test_fraction < 1 and val_fraction + test_fraction < 1):
    raise ValueError(f'val_fraction={val_fraction} and test_fraction={test_fraction} must be in '
                     f'(0, 1) and sum to less than 1')
  num_val = max(1, round(val_fraction * num_examples))
  num_test = max(1, round(test_fraction * num_examples))
  if num_examples - num_val - num_test < 1:
    raise ValueError(f'{num_examples} examples are too few for a train/val/test split')
  order = np.random.default_rng(split_seed).permutation(num_examples)
  return {'val': np.sort(order[:num_val]), 'test': np.sort(order[num_val:num_val + num_test]),
          'train': np.sort(order[num_val + num_test:])}


def to_model_arrays(rgb_unit: np.ndarray) -> dict[str, np.ndarray]:
  """(B, S, S, 3) RGB in [0, 1] -> {'grey', 'ab', 'rgb'} (see the module docstring)."""
  grey, ab = colour.rgb_to_scaled_lab(rgb_unit, rgb_range='unit')
  return {'grey': grey.astype(np.float32), 'ab': ab.astype(np.float32),
          'rgb': (rgb_unit * 2.0 - 1.0).astype(np.float32)}


@dataclasses.dataclass
class Pipeline:
  """Train batches and evaluation sets of one source.

  Attributes:
    dataset: 'embedded[:A,B,...]', 'folder:/path' or 'tfds:NAME[:SPLIT]'.
    image_size: side S of the square crops.
    val_fraction, test_fraction: fractions of the photos (not of the tiles) held out; 0 leaves
      the split empty. Ignored for a folder with train/ val/ test/ subfolders.
    photo_side: embedded photos' short side before tiling (0: 4 x image_size).
    batch_size: global batch size (all processes together).
    seed: training-data seed (shuffles and augmentations); the split uses ``split_seed``.
    process_index, process_count: this process's slice of every global batch.
  """

  dataset: str = 'embedded'
  image_size: int = 64
  batch_size: int = 16
  seed: int = 0
  data_dir: str | None = None
  image_key: str = 'image'
  val_fraction: float = 0.1
  test_fraction: float = 0.1
  split_seed: int = 0
  max_eval_examples: int = 64
  photo_side: int = 0
  process_index: int = 0
  process_count: int = 1

  def __post_init__(self):
    if self.image_size < 1 or self.batch_size < 1:
      raise ValueError(f'image_size and batch_size must be positive, got {self.image_size} and '
                       f'{self.batch_size}')
    check_process_split(self.batch_size, self.process_index, self.process_count)
    self._eval_cache: dict[str, dict[str, np.ndarray]] = {}
    self.source = open_source(self.dataset, image_size=self.image_size, data_dir=self.data_dir,
                              image_key=self.image_key, photo_side=self.photo_side)
    fixed = self.source.fixed_splits
    self.splits = fixed if fixed is not None else split_groups(
        self.source.groups, self.val_fraction, self.test_fraction, self.split_seed)
    if len(self.splits['train']) < self.batch_size:
      raise ValueError(f'batch_size={self.batch_size} is larger than the '
                       f'{len(self.splits["train"])} training examples of {self.dataset!r}')

  @property
  def steps_per_epoch(self) -> int:
    """Full global batches per pass over the training examples (the remainder is dropped)."""
    return len(self.splits['train']) // self.batch_size

  @property
  def local_batch_size(self) -> int:
    return self.batch_size // self.process_count

  def _crop(self, image: np.ndarray, offset: Sequence[float] | None, flip: bool) -> np.ndarray:
    """An image_size crop: at relative ``offset`` in [0, 1)^2, or the centre if None."""
    s = self.image_size
    h, w = image.shape[:2]
    if offset is None:
      top, left = (h - s) // 2, (w - s) // 2
    else:
      top, left = int(offset[0] * (h - s + 1)), int(offset[1] * (w - s + 1))
    crop = image[top:top + s, left:left + s]
    return crop[:, ::-1] if flip else crop

  def train_batch(self, step: int) -> dict[str, np.ndarray]:
    """This process's slice of the global training batch at ``step`` (pure in seed and step)."""
    train = self.splits['train']
    epoch, position = divmod(int(step), self.steps_per_epoch)
    order = np.random.default_rng([self.seed, epoch]).permutation(len(train))
    chosen = train[order[position * self.batch_size:(position + 1) * self.batch_size]]
    augment = np.random.default_rng([self.seed, int(step), 1])
    offsets = augment.random((self.batch_size, 2))
    flips = augment.random(self.batch_size) < 0.5
    local = slice(self.process_index * self.local_batch_size,
                  (self.process_index + 1) * self.local_batch_size)
    crops = [self._crop(self.source[i], o, f)
             for i, o, f in zip(chosen[local], offsets[local], flips[local])]
    return to_model_arrays(np.stack(crops))

  def eval_set(self, split: str) -> dict[str, np.ndarray]:
    """Centre crops of up to ``max_eval_examples`` examples of 'train', 'val' or 'test' (every
    process gets all of them)."""
    if split not in SPLITS:
      raise ValueError(f'unknown split {split!r}; choose from {", ".join(SPLITS)}')
    if not len(self.splits[split]):
      raise ValueError(f'the {split} split of {self.dataset!r} is empty ({split}_fraction=0)')
    if split not in self._eval_cache:
      chosen = self.splits[split][:self.max_eval_examples]
      self._eval_cache[split] = to_model_arrays(
          np.stack([self._crop(self.source[i], None, False) for i in chosen]))
    return self._eval_cache[split]
