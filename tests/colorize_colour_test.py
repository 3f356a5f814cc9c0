"""siren_jax.colorize.colour against scikit-image: rgb2lab / lab2rgb, and the scaled Lab
channels the colourisers use (L / 50 - 1, ab / 128)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import skimage.color
import skimage.data

from siren_jax.colorize import colour


def _random_rgb(shape=(7, 9, 3), seed=0):
  rgb = np.random.default_rng(seed).uniform(0.0, 1.0, shape)
  rgb[0, :3] = [[0, 0, 0], [1, 1, 1], [0.02, 0.01, 0.03]]  # Black, white, the linear branch.
  return rgb


def test_rgb_to_lab_matches_skimage():
  rgb = _random_rgb()
  np.testing.assert_allclose(colour.rgb_to_lab(rgb), skimage.color.rgb2lab(rgb), atol=1e-6)


def test_rgb_to_lab_in_jax_matches_skimage_on_a_photo():
  rgb = skimage.data.astronaut()[::8, ::8] / 255.0
  lab = jax.jit(colour.rgb_to_lab)(jnp.asarray(rgb, jnp.float32))
  assert isinstance(lab, jax.Array)
  np.testing.assert_allclose(lab, skimage.color.rgb2lab(rgb), atol=2e-3)


def test_lab_to_rgb_matches_skimage_including_out_of_gamut():
  rng = np.random.default_rng(1)
  lab = np.stack([rng.uniform(0, 100, 200), rng.uniform(-110, 110, 200),
                  rng.uniform(-110, 110, 200)], axis=-1)
  with pytest.warns(UserWarning, match='negative Z'):  # The out-of-gamut case is covered.
    expected = skimage.color.lab2rgb(lab)
  np.testing.assert_allclose(colour.lab_to_rgb(lab), expected, atol=1e-6)
  np.testing.assert_allclose(jax.jit(colour.lab_to_rgb)(jnp.asarray(lab, jnp.float32)),
                             expected, atol=1e-4)


@pytest.mark.parametrize('convert', [colour.rgb_to_lab, colour.lab_to_rgb])
def test_jax_conversions_multiply_at_full_float32_precision(convert):
  # XLA:GPU/TPU multiply float32 at TF32/bfloat16 precision unless asked otherwise: on an H200
  # that put rgb_to_lab 0.05 Lab off scikit-image (the test above failed there). XLA:CPU is exact
  # whatever the flag, so this checks the request itself, in the traced program.
  jaxpr = jax.make_jaxpr(convert)(jnp.full((4, 3), 0.5, jnp.float32))
  dots = [e for e in jaxpr.jaxpr.eqns if e.primitive.name == 'dot_general']
  assert dots, 'no matrix product traced'
  highest = jax.lax.Precision.HIGHEST
  assert all(e.params['precision'] == (highest, highest) for e in dots), dots


@pytest.mark.parametrize('rgb_range', ['signed', 'unit'])
def test_scaled_lab_round_trip_returns_the_image(rgb_range):
  rgb = _random_rgb(seed=2)
  if rgb_range == 'signed':
    rgb = rgb * 2 - 1
  lightness, ab = colour.rgb_to_scaled_lab(rgb, rgb_range=rgb_range)
  assert lightness.shape == (7, 9, 1) and ab.shape == (7, 9, 2)
  assert lightness.min() >= -1 and lightness.max() <= 1 and np.abs(ab).max() <= 1
  np.testing.assert_allclose(colour.scaled_lab_to_rgb(lightness, ab, rgb_range=rgb_range), rgb,
                             atol=1e-6)


def test_grey_baseline_is_neutral_with_the_same_lightness():
  rgb = _random_rgb(seed=3) * 2 - 1
  lightness, _ = colour.rgb_to_scaled_lab(rgb)
  grey = colour.grey_baseline_rgb(lightness)
  np.testing.assert_allclose(grey[..., 0], grey[..., 1], atol=1e-3)  # D65 vs the matrix rows.
  np.testing.assert_allclose(grey[..., 1], grey[..., 2], atol=1e-3)
  np.testing.assert_allclose(colour.rgb_to_scaled_lab(grey)[0], lightness, atol=1e-5)


def test_wrong_channel_count_is_an_error():
  with pytest.raises(ValueError, match='3 channels'):
    colour.rgb_to_lab(np.zeros((4, 4, 2)))
  with pytest.raises(ValueError, match='rgb_range'):
    colour.rgb_to_scaled_lab(np.zeros((4, 4, 3)), rgb_range='bytes')


def test_rgb_outside_0_1_is_clipped_before_conversion():
  # A network's output can overshoot [0, 1]; it is scored as the nearest displayable colour.
  over = np.array([[1.5, 1.2, 2.0], [-0.3, -1.0, -0.5], [0.5, 1.4, -0.2]])
  np.testing.assert_allclose(colour.rgb_to_lab(over), colour.rgb_to_lab(np.clip(over, 0, 1)))
  np.testing.assert_allclose(colour.rgb_to_lab(over[:1]), [[100.0, 0.0, 0.0]], atol=0.01)  # White.


def test_scaled_lab_to_rgb_traces_when_only_ab_is_a_jax_value():
  # The colourisers predict ab in JAX while the lightness comes from the (numpy) input photo.
  lightness = np.zeros((2, 2, 1), np.float32)  # L = 50.
  ab = np.array([[[0.2, -0.1], [0.0, 0.3]], [[-0.4, 0.1], [0.1, 0.1]]], np.float32)
  traced = jax.jit(lambda ab: colour.scaled_lab_to_rgb(lightness, ab))(ab)
  np.testing.assert_allclose(traced, colour.scaled_lab_to_rgb(lightness, ab), atol=1e-5)


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
