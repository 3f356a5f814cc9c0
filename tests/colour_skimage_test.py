"""The scaled Lab channels the colourisers use, against scikit-image's rgb2lab / lab2rgb."""

import numpy as np
import pytest
import skimage.color

from siren_jax.colorize import colour


def _rgb(seed=0, shape=(6, 5, 3)):
  rgb = np.random.default_rng(seed).uniform(0.0, 1.0, shape)
  rgb[0, :2] = [[1.0, 0.0, 0.0], [0.0, 0.0, 1.0]]  # Pure red and blue: |a|, |b| near their maxima.
  return rgb


@pytest.mark.parametrize('rgb_range', ['signed', 'unit'])
def test_scaled_channels_are_skimage_lab_over_50_and_128(rgb_range):
  unit = _rgb()
  rgb = unit * 2 - 1 if rgb_range == 'signed' else unit
  lightness, ab = colour.rgb_to_scaled_lab(rgb, rgb_range=rgb_range)
  lab = skimage.color.rgb2lab(unit)
  np.testing.assert_allclose(lightness[..., 0], lab[..., 0] / 50.0 - 1.0, atol=1e-6)
  np.testing.assert_allclose(ab, lab[..., 1:] / 128.0, atol=1e-6)
  # Pure blue has b* ~ -107.9 in skimage (D65): scaled by 1/128 that is ~ -0.843.
  assert -0.86 < ab[0, 1, 1] < -0.83


@pytest.mark.parametrize('rgb_range', ['signed', 'unit'])
def test_scaled_lab_to_rgb_is_skimage_lab2rgb_of_the_unscaled_channels(rgb_range):
  rng = np.random.default_rng(1)
  lightness = rng.uniform(-0.6, 0.8, (40, 1))  # L in [20, 90]
  ab = rng.uniform(-0.3, 0.3, (40, 2))  # ab in about [-38, 38]: mostly inside the gamut.
  lab = np.concatenate([(lightness + 1.0) * 50.0, ab * 128.0], axis=-1)
  expected = skimage.color.lab2rgb(lab)
  if rgb_range == 'signed':
    expected = expected * 2 - 1
  np.testing.assert_allclose(colour.scaled_lab_to_rgb(lightness, ab, rgb_range=rgb_range),
                             expected, atol=1e-6)


def test_grey_baseline_is_skimage_lab2rgb_with_zero_chroma():
  lightness = np.linspace(-1, 1, 11)[:, None]
  lab = np.concatenate([(lightness + 1) * 50, np.zeros((11, 2))], axis=-1)
  np.testing.assert_allclose(colour.grey_baseline_rgb(lightness, rgb_range='unit'),
                             skimage.color.lab2rgb(lab), atol=1e-6)
