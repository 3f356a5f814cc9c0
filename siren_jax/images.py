"""Image I/O for siren_jax: built-in and file images as float32 (H, W, C) in [-1, 1], PNG output,
and colour renderings of gradient fields and Laplacians.

Pixel convention: value v in [-1, 1] <-> 8-bit (v / 2 + 0.5) * 255, as in the SIREN reference.

Resize methods (``RESIZE_METHODS``):
  'bicubic' (the default): scikit-image's bicubic interpolation, with its Gaussian
    anti-aliasing filter when reducing, in float.
  'reference': the SIREN reference code's preparation, torchvision's ``Resize`` of a PIL image,
    i.e. PIL's bilinear resampling, whose triangle filter widens by the reduction factor (its
    anti-aliasing). An image whose values all lie on the 8-bit lattice k / 255 (decoded from
    8 bits, like ``skimage.data.camera()``) is resized as PIL resizes 8-bit images -- fixed-point
    weights, each pass rounded to 8 bits -- so the result equals the reference's array; any
    other image in PIL's 32-bit float mode. Bilinear keeps fewer high frequencies than bicubic
    when reducing, so the same network fits it to a higher PSNR.
"""

from __future__ import annotations

import io
from collections.abc import Sequence

import imageio.v3 as iio
import matplotlib
import numpy as np
import PIL.Image
import skimage.color
import skimage.data
import skimage.transform

from siren_jax import files, names

# Images that ship inside scikit-image (no download), by the name of their skimage.data function.
BUILTIN_IMAGES = (
    'astronaut', 'brick', 'camera', 'cat', 'chelsea', 'checkerboard', 'clock', 'coffee', 'coins',
    'colorwheel', 'grass', 'gravel', 'horse', 'hubble_deep_field', 'immunohistochemistry', 'logo',
    'microaneurysms', 'moon', 'page', 'retina', 'rocket', 'text',
)
# The colour ones among them (used as the embedded colourisation data set).
BUILTIN_COLOR_IMAGES = ('astronaut', 'chelsea', 'coffee', 'colorwheel', 'hubble_deep_field',
                        'immunohistochemistry', 'logo', 'retina', 'rocket')
MODES = ('grey', 'rgb')
# Offline colour photos of natural scenes (the held-out protocol's and the corpus's fixed test
# photos; see docs/colorization.md). skimage's `cat` is the same array as `chelsea`: never list
# both; grace_hopper ships with matplotlib.
NATURAL_PHOTOS = ('astronaut', 'chelsea', 'coffee', 'rocket', 'stereo_motorcycle', 'grace_hopper')
# File extensions read as images when a folder of photos is listed.
IMAGE_EXTENSIONS = ('.png', '.jpg', '.jpeg', '.bmp', '.gif', '.tif', '.tiff', '.webp')
RESIZE_METHODS = names.RESIZE_METHODS


def _to_unit_float(array: np.ndarray, source: str) -> np.ndarray:
  """Integer/bool/float pixels -> float32 in [0, 1] by the dtype's range (no float64 copy)."""
  if array.dtype == bool:
    return array.astype(np.float32)
  if np.issubdtype(array.dtype, np.integer):
    unit = array.astype(np.float32)
    unit /= np.float32(np.iinfo(array.dtype).max)
    return unit
  if np.issubdtype(array.dtype, np.floating):
    return np.clip(array, 0.0, 1.0).astype(np.float32)
  raise ValueError(f'{source}: unsupported pixel type {array.dtype}')


def _to_hwc(array: np.ndarray, source: str) -> np.ndarray:
  """(H, W) / (H, W, C) with C in {1, 2, 3, 4} -> (H, W, C'), C' in {1, 3}: alpha dropped."""
  if array.ndim == 2:
    return array[..., None]
  if array.ndim != 3 or array.shape[-1] not in (1, 2, 3, 4):
    raise ValueError(f'{source}: expected a 2-D grey or RGB(A) image, got array shape '
                     f'{array.shape} (multi-page or volumetric images are not supported)')
  if array.shape[-1] == 2:  # grey + alpha
    return array[..., :1]
  return array[..., :3]


def read_image(source: str) -> np.ndarray:
  """A built-in name, a file path or a URL (``gs://...``; PNG/JPEG/TIFF/..., 8/16-bit,
  grey/RGB/RGBA) -> (H, W, C) float32 in [0, 1] with C = 1 or 3, alpha dropped."""
  if source in BUILTIN_IMAGES and not files.exists(source):
    array = getattr(skimage.data, source)()
  else:
    if not files.exists(source):
      raise FileNotFoundError(
          f'image not found: {source!r} is neither a file nor a built-in image '
          f'({", ".join(BUILTIN_IMAGES)})')
    if files.is_dir(source):
      raise ValueError(f'{source!r} is a directory, expected an image file')
    data = files.read_bytes(source)
    try:  # imageio tells the format from the bytes themselves.
      array = np.asarray(iio.imread(data))
    except Exception as e:  # imageio raises many types for undecodable files.
      raise ValueError(f'cannot read image {source!r}: {type(e).__name__}: {e}') from None
  return pixels_to_unit(np.asarray(array), source)


def pixels_to_unit(array: np.ndarray, source: str) -> np.ndarray:
  """The one normalisation of decoded pixels: (H, W) or (H, W, C) of any integer, bool or float
  dtype -> (H, W, 1 or 3) float32 in [0, 1] (alpha dropped). ``source`` names the image in
  errors."""
  return _to_hwc(_to_unit_float(array, source), source)


def convert_mode(image: np.ndarray, mode: str | None) -> np.ndarray:
  """(H, W, C) in any range -> grey (H, W, 1) by luminance, or rgb (H, W, 3); None keeps it."""
  if mode is None:
    return image
  if mode not in MODES:
    raise ValueError(f'unknown image mode {mode!r}; choose from {", ".join(MODES)}')
  channels = image.shape[-1]
  if mode == 'grey' and channels == 3:
    return skimage.color.rgb2gray(image)[..., None].astype(np.float32)
  if mode == 'rgb' and channels == 1:
    return np.repeat(image, 3, axis=-1)
  return image


def check_resize_method(method: str) -> str:
  """Returns ``method`` if it is one of ``RESIZE_METHODS``; else a one-line ValueError."""
  if method not in RESIZE_METHODS:
    raise ValueError(f'unknown resize method {method!r}; choose from '
                     f'{", ".join(RESIZE_METHODS)}')
  return method


def _on_8bit_lattice(image: np.ndarray) -> np.ndarray | None:
  """The uint8 pixels of a [0, 1] float image decoded from 8 bits (every value k / 255 exactly,
  as ``pixels_to_unit`` makes them), else None."""
  levels = np.round(np.asarray(image, np.float32) * np.float32(255.0))
  if levels.min() < 0 or levels.max() > 255:
    return None
  pixels = levels.astype(np.uint8)
  if not np.array_equal(pixels.astype(np.float32) / np.float32(255.0), image):
    return None
  return pixels


def _pil_bilinear(image: np.ndarray, height: int, width: int) -> np.ndarray:
  """(H, W, C) in [0, 1] -> (height, width, C) float32 by PIL's bilinear resampling per channel:
  8-bit ('L') when the image is on the 8-bit lattice, else 32-bit float ('F')."""
  pixels = _on_8bit_lattice(image)
  if pixels is not None:
    return np.stack([np.asarray(PIL.Image.fromarray(np.ascontiguousarray(pixels[..., c]), 'L')
                                .resize((width, height), PIL.Image.Resampling.BILINEAR))
                     for c in range(pixels.shape[-1])], axis=-1).astype(np.float32) / 255.0
  return np.stack([np.asarray(PIL.Image.fromarray(np.ascontiguousarray(image[..., c],
                                                                       np.float32), 'F')
                              .resize((width, height), PIL.Image.Resampling.BILINEAR))
                   for c in range(image.shape[-1])], axis=-1)


def resize(image: np.ndarray, size: int | Sequence[int], method: str = 'bicubic') -> np.ndarray:
  """Resizes (H, W, C) in [0, 1] to ``size`` = (height, width) or a side length, anti-aliased
  when reducing; ``method`` is one of ``RESIZE_METHODS`` (module docstring)."""
  check_resize_method(method)
  height, width = (size, size) if isinstance(size, int) else tuple(int(s) for s in size)
  if height < 1 or width < 1:
    raise ValueError(f'image size must be positive, got {height}x{width}')
  if image.shape[:2] == (height, width):
    return image
  if method == 'reference':
    return _pil_bilinear(image, height, width)
  out = skimage.transform.resize(image, (height, width, image.shape[-1]), order=3,
                                 anti_aliasing=image.shape[0] > height or image.shape[1] > width,
                                 preserve_range=True)
  return out.astype(np.float32)


def load_image(source: str, *, mode: str | None = None,
               size: int | Sequence[int] | None = None,
               resize_method: str = 'bicubic') -> np.ndarray:
  """Loads an image to float32 (H, W, C) in [-1, 1].

  Args:
    source: a built-in name (``BUILTIN_IMAGES``, e.g. 'camera') or a path to an image file.
    mode: 'grey' (C = 1), 'rgb' (C = 3) or None (keep the file's: 1 or 3).
    size: None keeps the size; an int or (height, width) resizes, anti-aliased.
    resize_method: how to resize (``RESIZE_METHODS``): 'bicubic', or 'reference' for the SIREN
      reference code's preparation (PIL bilinear, see the module docstring).
  """
  check_resize_method(resize_method)
  image = convert_mode(read_image(source), mode)
  if size is not None:
    image = resize(image, size, resize_method)
  image = np.asarray(image, np.float32)
  image = image * np.float32(2.0)  # The one copy; the rest is in place (large photos).
  image -= np.float32(1.0)
  return np.clip(image, -1.0, 1.0, out=image)


def shrink(image: np.ndarray, max_side: int) -> np.ndarray:
  """(H, W, C) float image -> at most ``max_side`` pixels on its longer side, by area (box)
  averaging in float32, per channel (for figures of large images; returns it unchanged if it
  is small enough)."""
  height, width = image.shape[:2]
  scale = max_side / max(height, width)
  if scale >= 1.0:
    return image
  size = (max(1, round(width * scale)), max(1, round(height * scale)))
  return np.stack([np.asarray(PIL.Image.fromarray(np.ascontiguousarray(image[..., c], np.float32),
                                                  'F').resize(size, PIL.Image.Resampling.BOX))
                   for c in range(image.shape[-1])], axis=-1)


def to_uint8(image: np.ndarray) -> np.ndarray:
  """[-1, 1] (H, W[, C]) -> uint8 (H, W) or (H, W, 3), values clipped."""
  image = np.asarray(image, dtype=np.float32)
  if image.ndim == 3 and image.shape[-1] == 1:
    image = image[..., 0]
  return np.round((np.clip(image, -1.0, 1.0) / 2.0 + 0.5) * 255.0).astype(np.uint8)


def png_bytes(image: np.ndarray) -> bytes:
  """An image in [-1, 1] (H, W), (H, W, 1) or (H, W, 3) encoded as 8-bit PNG."""
  buffer = io.BytesIO()
  iio.imwrite(buffer, to_uint8(image), extension='.png')
  return buffer.getvalue()


def save_png(path: str, image: np.ndarray) -> None:
  """Writes an image in [-1, 1] (H, W), (H, W, 1) or (H, W, 3) as an 8-bit PNG to a local path
  or a URL (``gs://...``), creating parent directories."""
  files.write_bytes(path, png_bytes(image))


def gradient_to_rgb(grad: np.ndarray, percentile: float = 99.0) -> np.ndarray:
  """Gradient field (H, W, 2) as (d/dy, d/dx) -> RGB (H, W, 3) in [0, 1].

  Hue is the direction, value the magnitude (clipped at the given percentile), saturation 1.
  """
  grad = np.asarray(grad, dtype=np.float64)
  if grad.ndim != 3 or grad.shape[-1] != 2:
    raise ValueError(f'gradient must have shape (H, W, 2), got {grad.shape}')
  magnitude = np.hypot(grad[..., 0], grad[..., 1])
  scale = np.percentile(magnitude, percentile) or 1.0
  hue = (np.arctan2(grad[..., 0], grad[..., 1]) / (2 * np.pi)) % 1.0
  hsv = np.stack([hue, np.ones_like(hue), np.clip(magnitude / scale, 0.0, 1.0)], axis=-1)
  return matplotlib.colors.hsv_to_rgb(hsv)


def magnitude_to_rgb(grad: np.ndarray, percentile: float = 99.0) -> np.ndarray:
  """|gradient| of (H, W, 2) -> grey RGB (H, W, 3) in [0, 1], clipped at the percentile."""
  magnitude = np.hypot(grad[..., 0], grad[..., 1])
  scale = np.percentile(magnitude, percentile) or 1.0
  return np.repeat(np.clip(magnitude / scale, 0.0, 1.0)[..., None], 3, axis=-1)


def laplacian_to_rgb(laplacian: np.ndarray, percentile: float = 98.0,
                     cmap: str = 'RdBu') -> np.ndarray:
  """Laplacian (H, W) -> RGB (H, W, 3) in [0, 1] with a diverging colormap, zero in the middle,
  clipped symmetrically at the given percentile of |value| (the paper clips 2%)."""
  laplacian = np.asarray(laplacian, dtype=np.float64)
  if laplacian.ndim == 3 and laplacian.shape[-1] == 1:
    laplacian = laplacian[..., 0]
  if laplacian.ndim != 2:
    raise ValueError(f'laplacian must have shape (H, W), got {laplacian.shape}')
  bound = np.percentile(np.abs(laplacian), percentile) or 1.0
  normalised = np.clip(laplacian / bound, -1.0, 1.0) / 2.0 + 0.5
  return matplotlib.colormaps[cmap](normalised)[..., :3]
