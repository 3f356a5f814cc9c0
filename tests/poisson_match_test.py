"""poisson.match_mean / fair_psnr honour their mask (closed forms)."""

import numpy as np
import pytest

from siren_jax import poisson


def test_match_mean_uses_only_the_masked_pixels():
  # Reference 1 inside the mask (the left 2 of 4 columns) and 5 outside; a zero field shifted to
  # the reference's mean *inside the mask* is 1 everywhere (over all pixels it would be 3).
  reference = np.full((3, 4, 1), 5.0)
  reference[:, :2] = 1.0
  mask = np.zeros((3, 4), bool)
  mask[:, :2] = True
  np.testing.assert_allclose(poisson.match_mean(np.zeros((3, 4, 1)), reference, mask), 1.0)
  np.testing.assert_allclose(poisson.match_mean(np.zeros((3, 4, 1)), reference), 3.0)
  # A (H, W, 1) mask means the same.
  np.testing.assert_allclose(poisson.match_mean(np.zeros((3, 4, 1)), reference, mask[..., None]),
                             1.0)


def test_match_mean_shifts_each_channel_by_its_own_offset():
  field = np.stack([np.full((2, 2), 0.0), np.full((2, 2), 10.0)], axis=-1)
  reference = np.stack([np.full((2, 2), 0.5), np.full((2, 2), -0.5)], axis=-1)
  np.testing.assert_allclose(poisson.match_mean(field, reference), reference)


def test_fair_psnr_with_a_mask_ignores_errors_outside_it():
  # Inside the mask the field equals the reference + 0.2 (removed by the mean match); outside
  # it is off by 0.6 after the shift. PSNR on [-1, 1] = 10 log10(4 / MSE): MSE = 0.6^2 / 2
  # (half the pixels are outside) -> 10 log10(4 / 0.18) = 13.468 dB.
  reference = np.zeros((2, 4, 1))
  field = np.full((2, 4, 1), 0.2)
  field[:, 2:] = 0.8
  mask = np.zeros((2, 4), bool)
  mask[:, :2] = True
  assert poisson.fair_psnr(field, reference, mask) == pytest.approx(10 * np.log10(4 / 0.18),
                                                                    abs=1e-4)
