"""Levin et al.'s colourisation by optimisation (siren_jax.colorize.levin), against a dense
system built here pixel by pixel the way getColorExact.m builds it."""

import math

import jax.numpy as jnp
import numpy as np
import pytest

from siren_jax import grids
from siren_jax.colorize import hints as hints_lib
from siren_jax.colorize import levin


def reference_dense_system(luma: np.ndarray, hinted: dict) -> tuple[np.ndarray, np.ndarray]:
  """getColorExact.m's matrix and right-hand side for one chroma channel, written as its loops
  are, for Y = luma (H, W) in [0, 1] and hinted = {(y, x): value}."""
  height, width = luma.shape
  n = height * width
  matrix, rhs = np.zeros((n, n)), np.zeros(n)
  for i in range(height):
    for j in range(width):
      r = i * width + j
      matrix[r, r] = 1.0
      if (i, j) in hinted:
        rhs[r] = hinted[(i, j)]
        continue
      neighbours = [(ii, jj) for ii in range(max(0, i - 1), min(i + 2, height))
                    for jj in range(max(0, j - 1), min(j + 2, width)) if (ii, jj) != (i, j)]
      values = np.array([luma[p] for p in neighbours])
      window = np.append(values, luma[i, j])
      sigma2 = 0.6 * np.mean((window - window.mean()) ** 2)
      closest = np.min((values - luma[i, j]) ** 2)
      sigma2 = max(sigma2, -closest / math.log(0.01), 0.000002)
      weights = np.exp(-(values - luma[i, j]) ** 2 / sigma2)
      weights /= weights.sum()
      for (ii, jj), w in zip(neighbours, weights):
        matrix[r, ii * width + jj] = -w
  return matrix, rhs


def test_solution_matches_a_dense_solve_of_the_reference_system():
  rng = np.random.default_rng(0)
  lightness = rng.uniform(-1.0, 1.0, (6, 7, 1))
  lightness[:, :3] = np.round(lightness[:, :3], 1)  # Ties too (equal neighbours).
  rows, cols = np.array([0, 2, 5, 5]), np.array([0, 4, 1, 6])
  ab = rng.uniform(-0.5, 0.5, (4, 2))
  hints = hints_lib.make(6, 7, rows, cols, ab)
  luma = (lightness[..., 0] + 1.0) / 2.0
  solution = levin.solve(lightness, hints)
  matrix, _ = levin.system(lightness, hints)
  for c in range(2):
    dense, rhs = reference_dense_system(luma, {(y, x): v for y, x, v in zip(rows, cols, ab[:, c])})
    np.testing.assert_allclose(matrix.toarray(), dense, atol=1e-12)
    np.testing.assert_allclose(solution[..., c], np.linalg.solve(dense, rhs).reshape(6, 7),
                               atol=1e-6)


def test_gradient_form_minimises_the_pair_energy_with_the_reference_weights():
  # E(U) = sum_r sum_s w_rs (U_r - U_s)^2 = U^T (D - S) U with S = w + w^T, D = diag(S 1): the
  # minimiser over the free pixels solves (D - S)_FF U_F = -(D - S)_FC U_C.
  rng = np.random.default_rng(6)
  lightness = rng.uniform(-1.0, 1.0, (6, 5, 1))
  rows, cols = np.array([0, 3, 5]), np.array([4, 1, 2])
  ab = rng.uniform(-0.5, 0.5, (3, 2))
  hints = hints_lib.make(6, 5, rows, cols, ab)
  matrix, _ = reference_dense_system((lightness[..., 0] + 1.0) / 2.0, {})
  weights = np.eye(30) - matrix  # Levin's w_rs, every row.
  pairs = weights + weights.T
  laplacian = np.diag(pairs.sum(1)) - pairs
  fixed = rows * 5 + cols
  free = np.setdiff1d(np.arange(30), fixed)
  solution = levin.solve(lightness, hints, form='gradient').reshape(30, 2)
  expected = np.linalg.solve(laplacian[np.ix_(free, free)], -laplacian[np.ix_(free, fixed)] @ ab)
  np.testing.assert_allclose(solution[free], expected, atol=1e-6)
  np.testing.assert_allclose(solution[fixed], ab, atol=1e-7)
  # A different problem from Levin's whenever w is not symmetric.
  assert np.abs(solution - levin.solve(lightness, hints).reshape(30, 2)).max() > 1e-3


def test_weights_are_normalised_and_zero_outside_the_image():
  lightness = np.random.default_rng(1).uniform(-1, 1, (5, 4, 1))
  weights = levin.neighbour_weights(lightness)
  np.testing.assert_allclose(weights.sum(-1), 1.0, atol=1e-12)
  assert np.all(weights[0, :, :3] == 0) and np.all(weights[:, 0, [0, 3, 5]] == 0)
  assert np.all(weights[-1, :, 5:] == 0) and np.all(weights[:, -1, [2, 4, 7]] == 0)


def test_constant_lightness_with_one_hint_is_that_colour_everywhere():
  # Every free row sums to zero (1 - sum of weights), so the constant field solves the system.
  hints = hints_lib.make(9, 12, [4], [7], [[0.3, -0.2]])
  result = levin.solve(np.full((9, 12, 1), 0.1), hints)
  np.testing.assert_allclose(result, np.broadcast_to([0.3, -0.2], (9, 12, 2)), atol=1e-6)


def test_regions_on_either_side_of_a_strong_edge_keep_their_own_hints():
  lightness = np.full((16, 16, 1), -0.6)
  lightness[:, 8:] = 0.8  # Y = 0.2 | 0.9.
  red, blue = np.array([0.5, 0.3]), np.array([-0.1, -0.5])
  hints = hints_lib.make(16, 16, [3, 12], [2, 13], [red, blue])
  result = levin.solve(lightness, hints)
  # Across the edge a pixel's window has 3 values d = 0.7 away and 6 at 0: variance 2 d^2 / 9,
  # so sigma^2 = 0.6 x 2 d^2 / 9 and the far weight is exp(-7.5) = 5.5e-4 of a near one.
  # Summed along the 16-pixel edge this leaks ~1 % of the other colour into each region.
  gap = np.linalg.norm(red - blue)
  assert np.max(np.linalg.norm(result[:, :8] - red, axis=-1)) < 0.02 * gap
  assert np.max(np.linalg.norm(result[:, 8:] - blue, axis=-1)) < 0.02 * gap
  # Without the edge the same hints blend: the middle columns are far from both.
  flat = levin.solve(np.full((16, 16, 1), 0.1), hints)
  assert np.min(np.linalg.norm(flat[:, 7:9] - red, axis=-1)) > 0.2 * gap
  assert np.min(np.linalg.norm(flat[:, 7:9] - blue, axis=-1)) > 0.2 * gap


def test_residual_is_zero_only_for_the_solution():
  rng = np.random.default_rng(2)
  lightness = rng.uniform(-1, 1, (10, 11, 1))
  hints = hints_lib.make(10, 11, [1, 8], [2, 9], [[0.4, 0.1], [-0.3, 0.2]])
  solution = levin.solve(lightness, hints)
  assert np.abs(levin.residual(solution, lightness, hints)).max() < 1e-6
  assert np.abs(levin.residual(solution + rng.normal(0, 0.01, solution.shape), lightness,
                               hints)).max() > 1e-3


def test_no_hints_is_an_error_saying_the_result_would_be_grey():
  with pytest.raises(ValueError, match='would be grey'):
    levin.solve(np.zeros((4, 4, 1)), hints_lib.make(4, 4, [], [], np.zeros((0, 2))))


def test_tiled_solve_is_the_whole_solve_when_one_tile_covers_the_photo():
  lightness = np.random.default_rng(3).uniform(-1, 1, (20, 30, 1)).astype(np.float32)
  hints = hints_lib.sample(0, np.random.default_rng(4).uniform(-0.5, 0.5, (20, 30, 2)), 5)
  np.testing.assert_array_equal(levin.solve_tiled(lightness, hints, tile=32),
                                levin.solve(lightness, hints))


def test_tiles_with_exact_borders_reproduce_the_whole_solve():
  # A smooth lightness with one strong edge, 12 strokes, tiles of 24 overlapping by 8.
  y, x = np.mgrid[0:60, 0:90] / 60.0
  lightness = (0.6 * np.sin(3 * x) * np.cos(2 * y) - 0.3 * (x > 0.8))[..., None]
  truth = np.stack([np.sin(2 * x + y), np.cos(3 * y)], -1) * 0.3
  hints = hints_lib.sample(1, truth, 12, 'strokes')
  whole = levin.solve(lightness, hints)
  # A coarse solve at full size is the whole solve: with its values on their inner borders the
  # tiles' systems are the whole system's rows, so the blend is the whole solution.
  exact = levin.solve_tiled(lightness, hints, tile=24, overlap=8, coarse_side=60)
  np.testing.assert_allclose(exact, whole, atol=1e-6)
  # From a coarse solve at a third of the size the tiles inherit its error on their borders:
  # below 2 ab units RMS (0.015 x 128), under the just-noticeable colour difference (~2.3).
  coarse = levin.solve_tiled(lightness, hints, tile=24, overlap=8, coarse_side=20)
  assert np.sqrt(np.mean((coarse - whole) ** 2)) < 0.015


@pytest.mark.parametrize('form', levin.FORMS)
def test_network_loss_is_minimal_at_the_direct_solution_of_its_form(form):
  rng = np.random.default_rng(5)
  height, width = 8, 9
  lightness = rng.uniform(-1, 1, (height, width, 1))
  hints = hints_lib.make(height, width, [1, 6], [1, 7], [[0.4, 0.1], [-0.3, 0.2]])
  batch = {k: jnp.asarray(v) for k, v in levin.network_batch(lightness, hints, form).items()}
  batch['coords'] = grids.make_grid(height, width).reshape(-1, 2)
  loss_fn = levin.make_network_loss(height, width, smoothness_weight=1.0, form=form)
  field = lambda values: (lambda params, coords: jnp.asarray(values, jnp.float32))  # noqa: E731
  loss = lambda values: float(loss_fn(None, batch, field(values))[0])  # noqa: E731
  solution = levin.solve(lightness, hints, form).reshape(-1, 2)
  at_solution, parts = loss_fn(None, batch, field(solution))
  assert float(parts['hint_loss']) < 1e-12
  if form == 'levin':  # J = 0 at Levin's solution.
    assert float(at_solution) < 1e-6
  for seed in range(3):  # Any move of the free pixels raises the loss (to first order, 0).
    step = np.random.default_rng(seed).normal(0, 1e-3, solution.shape)
    assert loss(solution + step) > float(at_solution)
    assert loss(solution + step) - loss(solution) < 1.5 * (loss(solution - step) -
                                                          loss(solution)) + 1e-7
