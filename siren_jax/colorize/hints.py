"""Colour hints for a grey photo: read from a stroke image or a points file, or sampled from a
colour photo's truth for evaluation.

A hint fixes the chroma of one pixel. Colours are kept as this project's scaled Lab chroma
(``siren_jax.colorize.colour``: ab / 128): a hint says what hue and saturation a pixel has, and
the photo's own lightness L stays, as in Levin et al. (2004), who keep the scribbles' I and Q
(YIQ) and the photo's Y.

Two file formats (``load``):
  * a PNG (any image with an alpha channel) of the photo's size, coloured strokes drawn on a
    transparent layer over the grey photo: every pixel with alpha > 0 is a hint of its RGB
    colour; transparent pixels are free;
  * a JSON list of points, pixel (x, y) = (column, row) from the top-left pixel (0, 0), colour as
    ``"#rrggbb"`` or ``[r, g, b]`` in 0-255::

        [{"x": 120, "y": 40, "color": "#3a6fd8"}, {"x": 300, "y": 410, "color": [200, 30, 40]}]

Sampling from the truth (``sample_positions``, ``read_truth``): the positions are a pure
function of (seed, photo shape, count, kind) and the colours are read from the truth at those
pixels only. Kinds: 'points' (single pixels, distinct) and 'strokes' (short straight 1-pixel
lines at random angles, each one colour: the mean of the truth over its pixels, as a user draws
one stroke in one colour). Counts are nested: the first k hints of a draw of n > k are the draw
of k.
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Sequence
from typing import Any

import numpy as np

from siren_jax import files
from siren_jax.colorize import colour

KINDS = ('points', 'strokes')
DEFAULT_STROKE_LENGTH = 9  # Pixels per sampled stroke.
_HEX = re.compile(r'^#?([0-9a-fA-F]{6})$')


@dataclasses.dataclass(frozen=True)
class Hints:
  """Hinted pixels of a height x width photo: ``rows``, ``cols`` (N,) int64, distinct pixels;
  ``ab`` (N, 2) float32, the chroma ab / 128 each pixel must have."""
  height: int
  width: int
  rows: np.ndarray
  cols: np.ndarray
  ab: np.ndarray

  def __len__(self) -> int:
    return int(self.rows.shape[0])

  def mask(self) -> np.ndarray:
    """(H, W) bool: True at hinted pixels."""
    mask = np.zeros((self.height, self.width), bool)
    mask[self.rows, self.cols] = True
    return mask

  def dense_ab(self) -> np.ndarray:
    """(H, W, 2) float32: the hints' ab at hinted pixels, 0 elsewhere."""
    ab = np.zeros((self.height, self.width, 2), np.float32)
    ab[self.rows, self.cols] = self.ab
    return ab

  def crop(self, top: int, left: int, height: int, width: int) -> Hints:
    """The hints inside rows [top, top + height) x columns [left, left + width), in the crop's
    pixel coordinates."""
    inside = ((self.rows >= top) & (self.rows < top + height) & (self.cols >= left) &
              (self.cols < left + width))
    return Hints(height, width, self.rows[inside] - top, self.cols[inside] - left,
                 self.ab[inside])


def make(height: int, width: int, rows: Any, cols: Any, ab: Any, *,
         source: str = 'hints') -> Hints:
  """Validated ``Hints``; where a pixel is given twice, the last hint wins.

  Args:
    height, width: the photo's size.
    rows, cols: (N,) integer pixel positions; ab: (N, 2) chroma ab / 128.
    source: names the hints in error messages (e.g. the file).
  Raises:
    ValueError: a hint outside the photo (naming the first one), or mismatched shapes.
  """
  rows = np.asarray(rows, np.int64).reshape(-1)
  cols = np.asarray(cols, np.int64).reshape(-1)
  ab = np.asarray(ab, np.float32).reshape(-1, 2)
  if not rows.shape == cols.shape == ab.shape[:1]:
    raise ValueError(f'{source}: need one row, column and colour per hint, got {rows.shape[0]}, '
                     f'{cols.shape[0]} and {ab.shape[0]}')
  outside = np.flatnonzero((rows < 0) | (rows >= height) | (cols < 0) | (cols >= width))
  if outside.size:
    i = outside[0]
    raise ValueError(f'{source}: {outside.size} hint(s) outside the {width}x{height} photo, the '
                     f'first at (x, y) = ({cols[i]}, {rows[i]}); x must be in [0, {width - 1}] '
                     f'and y in [0, {height - 1}]')
  flat = rows * width + cols
  # The last occurrence of each pixel: unique over the reversed order.
  _, first_in_reversed = np.unique(flat[::-1], return_index=True)
  keep = np.sort(len(flat) - 1 - first_in_reversed)
  return Hints(int(height), int(width), rows[keep], cols[keep], ab[keep])


def require_some(hints: Hints, source: str = 'hints') -> Hints:
  """``hints`` if there is at least one; else a ValueError saying the result would be grey."""
  if not len(hints):
    raise ValueError(f'{source} holds no hints: the colourisation would be grey (ab = 0); '
                     'draw at least one coloured stroke or point')
  return hints


def rgb_to_ab(rgb_unit: np.ndarray) -> np.ndarray:
  """sRGB (..., 3) in [0, 1] -> chroma ab / 128 (..., 2)."""
  return np.asarray(colour.rgb_to_scaled_lab(np.asarray(rgb_unit, np.float64),
                                             rgb_range='unit')[1], np.float32)


def from_stroke_image(rgba: np.ndarray, height: int, width: int, *,
                      source: str = 'hint image') -> Hints:
  """Hints from strokes on a transparent layer.

  Args:
    rgba: (h, w, 4) RGBA or (h, w, 2) grey + alpha, any integer dtype (scaled by its range) or
      float in [0, 1]; every pixel with alpha > 0 is a hint of its colour.
    height, width: the photo's size, which the image must have.
  Raises:
    ValueError: no alpha channel, or a size other than the photo's.
  """
  rgba = np.asarray(rgba)
  if rgba.ndim != 3 or rgba.shape[-1] not in (2, 4):
    raise ValueError(f'{source} has no alpha channel (shape {rgba.shape}); draw the strokes on '
                     'a transparent layer and save it as an RGBA PNG')
  if rgba.shape[:2] != (height, width):
    raise ValueError(f'{source} is {rgba.shape[1]}x{rgba.shape[0]} but the photo is '
                     f'{width}x{height}; draw the hints on a layer of the photo\'s size')
  scale = float(np.iinfo(rgba.dtype).max) if np.issubdtype(rgba.dtype, np.integer) else 1.0
  rows, cols = np.nonzero(rgba[..., -1] > 0)
  colours = rgba[rows, cols, :-1].astype(np.float64) / scale
  if colours.shape[-1] == 1:
    colours = np.repeat(colours, 3, axis=-1)
  return make(height, width, rows, cols, rgb_to_ab(np.clip(colours, 0.0, 1.0)), source=source)


def _parse_colour(value: Any, where: str) -> np.ndarray:
  if isinstance(value, str):
    match = _HEX.match(value.strip())
    if match:
      return np.array([int(match.group(1)[i:i + 2], 16) for i in (0, 2, 4)], np.float64) / 255.0
  elif (isinstance(value, (list, tuple)) and len(value) == 3 and
        all(isinstance(v, (int, float)) and not isinstance(v, bool) and 0 <= v <= 255
            for v in value)):
    return np.asarray(value, np.float64) / 255.0
  raise ValueError(f'{where}: colour must be "#rrggbb" or [r, g, b] in 0-255, got {value!r}')


def from_points(points: Sequence[Any], height: int, width: int, *,
                source: str = 'hint points') -> Hints:
  """Hints from ``[{"x": column, "y": row, "color": "#rrggbb" or [r, g, b]}, ...]`` (the
  module docstring's JSON format, already parsed)."""
  if not isinstance(points, (list, tuple)):
    raise ValueError(f'{source}: expected a JSON list of {{"x", "y", "color"}} points, got '
                     f'{type(points).__name__}')
  rows, cols, colours = [], [], []
  for i, point in enumerate(points):
    where = f'{source}: point {i}'
    if not isinstance(point, dict) or set(point) != {'x', 'y', 'color'}:
      raise ValueError(f'{where} must be {{"x": int, "y": int, "color": ...}}, got {point!r}')
    if not all(isinstance(point[k], int) and not isinstance(point[k], bool) for k in 'xy'):
      raise ValueError(f'{where}: x and y must be integer pixel positions, got '
                       f'({point["x"]!r}, {point["y"]!r})')
    rows.append(point['y'])
    cols.append(point['x'])
    colours.append(_parse_colour(point['color'], where))
  ab = rgb_to_ab(np.reshape(colours, (-1, 3)))
  return make(height, width, rows, cols, ab, source=source)


def load(path: str, height: int, width: int) -> Hints:
  """Hints for a height x width photo from a file (a local path or a URL): ``.json`` points or
  a stroke image (any other extension). Raises FileNotFoundError or a one-line ValueError; an
  empty file of hints is an error too (``require_some``)."""
  if not files.is_file(path):
    raise FileNotFoundError(f'hint file not found: {path!r}')
  source = f'hint file {path!r}'
  data = files.read_bytes(path)
  if path.lower().endswith('.json'):
    try:
      points = json.loads(data)
    except ValueError as e:  # Not JSON, or not UTF-8.
      raise ValueError(f'{source} is not valid JSON: {e}') from None
    hints = from_points(points, height, width, source=source)
  else:
    import imageio.v3 as iio  # Only stroke images need it.
    try:
      rgba = np.asarray(iio.imread(data))
    except Exception as e:  # imageio raises many types for undecodable files.
      raise ValueError(f'cannot read {source}: {type(e).__name__}: {e}') from None
    hints = from_stroke_image(rgba, height, width, source=source)
  return require_some(hints, source)


def rescale(hints: Hints, height: int, width: int) -> Hints:
  """The hints on a height x width grid over the same photo: each hint goes to the pixel of the
  new grid containing its pixel centre; hints landing on one pixel are averaged."""
  rows = np.minimum(((hints.rows + 0.5) * height / hints.height).astype(np.int64), height - 1)
  cols = np.minimum(((hints.cols + 0.5) * width / hints.width).astype(np.int64), width - 1)
  flat, inverse = np.unique(rows * width + cols, return_inverse=True)
  counts = np.bincount(inverse, minlength=len(flat)).astype(np.float64)
  ab = np.stack([np.bincount(inverse, hints.ab[:, c].astype(np.float64), minlength=len(flat))
                 for c in range(2)], axis=-1) / counts[:, None]
  return Hints(int(height), int(width), flat // width, flat % width, ab.astype(np.float32))


def to_channels(hints: Hints) -> np.ndarray:
  """(H, W, 3) float32: the hinted ab / 128 in channels 0-1 and 1 in channel 2 at hinted pixels,
  zeros elsewhere (a colouriser's extra input, ``colorizers.Colorizer(hint_inputs=True)``)."""
  channels = np.zeros((hints.height, hints.width, 3), np.float32)
  channels[hints.rows, hints.cols, :2] = hints.ab
  channels[hints.rows, hints.cols, 2] = 1.0
  return channels


# ---- Sampling hints from the truth (evaluation) -------------------------------------------------

def sample_positions(seed: int, height: int, width: int, count: int, kind: str = 'points', *,
                     stroke_length: int = DEFAULT_STROKE_LENGTH) -> list[np.ndarray]:
  """Positions of ``count`` hints on a height x width photo: a pure function of its arguments.

  Returns:
    one (n_i, 2) int64 array of (row, column) per hint: n_i = 1 for 'points' (all distinct);
    up to ``stroke_length`` pixels along a straight line through a random centre at a random
    angle, clipped to the photo, for 'strokes'. The first k of a draw of ``count`` > k are the
    draw of k (so 10 points contain the 1-point draw).
  """
  if kind not in KINDS:
    raise ValueError(f'hint kind must be one of {", ".join(KINDS)}, got {kind!r}')
  if count < 0 or (kind == 'points' and count > height * width):
    raise ValueError(f'cannot place {count} distinct points on a {width}x{height} photo')
  rng = np.random.default_rng(seed)
  if kind == 'points':
    chosen: list[int] = []
    seen: set[int] = set()
    while len(chosen) < count:  # Rejection keeps the draw nested in count.
      flat = int(rng.integers(height * width))
      if flat not in seen:
        seen.add(flat)
        chosen.append(flat)
    return [np.array([[f // width, f % width]], np.int64) for f in chosen]
  if stroke_length < 1:
    raise ValueError(f'stroke_length must be >= 1, got {stroke_length}')
  strokes = []
  offsets = np.arange(stroke_length) - (stroke_length - 1) / 2.0
  for _ in range(count):
    centre = rng.uniform([0.0, 0.0], [height, width])
    angle = rng.uniform(0.0, np.pi)
    points = np.floor(centre + offsets[:, None] * [np.sin(angle), np.cos(angle)]).astype(np.int64)
    inside = ((points[:, 0] >= 0) & (points[:, 0] < height) & (points[:, 1] >= 0) &
              (points[:, 1] < width))
    _, first = np.unique(points[inside][:, 0] * width + points[inside][:, 1], return_index=True)
    strokes.append(points[inside][np.sort(first)])
  return strokes


def read_truth(truth_ab: Any, positions: Sequence[np.ndarray], height: int, width: int) -> Hints:
  """Hints whose colours come from ``truth_ab`` (H, W, 2) at ``positions`` only (one gather of
  exactly those pixels): a point takes its pixel's ab, a stroke the mean ab of its pixels.
  Where strokes overlap, the later one wins (``make``)."""
  if not positions:
    return make(height, width, [], [], np.zeros((0, 2)))
  pixels = np.concatenate(positions)
  values = np.asarray(truth_ab[pixels[:, 0], pixels[:, 1]], np.float64)  # (P, 2)
  sizes = np.array([len(p) for p in positions])
  owner = np.repeat(np.arange(len(positions)), sizes)
  means = np.stack([np.bincount(owner, values[:, c], minlength=len(positions))
                    for c in range(2)], -1) / sizes[:, None]
  return make(height, width, pixels[:, 0], pixels[:, 1], means[owner])


def sample(seed: int, truth_ab: Any, count: int, kind: str = 'points', *,
           stroke_length: int = DEFAULT_STROKE_LENGTH) -> Hints:
  """``count`` hints of ``kind`` read from a colour photo's chroma ``truth_ab`` (H, W, 2)
  (``sample_positions`` then ``read_truth``)."""
  height, width = int(truth_ab.shape[0]), int(truth_ab.shape[1])
  positions = sample_positions(seed, height, width, count, kind, stroke_length=stroke_length)
  return read_truth(truth_ab, positions, height, width)


def sample_channels(seed: int | Sequence[int], truth_ab: np.ndarray,
                    max_count: int) -> np.ndarray:
  """Hint channels (``to_channels``) for a batch of crops, for training a colouriser with hint
  inputs: crop i gets n_i points read from its truth (``sample``), n_i log-uniform over
  0..max_count (round(exp(u ln(max_count + 1))) - 1, u ~ U(0, 1): as many crops with 0-9 hints
  as with 10-99), all a pure function of ``seed``.

  Args:
    seed: the batch's seed (``np.random.default_rng``'s: e.g. [run seed, step]).
    truth_ab: (B, H, W, 2) ab / 128 of the crops.
    max_count: the most hints a crop gets (at most H x W).
  Returns:
    (B, H, W, 3) float32.
  """
  batch, height, width = truth_ab.shape[:3]
  if not 0 <= max_count <= height * width:
    raise ValueError(f'max_count={max_count} must be in [0, {height * width}] for {height}x{width} '
                     f'crops')
  rng = np.random.default_rng(seed)
  counts = np.round(np.exp(rng.random(size=batch) * np.log(max_count + 1))).astype(np.int64) - 1
  seeds = np.asarray(rng.integers(0, 2**31 - 1, size=batch))
  return np.stack([to_channels(sample(int(seeds[i]), truth_ab[i], int(counts[i])))
                   for i in range(batch)])
