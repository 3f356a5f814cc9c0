"""One input pipeline for colourisation: embedded, folder or TFDS images -> Lab batches.

Sources (one string, ``dataset``):
  'embedded'           the colour images shipping inside scikit-image
                       (``images.BUILTIN_COLOR_IMAGES``), each resized to a short side of
                       4 x image_size and cut into non-overlapping square tiles; no download.
  'folder:/path'       every image file directly in a local folder (any sizes >= image_size).
  'tfds:NAME[:SPLIT]'  a tensorflow-datasets image dataset already prepared in ``data_dir`` in
                       the array_record format; read with ``tfds.data_source`` (no TensorFlow, no
                       download). SPLIT defaults to 'train'.

The examples of a source (tiles, files or records) are split once into train / val / test by a
fixed shuffle (``split_seed``). Training examples are downscaled to a short side of
1.25 x image_size (if larger) and yield a random image_size crop and a random horizontal flip;
evaluation examples yield the centre crop. Tiles of one embedded photo can land in different
splits: with nine photos, the embedded split is a split of regions, not of scenes.

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

from siren_jax import colour, errors, images

IMAGE_EXTENSIONS = ('.png', '.jpg', '.jpeg', '.bmp', '.gif', '.tif', '.tiff', '.webp')
SPLITS = ('train', 'val', 'test')
EMBEDDED_SIDE_FACTOR = 4  # Embedded photos: short side = this x image_size before tiling.
TRAIN_SIDE_FACTOR = 1.25  # Training crops come from images with short side <= this x image_size.


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
  """Square tiles of the scikit-image colour photos; (side, side, 3) in [0, 1]."""

  def __init__(self, image_size: int):
    self.side = round(TRAIN_SIDE_FACTOR * image_size)
    self.tiles = []
    for name in images.BUILTIN_COLOR_IMAGES:
      photo = _shrink(_unit_rgb(images.read_image(name)), EMBEDDED_SIDE_FACTOR * image_size)
      rows, cols = photo.shape[0] // self.side, photo.shape[1] // self.side
      self.tiles += [photo[r * self.side:(r + 1) * self.side, c * self.side:(c + 1) * self.side]
                     for r in range(rows) for c in range(cols)]
    self.names = [f'embedded tile {i}' for i in range(len(self.tiles))]

  def __len__(self) -> int:
    return len(self.tiles)

  def __getitem__(self, index: int) -> np.ndarray:
    return self.tiles[index]


class _Folder:
  """Every image file in a folder, read and downscaled once; (H, W, 3) in [0, 1]."""

  def __init__(self, path: str, image_size: int):
    if not os.path.isdir(path):
      raise FileNotFoundError(f'image folder not found: {path!r}')
    self.names = sorted(os.path.join(path, f) for f in os.listdir(path)
                        if f.lower().endswith(IMAGE_EXTENSIONS))
    if not self.names:
      raise ValueError(f'image folder {path!r} has no image files ({", ".join(IMAGE_EXTENSIONS)})')
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

  def __len__(self) -> int:
    return len(self.source)

  def __getitem__(self, index: int) -> np.ndarray:
    record = self.source[int(index)]
    if self.image_key not in record:
      raise ValueError(f'TFDS dataset {self.name!r} has no feature {self.image_key!r}; its '
                       f'features are {", ".join(record)} (set config.image_key)')
    array = np.asarray(record[self.image_key])
    image = _unit_rgb(images.pixels_to_unit(np.asarray(array), self.names[index]))
    _check_size(image, self.image_size, self.names[index])
    return _shrink(image, round(TRAIN_SIDE_FACTOR * self.image_size))


def _check_size(image: np.ndarray, image_size: int, name: str) -> None:
  if min(image.shape[:2]) < image_size:
    raise ValueError(f'{name} is {image.shape[0]}x{image.shape[1]}, smaller than the '
                     f'{image_size}x{image_size} crop (use larger images or a smaller image_size)')


def open_source(dataset: str, *, image_size: int, data_dir: str | None = None,
                image_key: str = 'image'):
  """The examples named by ``dataset`` (see the module docstring): len() and [i] -> (H, W, 3)."""
  if dataset == 'embedded':
    return _Embedded(image_size)
  kind, _, rest = dataset.partition(':')
  if kind == 'folder' and rest:
    return _Folder(os.path.expanduser(rest), image_size)
  if kind == 'tfds' and rest:
    name, _, split = rest.partition(':')
    return _Tfds(name, split or 'train', data_dir, image_key, image_size)
  raise ValueError(f"unknown dataset {dataset!r}; use 'embedded', 'folder:/path' or "
                   f"'tfds:NAME[:SPLIT]'")


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
    dataset: 'embedded', 'folder:/path' or 'tfds:NAME[:SPLIT]'.
    image_size: side S of the square crops.
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
  process_index: int = 0
  process_count: int = 1

  def __post_init__(self):
    if self.image_size < 1 or self.batch_size < 1:
      raise ValueError(f'image_size and batch_size must be positive, got {self.image_size} and '
                       f'{self.batch_size}')
    if not 0 <= self.process_index < self.process_count:
      raise ValueError(f'process_index={self.process_index} must be in [0, process_count='
                       f'{self.process_count})')
    if self.batch_size % self.process_count:
      raise ValueError(f'batch_size={self.batch_size} must be divisible by the process count '
                       f'{self.process_count}')
    self._eval_cache: dict[str, dict[str, np.ndarray]] = {}
    self.source = open_source(self.dataset, image_size=self.image_size, data_dir=self.data_dir,
                              image_key=self.image_key)
    self.splits = split_indices(len(self.source), self.val_fraction, self.test_fraction,
                                self.split_seed)
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
    if split not in self._eval_cache:
      chosen = self.splits[split][:self.max_eval_examples]
      self._eval_cache[split] = to_model_arrays(
          np.stack([self._crop(self.source[i], None, False) for i in chosen]))
    return self._eval_cache[split]
