"""metrics.ssim against scikit-image called directly with the documented data range."""

import numpy as np
import pytest
import skimage.metrics

from siren_jax import metrics


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
