"""images: gradient / magnitude colours and mode / size edge cases, values worked by hand."""

import colorsys

import numpy as np
import pytest

from siren_jax import images


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
