"""siren_jax.metrics: PSNR, MSE and SSIM on [-1, 1] images, SSIM against scikit-image called
directly with the documented data range."""

import numpy as np
import pytest
import skimage.metrics

from siren_jax import metrics


def test_psnr_matches_reference_definition():
  rng = np.random.default_rng(0)
  target = rng.uniform(-1, 1, (8, 8, 1)).astype(np.float32)
  prediction = target + 0.1
  # Reference: images mapped to [0, 1], data range 1.
  mse01 = np.mean(((np.clip(prediction, -1, 1) - target) / 2) ** 2)
  assert float(metrics.psnr(prediction, target)) == pytest.approx(-10 * np.log10(mse01), 1e-4)
  assert float(metrics.psnr_from_mse(0.04)) == pytest.approx(10 * np.log10(4 / 0.04), 1e-5)


def test_psnr_clips_the_prediction():
  target = np.ones((4, 4, 1), np.float32)
  assert float(metrics.psnr(target * 5, target)) > 150  # Clipped to 1: a perfect score.
  assert float(metrics.psnr(-target * 5, -target)) > 150  # Clipped to -1 on the other side.


def test_masked_psnr_worked_by_hand():
  # Top row: 1.5 clipped to 1 vs 0.8, and 0.8 vs 1.3 clipped to 1: errors 0.2 and -0.2, MSE 0.04,
  # PSNR 10 log10(4 / 0.04) = 20 dB; the masked-out bottom-left pixel (error 1) is ignored.
  prediction = np.array([[[1.5], [0.8]], [[0.0], [0.5]]], np.float32)
  target = np.array([[[0.8], [1.3]], [[1.0], [0.5]]], np.float32)
  top_row = np.array([[True, True], [False, False]])
  assert metrics.masked_psnr(prediction, target, top_row) == pytest.approx(20.0, abs=1e-5)
  # With the exact bottom-right pixel too: MSE (0.04 + 0.04 + 0) / 3.
  assert metrics.masked_psnr(prediction, target, top_row | np.eye(2, dtype=bool)) == (
      pytest.approx(10 * np.log10(4 / (0.08 / 3)), abs=1e-5))


def test_mse_worked_by_hand():
  # Differences 1, 2, 2: squares 1, 4, 4, mean 3.
  assert float(metrics.mse(np.array([1.0, 2.0, 3.0]), np.array([0.0, 0.0, 1.0]))) == 3.0


def test_the_smallest_image_ssim_scores_is_7_by_7():
  metrics.check_ssim_size(7, 7)  # Allowed, and scored:
  image = np.linspace(-1, 1, 7 * 7 * 3).reshape(7, 7, 3)
  assert metrics.ssim(image, image) == pytest.approx(1.0)
  for height, width in ((6, 7), (7, 6)):
    with pytest.raises(ValueError, match=f'a {height}x{width} image is too small to score') as e:
      metrics.check_ssim_size(height, width)
    assert str(e.value).endswith('7x7 pixels; use a larger image')


def test_ssim_is_one_for_identical_images_and_lower_for_noise():
  rng = np.random.default_rng(1)
  image = rng.uniform(-1, 1, (32, 32, 3))
  assert metrics.ssim(image, image) == pytest.approx(1.0)
  assert metrics.ssim(image + rng.normal(0, 0.3, image.shape), image) < 0.9
  with pytest.raises(ValueError, match='one shape'):
    metrics.ssim(image, image[:16])


def test_ssim_is_skimage_with_data_range_two_on_signed_images():
  rng = np.random.default_rng(0)
  target = rng.uniform(-1, 1, (24, 20, 3))
  prediction = np.clip(target + rng.normal(0, 0.3, target.shape), -1.5, 1.5)
  expected = skimage.metrics.structural_similarity(np.clip(prediction, -1, 1), target,
                                                   data_range=2.0, channel_axis=-1)
  assert metrics.ssim(prediction, target) == pytest.approx(expected, abs=1e-9)
  # The data range matters here: range 1 gives a clearly different value.
  wrong = skimage.metrics.structural_similarity(np.clip(prediction, -1, 1), target,
                                                data_range=1.0, channel_axis=-1)
  assert abs(wrong - expected) > 0.01


def test_psnr_from_mse_uses_data_range_two():
  # MSE 0.04 on [-1, 1] images: 10 log10(2^2 / 0.04) = 20 dB.
  assert float(metrics.psnr_from_mse(0.04)) == pytest.approx(20.0, abs=1e-4)
