"""The SIREN version of hint colourisation (siren_jax.colorize.hint_field) against the direct
solve of the same problem."""

import numpy as np
import pytest

from siren_jax.colorize import hint_field, levin
from siren_jax.colorize import hints as hints_lib


@pytest.fixture(scope='module')
def scene():
  """A 24x32 photo: smooth lightness with a strong edge between columns 16 and 17, three
  one-pixel hints (one of them alone beyond the edge), and the SIREN fitted to it."""
  y, x = np.mgrid[0:24, 0:32] / 24.0
  lightness = (0.5 * np.sin(2 * x + y) - 0.4 * (x > 0.7))[..., None]
  hints = hints_lib.make(24, 32, [4, 18, 10], [3, 28, 12],
                         [[0.4, 0.2], [-0.2, -0.4], [0.1, 0.3]])
  return lightness, hints, hint_field.fit(lightness, hints, steps=400)


def test_siren_agrees_with_the_direct_solve_of_its_problem(scene):
  lightness, hints, field = scene
  siren = hint_field.colourise(field, 24, 32, hints)
  direct = levin.solve(lightness, hints, form='gradient')
  # Tolerance: the just-noticeable colour difference is Delta E ~ 2.3 Lab units, 0.018 in
  # ab / 128: RMS below half of it and no pixel off by more than ~4 ab units (0.03).
  error = siren - direct
  assert np.sqrt(np.mean(error ** 2)) < 0.009
  assert np.abs(error).max() < 0.03
  # It solves this problem, not Levin's: that solution is much further away (0.04 RMS here).
  levin_form = levin.solve(lightness, hints, form='levin')
  assert np.sqrt(np.mean((siren - levin_form) ** 2)) > 3 * np.sqrt(np.mean(error ** 2))


def test_field_renders_at_any_size_with_the_hints_written_in(scene):
  _, hints, field = scene
  at_fit = hint_field.colourise(field, 24, 32)
  big = hint_field.colourise(field, 48, 64, max_chunk_points=500)  # 7 blocks.
  assert big.shape == (48, 64, 2) and big.dtype == np.float32
  # At 2x, the four output pixels of a block sit at +-1/4 input pixel around the input pixel
  # centre: for a smooth field their mean is the fit-size value up to the curvature (second
  # order), away from the lightness edge between columns 16 and 17.
  blocks = big.reshape(24, 2, 32, 2, 2).mean((1, 3))
  smooth = np.r_[0:15, 19:32]
  assert np.abs(blocks[:, smooth] - at_fit[:, smooth]).max() < 0.01
  big_hints = hints_lib.rescale(hints, 48, 64)
  hinted = hint_field.colourise(field, 48, 64, big_hints)
  np.testing.assert_array_equal(hinted[big_hints.rows, big_hints.cols], big_hints.ab)
  unhinted = ~big_hints.mask()
  np.testing.assert_array_equal(hinted[unhinted], big[unhinted])


def test_steps_must_be_a_multiple_of_steps_per_call():
  hints = hints_lib.make(4, 4, [0], [0], [[0.1, 0.1]])
  with pytest.raises(ValueError, match='multiple of steps_per_call'):
    hint_field.fit(np.zeros((4, 4, 1)), hints, steps=30, steps_per_call=25)
