"""Random square crops of photos for learning, a pure function of (seed, step).

Sources (``open_photos``; one string, as ``data.open_source`` takes):
  'corpus[/CONFIG][:SPLIT]'  a built siren_photos split (``corpus.open_split``; SPLIT defaults
                             to 'train', CONFIG to 'corpus', 'folder' is a folder build).
  'tfds:NAME[:SPLIT]'        any tfds image dataset prepared as array_record in ``data_dir``,
                             e.g. 'tfds:div2k/bicubic_x2:train' with image_key='hr'.
  'folder:/path'             every image file under a folder (recursive; local or gs://...),
                             decoded on demand.
Each is ``len()``, ``[i]`` -> (H, W, 3) uint8 and ``groups[i]``, the photo record i shows.

A crop at ``step``: for each of the ``batch_size`` examples of the global batch, a photo drawn
uniformly (with replacement), a square of side u * min(H, W) with u ~ U(scale), at a uniform
position, resized to size x size (PIL bicubic, anti-aliased when it shrinks) and mirrored
left-right with probability 1/2 if ``flip``. Everything is drawn from
``np.random.default_rng([seed, step])`` for the whole global batch, and each process decodes
only its slice (``process_index``/``process_count``: rows [p B/P, (p+1) B/P)), so a resumed run
and any number of hosts see the same examples.

Views (dicts of float32 NumPy arrays, (B, S, S, C), B the local batch):
  'rgb'   (.., 3) in [-1, 1]
  'grey'  (.., 1) CIE L* / 50 - 1 (the colourisers' input, ``colour.rgb_to_scaled_lab``)
  'lab'   (.., 3) (L* / 50 - 1, a* / 128, b* / 128)
``Crops.iterate`` computes batches ahead on a background thread (``prefetch``).
"""

from __future__ import annotations

import collections
import dataclasses
import os
import queue
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any, Protocol, TypeVar

import numpy as np
from PIL import Image

from siren_jax import images
from siren_jax.colorize import colour
from siren_jax.data.photos import check_process_split

VIEWS = ('rgb', 'grey', 'lab')
T = TypeVar('T')


class PhotoSource(Protocol):
  groups: list[str]

  def __len__(self) -> int: ...

  def __getitem__(self, index: int) -> np.ndarray: ...


class _FolderPhotos:
  """Image files under a folder, decoded on demand to (H, W, 3) uint8; one file, one photo."""

  def __init__(self, folder: str):
    from siren_jax.data import corpus  # Lazy: imports tensorflow_datasets.
    self._read = corpus.read_rgb
    self.files = corpus.list_image_files(folder)
    self.names = [os.path.relpath(f, folder) for f in self.files]
    self.groups = list(self.names)

  def __len__(self) -> int:
    return len(self.files)

  def __getitem__(self, index: int) -> np.ndarray:
    return self._read(self.files[int(index)])


class _TfdsPhotos:
  """Records of a prepared tfds split; ``image_key``'s feature as (H, W, 3) uint8."""

  def __init__(self, name: str, split: str, data_dir: str | None, image_key: str):
    from siren_jax.data import photos  # The one tfds opener (and its error messages).
    self._opened = photos._Tfds(name, split, data_dir, image_key, image_size=1)
    self.name, self.image_key = name, image_key
    self.names = list(self._opened.names)
    self.groups = list(self._opened.groups)

  def __len__(self) -> int:
    return len(self._opened)

  def __getitem__(self, index: int) -> np.ndarray:
    record = self._opened.source[int(index)]
    if self.image_key not in record:
      raise ValueError(f'tfds dataset {self.name!r} has no feature {self.image_key!r}; its '
                       f'features are {", ".join(record)} (set image_key)')
    array = np.asarray(record[self.image_key])
    if array.dtype == np.uint8 and array.ndim == 3 and array.shape[-1] in (3, 4):
      return array[..., :3]
    unit = images.pixels_to_unit(array, self.names[int(index)])
    return np.round(np.repeat(unit, 3 // unit.shape[-1], axis=-1) * 255).astype(np.uint8)


def open_photos(dataset: str, *, data_dir: str | None = None,
                image_key: str = 'image') -> PhotoSource:
  """The photos named by ``dataset`` (see the module docstring)."""
  kind, _, rest = dataset.partition(':')
  if kind.partition('/')[0] == 'corpus':
    from siren_jax.data import corpus  # Lazy: imports tensorflow_datasets.
    config, split = corpus.parse_dataset(dataset)
    return corpus.open_split(split or 'train', data_dir, config)
  if kind == 'folder' and rest:
    return _FolderPhotos(os.path.expanduser(rest))
  if kind == 'tfds' and rest:
    name, _, split = rest.partition(':')
    return _TfdsPhotos(name, split or 'train', data_dir, image_key)
  raise ValueError(f"unknown photos {dataset!r}; use 'corpus[/CONFIG][:SPLIT]', 'folder:/path' "
                   f"or 'tfds:NAME[:SPLIT]'")


def crop(photo: np.ndarray, size: int, side_fraction: float, position: Sequence[float],
         flip: bool) -> np.ndarray:
  """One crop of ``photo`` (H, W, 3) uint8 -> (size, size, 3) uint8.

  The square has side round(side_fraction * min(H, W)) (at least 1 pixel), its top-left corner
  at floor(position * (H - side + 1, W - side + 1)) for position in [0, 1)^2; it is resized to
  size x size (bicubic) and mirrored left-right if ``flip``.
  """
  h, w = photo.shape[:2]
  side = int(min(min(h, w), max(1, round(side_fraction * min(h, w)))))
  top = int(position[0] * (h - side + 1))
  left = int(position[1] * (w - side + 1))
  if side == size:
    out = np.ascontiguousarray(photo[top:top + side, left:left + side])
  else:
    out = np.asarray(Image.fromarray(photo).resize(
        (size, size), Image.Resampling.BICUBIC, box=(left, top, left + side, top + side)))
  return out[:, ::-1] if flip else out


def to_views(rgb: np.ndarray, views: Sequence[str]) -> dict[str, np.ndarray]:
  """(B, S, S, 3) uint8 -> the asked views (see the module docstring)."""
  unit = rgb.astype(np.float32) / 255.0
  out = {}
  if 'rgb' in views:
    out['rgb'] = unit * 2.0 - 1.0
  if 'grey' in views or 'lab' in views:
    grey, ab = colour.rgb_to_scaled_lab(unit, rgb_range='unit')
    if 'grey' in views:
      out['grey'] = grey.astype(np.float32)
    if 'lab' in views:
      out['lab'] = np.concatenate([grey, ab], axis=-1).astype(np.float32)
  return out


@dataclasses.dataclass
class Crops:
  """Batches of random crops of ``photos``; ``batch(step)`` is pure in (seed, step).

  Attributes:
    photos: a PhotoSource (``open_photos``).
    size: side S of the crops, pixels.
    batch_size: global batch size (all processes together).
    seed: the crop stream's seed.
    scale: range of the crop side as a fraction of the photo's short side, in (0, 1].
    flip: mirror half of the crops left-right.
    views: any of VIEWS.
    process_index, process_count: this process's slice of every global batch (default:
      ``jax.process_index()`` and ``jax.process_count()``).
    cache_photos: decoded photos kept in memory (least recently used are dropped).
  """

  photos: Any
  size: int
  batch_size: int
  seed: int = 0
  scale: tuple[float, float] = (0.25, 1.0)
  flip: bool = True
  views: tuple[str, ...] = ('rgb',)
  process_index: int | None = None
  process_count: int | None = None
  cache_photos: int = 16

  def __post_init__(self) -> None:
    if self.process_index is None or self.process_count is None:
      import jax  # Lazy: the default is the running JAX's process layout.
      self.process_index = jax.process_index() if self.process_index is None else \
          self.process_index
      self.process_count = jax.process_count() if self.process_count is None else \
          self.process_count
    if self.size < 1 or self.batch_size < 1:
      raise ValueError(f'size and batch_size must be positive, got {self.size} and '
                       f'{self.batch_size}')
    if not 0 < self.scale[0] <= self.scale[1] <= 1:
      raise ValueError(f'scale={tuple(self.scale)} must satisfy 0 < low <= high <= 1 (fractions '
                       f'of the short side)')
    unknown = [v for v in self.views if v not in VIEWS]
    if unknown or not self.views:
      raise ValueError(f'views={tuple(self.views)} must be a non-empty choice of '
                       f'{", ".join(VIEWS)}')
    check_process_split(self.batch_size, self.process_index, self.process_count)
    if not len(self.photos):
      raise ValueError('photos is empty: nothing to crop')
    self._cache: collections.OrderedDict[int, np.ndarray] = collections.OrderedDict()
    self._lock = threading.Lock()

  @property
  def local_batch_size(self) -> int:
    return self.batch_size // self.process_count  # type: ignore[operator]

  def draws(self, step: int) -> dict[str, np.ndarray]:
    """The global batch's random choices at ``step``: 'photo' (B,) indices, 'side' (B,)
    fractions of the short side, 'position' (B, 2) in [0, 1), 'flip' (B,) bools."""
    rng = np.random.default_rng([self.seed, int(step)])
    b = self.batch_size
    return {'photo': rng.integers(0, len(self.photos), b),
            'side': rng.uniform(self.scale[0], self.scale[1], b),
            'position': rng.random((b, 2)),
            'flip': (rng.random(b) < 0.5) & self.flip}

  def _photo(self, index: int) -> np.ndarray:
    with self._lock:
      if index in self._cache:
        self._cache.move_to_end(index)
        return self._cache[index]
    photo = self.photos[index]
    with self._lock:
      self._cache[index] = photo
      while len(self._cache) > max(self.cache_photos, 0):
        self._cache.popitem(last=False)
    return photo

  def batch(self, step: int) -> dict[str, np.ndarray]:
    """This process's slice of the global batch at ``step``, as the asked views."""
    d = self.draws(step)
    start = self.process_index * self.local_batch_size  # type: ignore[operator]
    rows = range(start, start + self.local_batch_size)
    crops = [crop(self._photo(int(d['photo'][i])), self.size, float(d['side'][i]),
                  d['position'][i], bool(d['flip'][i])) for i in rows]
    return to_views(np.stack(crops), self.views)

  def iterate(self, start_step: int = 0, num_steps: int | None = None,
              buffer_size: int = 2) -> Iterator[tuple[int, dict[str, np.ndarray]]]:
    """(step, batch(step)) from ``start_step`` on (``num_steps`` of them, or forever),
    computed up to ``buffer_size`` batches ahead on a background thread."""
    steps: Iterable[int] = (range(start_step, start_step + num_steps) if num_steps is not None
                            else _count(start_step))
    return prefetch(self.batch, steps, buffer_size)


def _count(start: int) -> Iterator[int]:
  step = start
  while True:
    yield step
    step += 1


_DONE = object()


class _Failed:
  def __init__(self, error: BaseException):
    self.error = error


def prefetch(batch_fn: Callable[[int], T], steps: Iterable[int],
             buffer_size: int = 2) -> Iterator[tuple[int, T]]:
  """Yields (step, batch_fn(step)) for ``steps`` in order while a background thread computes
  up to ``buffer_size`` of the next ones (decoding and resizing release the GIL, so the device
  step overlaps them). An error in ``batch_fn`` is raised here, at its step; closing the
  generator stops the thread."""
  if buffer_size < 1:
    raise ValueError(f'buffer_size={buffer_size} must be >= 1')
  return _prefetched(batch_fn, steps, buffer_size)


def _prefetched(batch_fn: Callable[[int], T], steps: Iterable[int],
                buffer_size: int) -> Iterator[tuple[int, T]]:
  ready: queue.Queue = queue.Queue(maxsize=buffer_size)
  stop = threading.Event()

  def put(item: Any) -> bool:
    while not stop.is_set():
      try:
        ready.put(item, timeout=0.05)
        return True
      except queue.Full:
        continue
    return False

  def work() -> None:
    try:
      for step in steps:
        if stop.is_set() or not put((step, batch_fn(step))):
          return
    except BaseException as e:  # pylint: disable=broad-except
      put(_Failed(e))
      return
    put(_DONE)

  thread = threading.Thread(target=work, name='siren_jax-prefetch', daemon=True)
  thread.start()
  try:
    while True:
      item = ready.get()
      if item is _DONE:
        return
      if isinstance(item, _Failed):
        raise item.error
      yield item
  finally:
    stop.set()
    thread.join(timeout=10)
