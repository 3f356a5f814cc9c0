"""siren_jax.colorize.colour_metrics: colourisation metrics and baselines against closed forms
worked by hand."""

import numpy as np
import pytest

from siren_jax.colorize import colour, colour_metrics


def _unit_to_signed(rgb255):
  return np.asarray(rgb255, np.float64) / 255.0 * 2.0 - 1.0


def test_ab_psnr_of_a_constant_error_is_its_closed_form():
  target = np.random.default_rng(0).uniform(-0.5, 0.5, (7, 9, 2))
  # MSE = 0.1^2, data range 2: 10 log10(4 / 0.01) = 26.0206 dB.
  assert colour_metrics.ab_psnr(target + 0.1, target) == pytest.approx(26.0206, abs=1e-4)
  with pytest.raises(ValueError, match='one shape'):
    colour_metrics.ab_psnr(target, target[..., :1])


def test_rgb_psnr_matches_hand_computed_value():
  target = np.zeros((4, 4, 3))
  # [-1, 1] error 0.2 -> 0.1 on [0, 1]: 10 log10(1 / 0.01) = 20 dB.
  assert colour_metrics.rgb_psnr(target + 0.2, target) == pytest.approx(20.0, abs=1e-4)


def test_colourfulness_of_known_images():
  # Half pure red, half pure green: rg = +-255 (mean 0, std 255), yb = 127.5 for both
  # (mean 127.5, std 0): M = 255 + 0.3 * 127.5 = 293.25.
  red_green = np.zeros((2, 4, 3))
  red_green[0, :, 0] = red_green[1, :, 1] = 255.0
  assert colour_metrics.colourfulness(_unit_to_signed(red_green)) == pytest.approx(293.25, abs=1e-3)
  # One colour (200, 100, 50): rg = 100, yb = 150 - 50 = 100; M = 0.3 * sqrt(2) * 100 = 42.426.
  flat = np.broadcast_to([200.0, 100.0, 50.0], (3, 5, 3))
  assert colour_metrics.colourfulness(_unit_to_signed(flat)) == pytest.approx(42.4264, abs=1e-3)
  grey = np.broadcast_to(np.linspace(-1, 1, 6)[:, None, None], (6, 4, 3))
  assert colour_metrics.colourfulness(grey) == pytest.approx(0.0, abs=1e-9)


def test_grey_baseline_has_zero_chroma_and_zero_colourfulness():
  lightness = np.random.default_rng(1).uniform(-1, 1, (5, 6, 1))
  ab = colour_metrics.grey_ab(lightness)
  assert ab.shape == (5, 6, 2) and not ab.any()
  target = np.full((5, 6, 2), 0.25)
  result = colour_metrics.evaluate(ab, lightness, target)
  # ab = 0 maps to R = G = B up to the rounding of the sRGB/XYZ constants (~1e-5 of full scale,
  # as in scikit-image), i.e. ~0.004 on colourfulness' 0-300 scale.
  assert result['colourfulness'] == pytest.approx(0.0, abs=0.01)
  assert result['ab_psnr'] == pytest.approx(10 * np.log10(4 / 0.25 ** 2), abs=1e-4)


def test_lightness_histogram_learns_the_mean_ab_per_bin():
  # Four bins over [-1, 1]; bin k holds two pixels at its centre with ab (0.1k +- 0.05, -0.1k),
  # so its mean ab is (0.1k, -0.1k).
  centres = -1.0 + 0.25 + 0.5 * np.arange(4)
  lightness = np.repeat(centres, 2)[:, None]
  ab = np.stack([np.repeat(0.1 * np.arange(4), 2) + np.tile([0.05, -0.05], 4),
                 np.repeat(-0.1 * np.arange(4), 2)], axis=-1)
  model = colour_metrics.LightnessHistogram.fit(lightness, ab, num_bins=4)
  np.testing.assert_allclose(model.table, np.stack([0.1 * np.arange(4), -0.1 * np.arange(4)], -1),
                             atol=1e-7)
  query = np.array([[[-0.9], [0.3]], [[0.99], [-0.4]]])  # Bins 0, 2, 3, 1.
  np.testing.assert_allclose(model.predict(query)[..., 0], [[0.0, 0.2], [0.3, 0.1]], atol=1e-7)


def test_empty_bins_take_the_nearest_filled_bin():
  # 8 bins of width 0.25: only bin 1 ([-0.75, -0.5)) and bin 6 ([0.5, 0.75)) have pixels.
  model = colour_metrics.LightnessHistogram.fit(np.array([[-0.6], [0.6]]),
                                                np.array([[0.2, 0.1], [-0.3, 0.4]]), num_bins=8)
  expected_a = [0.2, 0.2, 0.2, 0.2, -0.3, -0.3, -0.3, -0.3]
  np.testing.assert_allclose(model.table[:, 0], expected_a, atol=1e-7)


def test_evaluate_of_the_truth_is_perfect():
  rgb = np.random.default_rng(2).uniform(0.1, 0.9, (8, 8, 3))
  lightness, ab = colour.rgb_to_scaled_lab(rgb, rgb_range='unit')
  result = colour_metrics.evaluate(ab, lightness, ab)
  assert result['ab_psnr'] > 150 and result['rgb_psnr'] > 100
  assert result['colourfulness_ratio'] == pytest.approx(1.0)
  # The truth's colourfulness equals that of the original RGB (Lab round trip is exact here).
  assert result['true_colourfulness'] == pytest.approx(
      colour_metrics.colourfulness(rgb * 2 - 1), rel=1e-4)


def test_a_one_bin_histogram_predicts_the_mean_ab_everywhere():
  # One bin: every pixel falls in it, so the table is the mean ab of all of them, (0.1, -0.2).
  model = colour_metrics.LightnessHistogram.fit(np.array([[-0.9], [0.1], [0.8]]),
                                                np.array([[0.0, -0.1], [0.1, -0.2], [0.2, -0.3]]),
                                                num_bins=1)
  np.testing.assert_allclose(model.table, [[0.1, -0.2]], atol=1e-12)
  np.testing.assert_allclose(model.predict(np.array([[[-1.0], [0.5]]])), [[[0.1, -0.2]] * 2],
                             atol=1e-12)
  with pytest.raises(ValueError, match='num_bins must be positive'):
    colour_metrics.LightnessHistogram.fit(np.zeros((2, 1)), np.zeros((2, 2)), num_bins=0)
