"""A learned continuous image function (LIIF-style): a conv encoder turns a low-resolution image
into a feature map; a coordinate decoder maps (nearby feature, relative coordinate, cell size)
to a colour at any continuous coordinate.

Coordinates follow ``grids``: (y, x), pixel centres, the image covers [-1, 1]^2; an h x w
feature map has one vector per low-resolution pixel, centred on that pixel. The cell of a query
is the size of one output pixel in the same units, (2 / H_out, 2 / W_out).

The prediction is the input sampled bilinearly at the query plus a learned residual:

  rgb(x) = bilinear(lr, x) + sum_i w_i * D(f_i, (x - x_i) * (h, w), cell * (h, w))

with f_i the feature (3x3-unfolded with ``feature_unfold``) of the nearest feature vector
(``local_ensemble`` off, w = 1) or of the four around x, each weighted by the area of the
rectangle between x and the diagonally opposite one, normalised to sum 1 (``local_ensemble``);
the cell term only with ``cell_decode``. D is an MLP with sine (SIREN initialisation,
``siren_jax.layers``) or ReLU hidden layers whose last hidden layer is multiplied by a bias-free
projection of f_i's centre feature before the bias-free output layer. The encoder sees the
image's high-pass part (the image minus its 3x3 box mean, edges replicated) through bias-free
convolutions, so a flat region gives zero features and the residual vanishes there: a constant
image resizes to the same constant at any scale, for any parameters.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from siren_jax import fast_sine, layers

Array = jax.Array
KIND = 'siren_jax.sr.liif'
ACTIVATIONS = ('sine', 'relu')
_EPS = 1e-6  # LIIF's shift off the feature cell boundary, and the clamp inside [-1, 1].


@dataclasses.dataclass(frozen=True)
class Spec:
  """What defines a model (its file stores this as a dict, ``to_dict``)."""
  channels: int = 3
  encoder_features: int = 32
  encoder_blocks: int = 4
  activation: str = 'sine'
  decoder_hidden: int = 64
  decoder_layers: int = 4  # Hidden layers; LIIF's 5-layer MLP has 4.
  first_omega0: float = 30.0
  hidden_omega0: float = 30.0
  feature_unfold: bool = True
  local_ensemble: bool = True
  cell_decode: bool = True

  def __post_init__(self) -> None:
    if self.activation not in ACTIVATIONS:
      raise ValueError(f'activation must be one of {", ".join(ACTIVATIONS)}, got '
                       f'{self.activation!r}')
    for name in ('channels', 'encoder_features', 'decoder_hidden', 'decoder_layers'):
      value = getattr(self, name)
      if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f'{name} must be a positive integer, got {value!r}')
    if isinstance(self.encoder_blocks, bool) or not isinstance(self.encoder_blocks, int) or \
        self.encoder_blocks < 0:
      raise ValueError(f'encoder_blocks must be an integer >= 0, got {self.encoder_blocks!r}')
    if not (self.first_omega0 > 0 and self.hidden_omega0 > 0):
      raise ValueError('first_omega0 and hidden_omega0 must be positive')

  def to_dict(self) -> dict[str, Any]:
    return dataclasses.asdict(self)

  @classmethod
  def from_dict(cls, d: dict[str, Any]) -> Spec:
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(d) - known)
    if unknown:
      raise ValueError(f'unknown model fields {", ".join(unknown)}')
    return cls(**d)

  @property
  def encoder_radius(self) -> int:
    """How far (low-resolution pixels) a feature vector sees: the high-pass box, the head, two
    convs per block and the tail, each 3x3."""
    return 3 + 2 * self.encoder_blocks

  @property
  def min_input_side(self) -> int:
    """The smallest input side the encoder takes: its receptive field, 2 * radius + 1."""
    return 2 * self.encoder_radius + 1

  @property
  def halo(self) -> int:
    """Low-resolution pixels a tile needs around its core so that its outputs equal the whole
    image's: the encoder's radius, one for unfolding, one for the ensemble's (and the
    bilinear term's) neighbours, one to spare."""
    return self.encoder_radius + 3


def feature_centres(size: int) -> Array:
  """(size,) pixel-centre coordinates of a ``size``-pixel axis in [-1, 1]."""
  return -1.0 + (2.0 * jnp.arange(size, dtype=jnp.float32) + 1.0) / size


def high_pass(image: Array) -> Array:
  """(B, h, w, C) -> the image minus its 3x3 box mean (edges replicated); zero where flat."""
  padded = jnp.pad(image, ((0, 0), (1, 1), (1, 1), (0, 0)), mode='edge')
  h, w = image.shape[1:3]
  # Summed as differences from the centre, so a flat region gives exactly zero.
  total = jnp.zeros_like(image)
  for i in range(3):
    for j in range(3):
      total = total + (padded[:, i:i + h, j:j + w] - image)
  return -total / 9.0


def unfold3x3(feat: Array) -> Array:
  """(B, h, w, C) -> (B, h, w, 9C): each vector's 3x3 neighbourhood (zeros outside), rows
  then columns, as LIIF's feature unfolding."""
  h, w = feat.shape[1:3]
  padded = jnp.pad(feat, ((0, 0), (1, 1), (1, 1), (0, 0)))
  return jnp.concatenate([padded[:, i:i + h, j:j + w] for i in range(3) for j in range(3)],
                         axis=-1)


def _gather(feat: Array, iy: Array, ix: Array) -> Array:
  """feat (B, h, w, C), iy/ix (B, Q) int -> (B, Q, C)."""
  b, h, w, c = feat.shape
  flat = feat.reshape(b, h * w, c)
  return jnp.take_along_axis(flat, (iy * w + ix)[..., None], axis=1)


def bilinear(image: Array, coords: Array) -> Array:
  """image (B, h, w, C) sampled at coords (B, Q, 2) ((y, x), grids convention) by bilinear
  interpolation between pixel centres, constant beyond the outer centres -> (B, Q, C)."""
  h, w = image.shape[1:3]
  u = jnp.clip((coords[..., 0] + 1.0) * 0.5 * h - 0.5, 0.0, h - 1.0)
  v = jnp.clip((coords[..., 1] + 1.0) * 0.5 * w - 0.5, 0.0, w - 1.0)
  y0, x0 = jnp.floor(u).astype(jnp.int32), jnp.floor(v).astype(jnp.int32)
  y1, x1 = jnp.minimum(y0 + 1, h - 1), jnp.minimum(x0 + 1, w - 1)
  fy, fx = (u - y0)[..., None], (v - x0)[..., None]
  top = _gather(image, y0, x0) * (1 - fx) + _gather(image, y0, x1) * fx
  bottom = _gather(image, y1, x0) * (1 - fx) + _gather(image, y1, x1) * fx
  return top * (1 - fy) + bottom * fy


def neighbours(feat_shape: Sequence[int], coords: Array, local_ensemble: bool
               ) -> list[tuple[Array, Array, Array, Array]]:
  """The feature vectors a query reads and their weights.

  Args:
    feat_shape: (B, h, w, C) of the feature map.
    coords: (B, Q, 2) query coordinates (y, x) in [-1, 1].
    local_ensemble: four neighbours with area weights, else the nearest vector with weight 1.

  Returns:
    per neighbour (iy, ix, rel, weight): (B, Q) int indices, (B, Q, 2) the query minus the
    vector's centre in feature pixels of half size (x (h, w), as LIIF), (B, Q) weights
    (summing to 1 over the neighbours).
  """
  h, w = feat_shape[1:3]
  size = jnp.asarray([h, w], jnp.float32)
  shifts = [(-1, -1), (-1, 1), (1, -1), (1, 1)] if local_ensemble else [(0, 0)]
  found = []
  for vy, vx in shifts:
    shifted = coords + jnp.asarray([vy, vx], jnp.float32) / size + _EPS
    shifted = jnp.clip(shifted, -1 + _EPS, 1 - _EPS)
    index = jnp.clip(jnp.floor((shifted + 1.0) * 0.5 * size).astype(jnp.int32), 0,
                     jnp.asarray([h - 1, w - 1]))
    centre = -1.0 + (2.0 * index + 1.0) / size
    rel = (coords - centre) * size
    area = jnp.abs(rel[..., 0] * rel[..., 1]) + 1e-9
    found.append((index[..., 0], index[..., 1], rel, area))
  if not local_ensemble:
    iy, ix, rel, _ = found[0]
    return [(iy, ix, rel, jnp.ones(coords.shape[:2], jnp.float32))]
  total = sum(a for *_, a in found)
  # Each vector is weighted by the area opposite it: the nearer the query, the larger.
  return [(iy, ix, rel, found[3 - k][3] / total) for k, (iy, ix, rel, _) in enumerate(found)]


class Encoder(nn.Module):
  """EDSR-baseline-style residual stack without biases: (B, h, w, C) -> (B, h, w, F)."""
  features: int
  blocks: int

  @nn.compact
  def __call__(self, image: Array) -> Array:
    conv = lambda name: nn.Conv(self.features, (3, 3), use_bias=False, name=name)  # noqa: E731
    x = head = conv('head')(high_pass(image))
    for i in range(self.blocks):
      x = x + conv(f'block{i}_b')(nn.relu(conv(f'block{i}_a')(x)))
    return conv('tail')(x) + head


class Decoder(nn.Module):
  """(B, Q, D) decoder inputs and (B, Q, F) centre features -> (B, Q, channels)."""
  spec: Spec

  @nn.compact
  def __call__(self, inputs: Array, centre: Array) -> Array:
    s = self.spec
    x = inputs
    for i in range(s.decoder_layers):
      fan_in = x.shape[-1]
      if s.activation == 'sine':
        omega0 = s.first_omega0 if i == 0 else s.hidden_omega0
        x = nn.Dense(s.decoder_hidden, kernel_init=layers.siren_kernel_init(
            s.hidden_omega0, is_first=i == 0), bias_init=layers.uniform_bias_init(fan_in),
                     name=f'hidden_{i}')(x)
        x = fast_sine.sin(omega0 * x)
      else:
        x = nn.relu(nn.Dense(s.decoder_hidden, name=f'hidden_{i}')(x))
    gate = nn.Dense(s.decoder_hidden, use_bias=False, name='gate')(centre)
    return nn.Dense(s.channels, use_bias=False, name='out')(x * gate)


class LIIF(nn.Module):
  """The whole model: ``encode`` once per image, ``decode`` at any coordinates."""
  spec: Spec

  def setup(self) -> None:
    self.encoder = Encoder(self.spec.encoder_features, self.spec.encoder_blocks)
    self.decoder = Decoder(self.spec)

  def encode(self, image: Array) -> Array:
    """(B, h, w, C) image in [-1, 1] -> (B, h, w, F) features."""
    return self.encoder(image)

  def decode(self, image: Array, feat: Array, coords: Array, cell: Array) -> Array:
    """Colours at coords.

    Args:
      image: (B, h, w, C) the low-resolution input in [-1, 1].
      feat: (B, h, w, F) its features (``encode``).
      coords: (B, Q, 2) (y, x) in [-1, 1].
      cell: (B, Q, 2) the output pixel size in the same units.

    Returns:
      (B, Q, C) colours in [-1, 1]-ish.
    """
    s = self.spec
    h, w = feat.shape[1:3]
    read = unfold3x3(feat) if s.feature_unfold else feat
    out = bilinear(image, coords)
    for iy, ix, rel, weight in neighbours(feat.shape, coords, s.local_ensemble):
      parts = [_gather(read, iy, ix), rel]
      if s.cell_decode:
        parts.append(cell * jnp.asarray([h, w], jnp.float32))
      centre = _gather(feat, iy, ix) if s.feature_unfold else parts[0]
      out = out + weight[..., None] * self.decoder(jnp.concatenate(parts, -1), centre)
    return out

  def __call__(self, image: Array, coords: Array, cell: Array) -> Array:
    return self.decode(image, self.encode(image), coords, cell)


def init_params(spec: Spec, key: Array) -> Any:
  """The model's parameters (the 'params' collection), shape-independent of the image size."""
  image = jnp.zeros((1, spec.min_input_side, spec.min_input_side, spec.channels))
  coords = jnp.zeros((1, 1, 2))
  return LIIF(spec).init(key, image, coords, coords)['params']


def num_params(params: Any) -> int:
  """The number of parameters in ``params``."""
  return int(sum(math.prod(p.shape) for p in jax.tree.leaves(params)))
