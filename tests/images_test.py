"""siren_jax.images: loading, saving, modes and sizes, and the derivative renderings (gradient
and magnitude colours, values worked by hand)."""

import colorsys

import imageio.v3 as iio
import numpy as np
import pytest

from siren_jax import images


def test_builtin_grey_image_in_range():
  image = images.load_image('camera', size=64)
  assert image.shape == (64, 64, 1) and image.dtype == np.float32
  assert image.min() >= -1.0 and image.max() <= 1.0 and image.std() > 0.2


def test_builtin_rgb_to_grey_and_back():
  rgb = images.load_image('astronaut', size=(32, 48))
  assert rgb.shape == (32, 48, 3)
  assert images.load_image('astronaut', mode='grey', size=32).shape == (32, 32, 1)
  assert images.load_image('camera', mode='rgb', size=16).shape == (16, 16, 3)


@pytest.mark.parametrize('ext', ['.png', '.tif', '.jpg'])
def test_file_round_trip_8_bit(tmp_path, ext):
  # A smooth image, so that lossy JPEG stays close too.
  yy, xx = np.mgrid[0:20, 0:30]
  pixels = np.stack([yy * 12, xx * 8, 255 - xx * 8], axis=-1).astype(np.uint8)
  path = str(tmp_path / f'img{ext}')
  iio.imwrite(path, pixels)
  loaded = images.load_image(path)
  expected = pixels / 255.0 * 2 - 1
  assert loaded.shape == (20, 30, 3)
  tolerance = 0.05 if ext == '.jpg' else 1e-6  # JPEG is lossy.
  assert np.abs(loaded - expected).mean() < tolerance


def test_16_bit_grey_png_uses_full_range(tmp_path):
  pixels = np.array([[0, 65535], [32768, 1000]], dtype=np.uint16)
  path = str(tmp_path / 'deep.png')
  iio.imwrite(path, pixels)
  loaded = images.load_image(path)
  assert loaded.shape == (2, 2, 1)
  np.testing.assert_allclose(loaded[..., 0], pixels / 65535.0 * 2 - 1, atol=1e-6)


def test_rgba_drops_alpha(tmp_path):
  pixels = np.zeros((4, 4, 4), np.uint8)
  pixels[..., 0] = 255
  pixels[..., 3] = 10
  path = str(tmp_path / 'rgba.png')
  iio.imwrite(path, pixels)
  loaded = images.load_image(path)
  assert loaded.shape == (4, 4, 3)
  np.testing.assert_allclose(loaded[..., 0], 1.0)
  np.testing.assert_allclose(loaded[..., 1], -1.0)


def test_save_png_round_trip(tmp_path):
  image = np.linspace(-1, 1, 64, dtype=np.float32).reshape(8, 8, 1)
  path = str(tmp_path / 'sub' / 'out.png')
  images.save_png(path, image)
  np.testing.assert_allclose(images.load_image(path), image, atol=1 / 255)


def test_missing_file_and_unknown_name_are_clear_errors(tmp_path):
  with pytest.raises(FileNotFoundError, match='built-in image'):
    images.load_image(str(tmp_path / 'nope.png'))
  with pytest.raises(FileNotFoundError, match="'cameraman'"):
    images.load_image('cameraman')


def test_unreadable_file_is_a_clear_error(tmp_path):
  path = tmp_path / 'bad.png'
  path.write_bytes(b'not an image at all')
  with pytest.raises(ValueError, match='cannot read image'):
    images.load_image(str(path))
  with pytest.raises(ValueError, match='directory'):
    images.load_image(str(tmp_path))


def test_bad_mode_and_size_are_clear_errors():
  with pytest.raises(ValueError, match='mode'):
    images.load_image('camera', mode='cmyk')
  with pytest.raises(ValueError, match='positive'):
    images.load_image('camera', size=0)


def test_gradient_colours_encode_direction_and_magnitude():
  grad = np.zeros((2, 2, 2))
  grad[0, 0] = (0.0, 1.0)  # Pure +x: hue 0 (red), full value.
  grad[0, 1] = (1.0, 0.0)  # Pure +y: hue 1/4.
  rgb = images.gradient_to_rgb(grad, percentile=100)
  np.testing.assert_allclose(rgb[0, 0], [1.0, 0.0, 0.0], atol=1e-6)
  assert rgb[0, 1, 1] > 0.9 and rgb[0, 1, 2] < 0.1  # Yellow-green, not red.
  np.testing.assert_allclose(rgb[1, 1], 0.0)  # Zero gradient is black.


def test_laplacian_colours_are_symmetric_around_zero():
  lap = np.array([[-5.0, 0.0, 5.0]])
  rgb = images.laplacian_to_rgb(lap, percentile=100)
  assert rgb.shape == (1, 3, 3)
  assert rgb[0, 0, 0] > rgb[0, 0, 2] and rgb[0, 2, 2] > rgb[0, 2, 0]  # Negative red, positive blue.
  np.testing.assert_allclose(rgb[0, 0].sum(), rgb[0, 2].sum(), atol=0.15)  # Equal darkness.
  assert np.all(rgb[0, 1] > 0.9)  # Zero is white-ish.


def test_gradient_hue_is_the_angle_over_a_full_turn():
  # (d/dy, d/dx) at angle a = atan2(dy, dx) has hue a / (2 pi) mod 1, saturation 1, value 1
  # (every magnitude is 1, so the percentile scale is 1): colorsys gives the RGB.
  angles = np.array([0.0, 0.5 * np.pi, np.pi, -0.5 * np.pi, 0.25 * np.pi])
  grad = np.stack([np.sin(angles), np.cos(angles)], axis=-1)[None]  # (1, 5, 2)
  rgb = images.gradient_to_rgb(grad, percentile=100)
  expected = [colorsys.hsv_to_rgb((a / (2 * np.pi)) % 1.0, 1.0, 1.0) for a in angles]
  np.testing.assert_allclose(rgb[0], expected, atol=1e-6)
  np.testing.assert_allclose(rgb[0, 1], [0.5, 1.0, 0.0], atol=1e-6)  # +y: hue 1/4.


def test_magnitude_colours_scale_by_the_percentile_and_clip():
  # Magnitudes 0, 1, ..., 100 (as (0, m) gradients): NumPy's 99th percentile of 101 evenly
  # spaced values is 99, so magnitude m shows as min(m / 99, 1) in all three channels.
  m = np.arange(101, dtype=np.float64)
  grad = np.stack([np.zeros_like(m), m], axis=-1).reshape(1, 101, 2)
  rgb = images.magnitude_to_rgb(grad)
  assert rgb.shape == (1, 101, 3)
  expected = np.minimum(m / 99.0, 1.0)
  for channel in range(3):
    np.testing.assert_allclose(rgb[0, :, channel], expected, atol=1e-12)


def test_convert_mode_keeps_images_already_in_the_mode():
  rgb = np.random.default_rng(0).uniform(size=(4, 5, 3)).astype(np.float32)
  grey = rgb[..., :1]
  np.testing.assert_array_equal(images.convert_mode(rgb, 'rgb'), rgb)
  np.testing.assert_array_equal(images.convert_mode(grey, 'grey'), grey)
  # Grey by luminance (ITU-R 709 weights, as skimage.color.rgb2gray documents them).
  np.testing.assert_allclose(images.convert_mode(rgb, 'grey')[..., 0],
                             rgb @ np.array([0.2125, 0.7154, 0.0721]), atol=1e-6)
  np.testing.assert_array_equal(images.convert_mode(grey, 'rgb'), np.repeat(grey, 3, axis=-1))


@pytest.mark.parametrize('size', [(1, 4), (4, 1), (1, 1)])
def test_resize_to_a_single_row_or_column_is_allowed(size):
  image = np.full((6, 8, 1), 0.3, np.float32)  # A constant image resizes to the same constant.
  out = images.resize(image, size)
  assert out.shape == (*size, 1)
  np.testing.assert_allclose(out, 0.3, atol=1e-6)
  with pytest.raises(ValueError, match='image size must be positive'):
    images.resize(image, (0, 4))
def test_reference_resize_is_pils_bilinear_reduction():
  # The reference prepares skimage.data.camera() with torchvision's Resize(256): PIL's
  # bilinear resize of the 8-bit image, then ToTensor (/ 255) and Normalize(0.5, 0.5).
  import PIL.Image
  import skimage.data
  camera = PIL.Image.fromarray(skimage.data.camera())
  expected = np.asarray(camera.resize((256, 256), PIL.Image.Resampling.BILINEAR),
                        np.float32) / 255.0 * 2 - 1
  ours = images.load_image('camera', mode='grey', size=256, resize_method='reference')
  np.testing.assert_array_equal(ours[..., 0], expected)
  # An RGB 8-bit image: as PIL resizes it in RGB mode.
  rgb = np.random.default_rng(0).integers(0, 256, (9, 7, 3)).astype(np.uint8)
  expected = np.asarray(PIL.Image.fromarray(rgb).resize((3, 4), PIL.Image.Resampling.BILINEAR))
  np.testing.assert_array_equal(images.resize(rgb / np.float32(255), (4, 3), 'reference'),
                                expected / np.float32(255))


def test_reference_resize_of_4x4_to_2x2_worked_by_hand():
  # Halving, PIL's bilinear (triangle) filter is stretched to a radius of 2 input pixels:
  # output pixel 0 is centred at input position 1.0 (pixel j's centre is j + 0.5), so pixels
  # 0, 1, 2 (centres 0.5, 1.5, 2.5) weigh 1 - |c - 1| / 2 = 3/4, 3/4, 1/4; pixel -1 lies outside
  # the image and PIL renormalises: 3/7, 3/7, 1/7. Output 1 mirrors it: 1/7, 3/7, 3/7.
  weights = np.array([[3, 3, 1, 0], [0, 1, 3, 3]]) / 7.0
  image = (np.arange(16, dtype=np.float32).reshape(4, 4) ** 1.5 / 64.0)[..., None]  # Not 8-bit.
  np.testing.assert_allclose(images.resize(image, 2, 'reference')[..., 0],
                             weights @ image[..., 0] @ weights.T, rtol=1e-6)
  # 8-bit images are resized in 8 bits, rounded: a row 0, 10, 20, 255 gives 50/7 -> 7 and
  # 835/7 -> 119 (the rows are equal, so the vertical pass keeps them).
  row = np.tile(np.array([0, 10, 20, 255], np.float32) / np.float32(255), (4, 1))[..., None]
  np.testing.assert_array_equal(images.resize(row, 2, 'reference')[..., 0] * 255,
                                [[7, 119], [7, 119]])


def test_bicubic_stays_the_default_resize():
  np.testing.assert_array_equal(images.load_image('camera', size=64),
                                images.load_image('camera', size=64, resize_method='bicubic'))
  assert not np.array_equal(images.load_image('camera', size=64),
                            images.load_image('camera', size=64, resize_method='reference'))
  with pytest.raises(ValueError, match="unknown resize method 'box'; choose from bicubic, "
                     'reference'):
    images.load_image('camera', size=64, resize_method='box')
