"""Colourisers: Wallner's conv encoder/fusion/decoder with a sine/relu schedule, and an FC SIREN.

``Colorizer`` follows Emil Wallner's "full version"
(github.com/emilwallner/Coloring-greyscale-images), the architecture of the original report:

  L (H, W, 1) -> encoder: 3x3 convs 64, 128/2, 128, 256/2, 256, 512, 512, 256 (``/2``: stride 2;
  strides at layers 1, 3, 5) -> (H/8, W/8, 256)
  -> [fusion: concat a global embedding repeated over the grid, 1x1 conv 256]
  -> decoder: 3x3 convs 128, up x2, 64, up x2, 32, 16, 2, up x2 -> ab / 128 (H, W, 2).

The activation schedule (``ACTIVATION_SCHEDULES``) names what every layer uses:
  FR   relu everywhere, tanh on the output (the original);
  SRS  sine on the first and the output layer, relu inside;
  S130 sine on every layer.

What differs from the original, on purpose:
  * Fusion is off by default and its embedding is pluggable: the original concatenates a 1000-d
    Inception-ResNet-v2 (ImageNet) embedding of the grey image, which cannot be downloaded here.
    Pass any (B, D) vectors (precomputed, or from ``thumbnail_embedding``, a pretrained
    projection loaded with ``load_embedding`` from a local .npy/.msgpack file, or your own
    network), and/or set ``global_features`` for Iizuka et al.'s jointly trained global branch
    (``GlobalFeatures``): both are concatenated to the encoder output before the 1x1 fusion conv.
  * ``width_scale`` multiplies every hidden channel count (1.0 is the original; the CPU configs use
    0.25 to keep epochs short). The output has 2 channels always.
  * The input side must be a multiple of 8 (three stride-2 convs, three x2 upsamplings), not fixed
    at 256; the fusion grid is (H/8, W/8).
  * Relu/tanh convs use Keras' defaults (Glorot-uniform kernels, zero biases) as the original.
    Sine convs use the SIREN initialisers of ``siren_jax.layers`` (``sine_init``):
      'report': first layer sin(omega0 * (W x + b)) with W ~ U(-1, 1) (the report: omega0 = 1/30),
        later sine layers He-uniform kernels (= ``siren_hidden_init(1)``, with hidden_omega0 = 1),
        zero biases (Keras);
      'paper': the SIREN paper's init (first layer U(-1/fan_in, 1/fan_in), later
        ``siren_hidden_init(hidden_omega0)``, biases U(+-1/sqrt(fan_in))); use with
        first_omega0 = hidden_omega0 = 30.

``FCColorizer`` is the report's fully connected SIREN: a flattened (H * W) grey image in,
3 * H * W RGB out, ``sine_layers`` sine layers of width 3 * H * W and a linear last layer (a
``siren_jax.layers.Siren``). Larger photos are colourised in blended HxW tiles
(``siren_jax.colorize.photo_colorize``).
"""

from __future__ import annotations

import io
import math
import os
from collections.abc import Callable, Sequence
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from siren_jax import fast_sine, files, layers, names

Array = jax.Array

ACTIVATION_SCHEDULES = names.COLORIZER_SCHEDULES
SINE_INITS = ('report', 'paper')
# (features, stride) of Wallner's encoder and decoder (None marks a x2 upsampling).
ENCODER = ((64, 2), (128, 1), (128, 2), (256, 1), (256, 2), (512, 1), (512, 1), (256, 1))
FUSION_FEATURES = 256
DECODER = (128, None, 64, None, 32, 16)
DOWNSAMPLING = 8


def _unit_uniform_init(key: Array, shape: Sequence[int], dtype: Any = jnp.float32) -> Array:
  return jax.random.uniform(key, shape, dtype, minval=-1.0, maxval=1.0)


class ColorConv(nn.Module):
  """A 3x3 (or 1x1) 'same' conv with a relu, tanh or sine activation.

  x: (B, H, W, C) -> (B, H / stride, W / stride, features).
  """

  features: int
  activation: str  # 'relu', 'tanh' or 'sine'.
  stride: int = 1
  kernel_size: int = 3
  omega0: float = 1.0  # Sine layers only: sin(omega0 * (W x + b)).
  is_first: bool = False  # Sine layers only: use the first-layer initialiser.
  sine_init: str = 'report'
  sine: str = 'auto'  # Sine layers only: how sin is computed (``fast_sine.sine``).

  @nn.compact
  def __call__(self, x: Array) -> Array:
    fan_in = self.kernel_size ** 2 * x.shape[-1]
    if self.activation == 'sine':
      if self.is_first:
        kernel_init = _unit_uniform_init if self.sine_init == 'report' else (
            layers.siren_first_layer_init())
      else:
        kernel_init = layers.siren_hidden_init(self.omega0 if self.sine_init == 'paper' else 1.0)
      bias_init = (nn.initializers.zeros if self.sine_init == 'report' else
                   layers.uniform_bias_init(fan_in))
    else:
      kernel_init, bias_init = nn.initializers.glorot_uniform(), nn.initializers.zeros
    y = nn.Conv(self.features, (self.kernel_size,) * 2, strides=self.stride, padding='SAME',
                kernel_init=kernel_init, bias_init=bias_init)(x)
    if self.activation == 'sine':
      return fast_sine.sine(self.omega0 * y, self.sine)
    if self.activation == 'relu':
      return nn.relu(y)
    if self.activation == 'tanh':
      return jnp.tanh(y)
    raise ValueError(f'unknown activation {self.activation!r}')


def upsample(x: Array, factor: int = 2) -> Array:
  """Nearest-neighbour upsampling (Keras' UpSampling2D); (B, H, W, C) -> (B, fH, fW, C)."""
  return jnp.repeat(jnp.repeat(x, factor, axis=1), factor, axis=2)


class Colorizer(nn.Module):
  """Wallner's colouriser. Input: grey (B, H, W, 1) = L / 50 - 1 in [-1, 1], H and W multiples
  of 8, or a dict {'grey': that, 'embedding': (B, D)} when ``fusion_features`` > 0, and
  'hints': (B, H, W, 3) when ``hint_inputs`` (``hints.to_channels``: the hinted ab / 128 and a
  0/1 mask, zero where no hint; Zhang et al. 2017's user points as extra input channels).
  Output: ab / 128 (B, H, W, 2) in [-1, 1]."""

  schedule: str = 'FR'
  first_omega0: float = 1.0 / 30.0
  hidden_omega0: float = 1.0
  sine_init: str = 'report'
  width_scale: float = 1.0
  fusion_features: int = 0  # D of an external fusion embedding; 0 = none.
  global_features: int = 0  # Width of Iizuka's jointly trained global branch; 0 = none.
  sine: str = 'auto'  # How sine layers compute sin (``fast_sine.sine``).
  hint_inputs: bool = False  # Hint channels beside the grey input (see above).

  def _activation(self, index: int, num_layers: int) -> str:
    is_last = index == num_layers - 1
    if self.schedule == 'S130' or (self.schedule == 'SRS' and (index == 0 or is_last)):
      return 'sine'
    return 'tanh' if is_last else 'relu'

  @nn.compact
  def __call__(self, inputs: Array | dict[str, Array]) -> Array:
    check_colorizer_args(self.schedule, self.sine_init, self.width_scale, self.first_omega0,
                         self.hidden_omega0)
    grey, embedding, hints = ((inputs['grey'], inputs.get('embedding'), inputs.get('hints'))
                              if isinstance(inputs, dict) else (inputs, None, None))
    if grey.ndim != 4 or grey.shape[-1] != 1:
      raise ValueError(f'grey input must have shape (B, H, W, 1), got {grey.shape}')
    if grey.shape[1] % DOWNSAMPLING or grey.shape[2] % DOWNSAMPLING:
      raise ValueError(f'input height and width must be multiples of {DOWNSAMPLING}, got '
                       f'{grey.shape[1]}x{grey.shape[2]}')
    if (embedding is None) != (self.fusion_features == 0):
      raise ValueError('pass an embedding exactly when the model has fusion_features > 0 '
                       f'(fusion_features={self.fusion_features}, embedding given: '
                       f'{embedding is not None})')
    if (hints is None) == self.hint_inputs:
      raise ValueError(f'pass hints exactly when the model has hint_inputs (hint_inputs='
                       f'{self.hint_inputs}, hints given: {hints is not None})')
    if hints is not None and hints.shape != grey.shape[:3] + (3,):
      raise ValueError(f'hints must have shape {grey.shape[:3] + (3,)} (ab and mask), got '
                       f'{hints.shape}')
    fuse = bool(self.fusion_features or self.global_features)
    num_layers = len(ENCODER) + len([d for d in DECODER if d]) + 1 + fuse
    index = 0
    x = grey if hints is None else jnp.concatenate([grey, hints.astype(grey.dtype)], axis=-1)

    def conv(x, features, stride=1, kernel_size=3, name=None):
      nonlocal index
      activation = self._activation(index, num_layers)
      y = ColorConv(features, activation, stride, kernel_size,
                    self.first_omega0 if index == 0 else self.hidden_omega0, index == 0,
                    self.sine_init, self.sine, name=name)(x)
      index += 1
      return y

    def width(features: int) -> int:
      return max(1, int(round(features * self.width_scale)))

    for i, (features, stride) in enumerate(ENCODER):
      x = conv(x, width(features), stride, name=f'encoder_{i}')
    if fuse:
      vectors = []
      if embedding is not None:  # Exactly when fusion_features > 0 (checked above).
        if embedding.shape != (grey.shape[0], self.fusion_features):
          raise ValueError(f'embedding must have shape (B, {self.fusion_features}), got '
                           f'{embedding.shape}')
        vectors.append(embedding.astype(x.dtype))
      if self.global_features:
        vectors.append(GlobalFeatures(self.global_features, self.width_scale,
                                      name='global_features')(grey).astype(x.dtype))
      vector = jnp.concatenate(vectors, axis=-1)
      tiled = jnp.broadcast_to(vector[:, None, None, :], x.shape[:3] + vector.shape[-1:])
      x = conv(jnp.concatenate([x, tiled], axis=-1), width(FUSION_FEATURES), kernel_size=1,
               name='fusion')
    for i, decoder_features in enumerate(DECODER):
      x = (upsample(x) if decoder_features is None
           else conv(x, width(decoder_features), name=f'decoder_{i}'))
    return upsample(conv(x, 2, name='output'))


def check_colorizer_args(schedule: str, sine_init: str, width_scale: float, first_omega0: float,
                         hidden_omega0: float) -> None:
  """One-line errors for bad ``Colorizer`` settings."""
  if schedule not in ACTIVATION_SCHEDULES:
    raise ValueError(f'unknown activation schedule {schedule!r}; choose from '
                     f'{", ".join(ACTIVATION_SCHEDULES)}')
  if sine_init not in SINE_INITS:
    raise ValueError(f'unknown sine_init {sine_init!r}; choose from {", ".join(SINE_INITS)}')
  for name, value in (('width_scale', width_scale), ('first_omega0', first_omega0),
                      ('hidden_omega0', hidden_omega0)):
    if not value > 0:
      raise ValueError(f'{name} must be positive, got {value}')


# Iizuka et al.'s global network, scaled down: (features, stride) of its convs on a fixed-size
# copy of the grey input, then two dense layers (theirs: 224x224 input, 4 stride-2 convs of
# 512, 512, 512, 512 channels after the shared low-level net, dense 1024, 512, 256).
GLOBAL_SIDE = 64
GLOBAL_CONVS = ((64, 2), (128, 2), (128, 2), (256, 2))
GLOBAL_DENSE = 512


class GlobalFeatures(nn.Module):
  """The jointly trained global-feature branch of Iizuka, Simo-Serra and Ishikawa, "Let there
  be Color!" (SIGGRAPH 2016): a small relu conv tower on a GLOBAL_SIDE x GLOBAL_SIDE copy of the
  grey image, flattened, then dense layers to a ``features``-vector of the whole image (scene
  cues such as indoor/outdoor or sky present), fused into every position of the encoder output.
  Needs no download: it trains with the colouriser. grey (B, H, W, 1) -> (B, features).
  """

  features: int
  width_scale: float = 1.0

  @nn.compact
  def __call__(self, grey: Array) -> Array:
    b = grey.shape[0]
    # Any input size -> one fixed-size copy (anti-aliased), so the vector is resolution-free.
    x = jax.image.resize(grey, (b, GLOBAL_SIDE, GLOBAL_SIDE, 1), 'linear', antialias=True)
    for i, (features, stride) in enumerate(GLOBAL_CONVS):
      x = ColorConv(max(1, int(round(features * self.width_scale))), 'relu', stride,
                    name=f'conv_{i}')(x)
    x = x.reshape(b, -1)
    x = nn.relu(nn.Dense(max(1, int(round(GLOBAL_DENSE * self.width_scale))), name='dense_0')(x))
    return nn.relu(nn.Dense(self.features, name='dense_1')(x))


def thumbnail_embedding(grey: Array, side: int = 8) -> Array:
  """A parameter-free global embedding for fusion: the (side x side) average-pooled grey image
  plus its mean and standard deviation. grey (B, H, W, 1), H and W multiples of ``side`` ->
  (B, side * side + 2). A stand-in for the original's Inception-ResNet-v2 vector."""
  b, h, w, _ = grey.shape
  if h % side or w % side:
    raise ValueError(f'thumbnail_embedding needs sides divisible by {side}, got {h}x{w}')
  pooled = grey.reshape(b, side, h // side, side, w // side).mean(axis=(2, 4)).reshape(b, -1)
  return jnp.concatenate([pooled, grey.mean(axis=(1, 2, 3))[:, None],
                          grey.std(axis=(1, 2, 3))[:, None]], axis=-1)


EMBEDDINGS: dict[str, tuple[Callable[[Array], Array], int]] = {
    'thumbnail': (thumbnail_embedding, 8 * 8 + 2),
}
# The fusion built into the model (``Colorizer.global_features``) rather than passed in.
GLOBAL_FUSION = 'global'
GLOBAL_FUSION_FEATURES = 256


def load_embedding(path: str) -> tuple[Callable[[Array], Array], int]:
  """A pretrained global embedding from a file (local or a URL), for fusion: (fn, D) with fn: grey
  (B, H, W, 1) -> (B, D).

  The file holds a linear projection of a side x side thumbnail of the grey image (any
  pretrained or PCA-like map exported to this form; a bigger network can be exported as its
  precomputed vectors instead and passed to ``Colorizer`` as ``embedding``):
    .npy      a (side * side, D) float array ``kernel``: embedding = thumbnail @ kernel;
    .msgpack  flax.serialization bytes of {'kernel': (side * side, D), 'bias': (D,)}.
  The thumbnail is the side x side block mean of grey (an anti-aliased resize if the sides are
  not multiples of side), flattened row-major.
  """
  import flax.serialization  # Local: only .msgpack embeddings need it.
  if not files.is_file(path):
    raise FileNotFoundError(f'embedding file not found: {path!r}')
  if path.endswith('.npy'):
    kernel, bias = np.load(io.BytesIO(files.read_bytes(path))), None
  elif path.endswith('.msgpack'):
    tree = flax.serialization.msgpack_restore(files.read_bytes(path))
    if not isinstance(tree, dict) or 'kernel' not in tree:
      raise ValueError(f'{path}: expected a msgpack dict with "kernel" (and optional "bias")')
    kernel, bias = np.asarray(tree['kernel']), tree.get('bias')
  else:
    raise ValueError(f'embedding file {path!r} must end in .npy or .msgpack')
  side = int(round(math.sqrt(kernel.shape[0]))) if kernel.ndim == 2 else 0
  if kernel.ndim != 2 or side * side != kernel.shape[0]:
    raise ValueError(f'{path}: kernel must have shape (side * side, D), got {kernel.shape}')
  dims = kernel.shape[1]
  if bias is not None and np.shape(bias) != (dims,):
    raise ValueError(f'{path}: bias must have shape ({dims},), got {np.shape(bias)}')
  kernel = jnp.asarray(kernel, jnp.float32)
  bias = jnp.zeros((dims,), jnp.float32) if bias is None else jnp.asarray(bias, jnp.float32)

  def embed(grey: Array) -> Array:
    b, h, w, _ = grey.shape
    if h % side == 0 and w % side == 0:  # Exact block means (area resize).
      thumbnail = grey.reshape(b, side, h // side, side, w // side).mean(axis=(2, 4))
    else:
      thumbnail = jax.image.resize(grey, (b, side, side, 1), 'linear', antialias=True)
    return thumbnail.reshape(b, -1) @ kernel + bias

  return embed, dims


def fusion_embedding(fusion: str) -> tuple[Callable[[Array], Array], int] | None:
  """The external embedding (fn, D) a fusion setting needs: a name in EMBEDDINGS, or
  'file:PATH' (``load_embedding``); None for '' (no fusion) and 'global' (built into the
  model)."""
  if fusion in ('', GLOBAL_FUSION):
    return None
  if fusion.startswith('file:'):
    return load_embedding(os.path.expanduser(fusion[len('file:'):]))
  if fusion not in EMBEDDINGS:
    raise ValueError(f'unknown embedding {fusion!r}; choose from '
                     f'{", ".join((*EMBEDDINGS, GLOBAL_FUSION))}, file:PATH or leave empty')
  return EMBEDDINGS[fusion]


class FCColorizer(nn.Module):
  """The report's fully connected SIREN colouriser on (height x width) pieces.

  grey: (B, H, W, 1) in [-1, 1] -> RGB (B, H, W, 3) in about [-1, 1] (linear last layer).
  Hidden width 3 * H * W; ``sine_layers`` sine layers (the report: 3), then a linear layer.
  """

  height: int
  width: int
  sine_layers: int = 3
  first_omega0: float = layers.DEFAULT_OMEGA0
  hidden_omega0: float = layers.DEFAULT_OMEGA0
  sine: str = 'auto'  # How sin is computed (``fast_sine.sine``).

  @nn.compact
  def __call__(self, grey: Array) -> Array:
    if grey.shape[1:] != (self.height, self.width, 1):
      raise ValueError(f'FC colouriser input must have shape (B, {self.height}, {self.width}, 1), '
                       f'got {grey.shape}')
    if self.sine_layers < 1:
      raise ValueError(f'sine_layers must be >= 1, got {self.sine_layers}')
    pixels = self.height * self.width
    rgb = layers.Siren(out_features=3 * pixels, hidden_features=3 * pixels,
                       hidden_layers=self.sine_layers - 1, first_omega0=self.first_omega0,
                       hidden_omega0=self.hidden_omega0, sine=self.sine,
                       name='siren')(grey.reshape(-1, pixels))
    return rgb.reshape(-1, self.height, self.width, 3)

