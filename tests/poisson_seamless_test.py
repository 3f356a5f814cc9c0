"""siren_jax.poisson.seamless: Perez et al.'s seamless cloning and local edits against dense
least squares, values worked by hand and OpenCV."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from siren_jax import grids, training
from siren_jax.models import fields
from siren_jax.poisson import seamless, targets


def _rectangle(shape, top, left, height, width):
  mask = np.zeros(shape, bool)
  mask[top:top + height, left:left + width] = True
  return mask


def _blob(height, width):
  """A non-convex region: an L shape plus a disc, away from the border. (height, width) bool."""
  mask = _rectangle((height, width), 3, 3, height - 8, 4)
  mask |= _rectangle((height, width), height - 8, 3, 3, width - 8)
  ys, xs = np.mgrid[:height, :width]
  mask |= (ys - height / 3) ** 2 + (xs - 2 * width / 3) ** 2 <= (min(height, width) / 5) ** 2
  return mask


@pytest.mark.parametrize('rule', seamless.RULES)
def test_cloning_the_destination_into_itself_returns_it(rule):
  dest = np.random.default_rng(0).uniform(-1, 1, size=(20, 24, 3))
  result, placement = seamless.seamless_clone(dest, dest, _blob(20, 24), (0, 0), rule,
                                              anchor='top_left')
  assert placement.omega.sum() > 50
  np.testing.assert_allclose(result, dest, atol=1e-12)


def test_a_ramp_cloned_into_a_constant_destination_is_absorbed():
  # f - source is discrete-harmonic in Omega with boundary values c - (a x + b y), a linear
  # function; linear functions are discrete-harmonic, so f - source = c - (a x + b y) inside
  # too, i.e. f = c: normal cloning keeps the source's Laplacian (0), not its values.
  ys, xs = np.mgrid[:14, :18].astype(np.float64)
  source = (0.05 * xs - 0.03 * ys + 0.2)[..., None]
  dest = np.full((30, 40, 1), -0.4)
  mask = _rectangle((14, 18), 2, 3, 9, 11)
  result, placement = seamless.seamless_clone(dest, source, mask, (15, 20), 'normal')
  assert placement.omega.sum() == 9 * 11
  np.testing.assert_allclose(result, dest, atol=1e-12)


def test_normal_cloning_keeps_the_laplacian_not_the_values():
  # Source x^2 and destination (x^2 + y^2) / 2 have the same five-point Laplacian (2), so the
  # Dirichlet solution with the destination's boundary values is the destination itself, while
  # the naive paste is x^2 (far from it).
  ys, xs = np.mgrid[:40, :50].astype(np.float64) / 10
  dest = ((xs**2 + ys**2) / 2)[..., None] / 100
  source = (xs**2)[..., None][5:35, 5:45] / 100  # Its own frame: source (0, 0) = dest (5, 5).
  mask = _blob(30, 40)
  result, placement = seamless.seamless_clone(dest, source, mask, (5, 5), 'normal',
                                              anchor='top_left')
  naive = targets.naive_paste(
      dest, seamless.paste(dest, source, placement.top, placement.left), placement.omega)
  assert np.abs(naive - dest)[placement.omega].max() > 0.05
  np.testing.assert_allclose(result, dest, atol=1e-12)


@pytest.mark.parametrize('rule', seamless.RULES)
def test_solve_minimises_the_edge_energy_like_dense_least_squares(rule):
  # Independent of the sparse assembly: minimise sum over edges touching Omega of
  # (f_q - f_p - v_pq)^2 with f = f* off Omega by dense least squares, edge by edge.
  rng = np.random.default_rng(1)
  dest = rng.uniform(-1, 1, size=(12, 13, 2))
  source = rng.uniform(-1, 1, size=(12, 13, 2))
  omega = _blob(12, 13)
  gy, gx = seamless.clone_guidance(dest, source, rule)
  index = -np.ones((12, 13), int)
  index[omega] = np.arange(omega.sum())
  expected = dest.copy()
  for c in range(2):
    rows, rhs = [], []
    edges = [((i, j), (i + 1, j), gy[i, j, c]) for i in range(11) for j in range(13)]
    edges += [((i, j), (i, j + 1), gx[i, j, c]) for i in range(12) for j in range(12)]
    for p, q, v in edges:
      if not (omega[p] or omega[q]):
        continue
      row = np.zeros(omega.sum())
      target = v  # f_q - f_p = v, known values moved to the right-hand side.
      for pixel, sign in ((q, 1.0), (p, -1.0)):
        if omega[pixel]:
          row[index[pixel]] += sign
        else:
          target -= sign * dest[pixel][c]
      rows.append(row)
      rhs.append(target)
    solution, *_ = np.linalg.lstsq(np.array(rows), np.array(rhs), rcond=None)
    expected[omega, c] = solution
  result = seamless.solve(dest, omega, gy, gx)
  np.testing.assert_allclose(result, expected, atol=1e-10)
  assert seamless.residual(result, omega, gy, gx) < 1e-10
  assert seamless.residual(dest, omega, gy, gx) > 0.1  # The residual can fail.


def test_outside_omega_the_result_is_the_destination_bit_for_bit():
  rng = np.random.default_rng(2)
  dest = rng.uniform(-1, 1, size=(30, 40, 3)).astype(np.float32)
  source = rng.uniform(-1, 1, size=(16, 20, 3)).astype(np.float32)
  mask = seamless.shape_mask('ellipse', 16, 20, 0.8, 0.9)
  for rule in seamless.RULES:
    result, placement = seamless.seamless_clone(dest, source, mask, (12, 25), rule)
    assert result.dtype == dest.dtype
    np.testing.assert_array_equal(result[~placement.omega], dest[~placement.omega])
    assert not np.array_equal(result[placement.omega], dest[placement.omega])


def test_mixed_guidance_takes_the_stronger_difference_edge_by_edge():
  dest = np.zeros((1, 4, 1))
  dest[0, :, 0] = [0.0, 1.0, 1.5, 1.6]  # Differences 1.0, 0.5, 0.1.
  source = np.zeros((1, 4, 1))
  source[0, :, 0] = [0.0, 0.2, 1.0, 1.1]  # Differences 0.2, 0.8, 0.1 (a tie keeps dest).
  _, gx = seamless.clone_guidance(dest, source, 'mixed')
  np.testing.assert_allclose(gx[0, :, 0], [1.0, 0.8, 0.1])


def test_placement_conventions_and_one_line_errors():
  mask = seamless.prepare_mask(_rectangle((10, 12), 2, 3, 5, 6), (10, 12))
  centred = seamless.place(mask, (30, 30), (15, 15), 'center')
  # OpenCV's convention: the box's top-left is centre - size // 2.
  assert seamless.bounding_box(centred.omega) == (15 - 5 // 2, 15 - 6 // 2, 5, 6)
  corner = seamless.place(mask, (30, 30), (4, 7), 'top_left')
  assert seamless.bounding_box(corner.omega) == (4 + 2, 7 + 3, 5, 6)
  with pytest.raises(ValueError, match='mask is empty'):
    seamless.prepare_mask(np.zeros((10, 12)), (10, 12))
  with pytest.raises(ValueError, match='mask is empty'):  # Only its dropped outer ring is set.
    seamless.prepare_mask(~_rectangle((10, 12), 1, 1, 8, 10), (10, 12))
  with pytest.raises(ValueError, match='mask is 10x12 but the source is 11x12'):
    seamless.prepare_mask(np.ones((10, 12)), (11, 12))
  for position in ((2, 15), (15, 27), (40, 40), (-5, 15)):
    with pytest.raises(ValueError, match='must stay inside') as error:
      seamless.place(mask, (30, 30), position, 'center')
    assert '\n' not in str(error.value)


def test_the_network_loss_is_minimal_at_the_direct_solution():
  # The SIREN's loss must have the direct solution as its minimiser at the pixel centres:
  # gradient 0 there, larger loss at any perturbation inside Omega. A loss with different
  # weights for x and y edges (e.g. pixel spacings 2/H != 2/W) would fail this.
  rng = np.random.default_rng(3)
  height, width = 14, 22
  dest = rng.uniform(-1, 1, size=(height, width, 2))
  source = rng.uniform(-1, 1, size=(height, width, 2))
  omega = _blob(height, width)
  guidance = seamless.clone_guidance(dest, source, 'mixed')
  direct = seamless.solve(dest, omega, *guidance)
  batch = {k: jnp.asarray(v) for k, v in seamless.network_batch(dest, omega, *guidance).items()}
  batch['coords'] = grids.make_grid(height, width).reshape(-1, 2)
  loss_fn = seamless.make_network_loss(height, width, guidance_weight=0.3)

  def loss_of(image):
    return loss_fn(None, batch, lambda params, coords: image)[0]

  at_direct = jnp.asarray(direct.reshape(-1, 2), jnp.float32)
  grad = np.asarray(jax.grad(loss_of)(at_direct)).reshape(height, width, 2)
  assert np.abs(grad).max() < 1e-4
  bumped = direct + 0.01 * omega[..., None] * rng.normal(size=direct.shape)
  assert loss_of(jnp.asarray(bumped.reshape(-1, 2), jnp.float32)) > loss_of(at_direct) + 1e-4


@pytest.mark.slow
def test_a_siren_fitted_to_the_dirichlet_problem_matches_the_direct_solution():
  height, width = 24, 32
  ys, xs = np.mgrid[:height, :width] / 8.0
  dest = np.stack([np.sin(ys) * np.cos(xs), 0.5 * np.cos(ys + xs)], -1) * 0.6
  source = np.stack([np.cos(2 * xs), np.sin(ys - xs)], -1) * 0.4
  omega = _blob(height, width)
  guidance = seamless.clone_guidance(dest, source, 'normal')
  direct = seamless.solve(dest, omega, *guidance)
  batch = {k: jnp.asarray(v) for k, v in seamless.network_batch(dest, omega, *guidance).items()}
  batch['coords'] = grids.make_grid(height, width).reshape(-1, 2)
  model = fields.make_field_model('siren', out_features=2, hidden_features=64, hidden_layers=2,
                                  first_omega0=10.0)
  state = training.create_train_state(model, jax.random.PRNGKey(0), jnp.zeros((1, 2)),
                                      optax.adam(1e-3))
  step = training.make_train_step(seamless.make_network_loss(height, width, 0.01),
                                  steps_per_call=100)
  for _ in range(6):
    state, _ = step(state, batch)
  field = np.asarray(state.apply_fn(state.params, batch['coords'])).reshape(height, width, 2)
  error = np.mean((field[omega] - direct[omega]) ** 2)
  assert 10 * np.log10(4 / error) > 35.0


def _u8(shape, seed):
  return np.random.default_rng(seed).integers(0, 256, size=shape, dtype=np.uint8)


@pytest.mark.parametrize('rule, flag', [('normal', 'NORMAL_CLONE'), ('mixed', 'MIXED_CLONE')])
def test_opencv_like_clone_agrees_with_cv2_seamless_clone(rule, flag):
  cv2 = pytest.importorskip('cv2')
  ys, xs = np.mgrid[:48, :64]
  dest = np.stack([100 + 60 * np.sin(xs / 7), 120 + 50 * np.cos(ys / 5), 90 + xs], -1)
  dest = dest.astype(np.uint8)
  source = _u8((40, 44, 3), 5)
  mask = (seamless.shape_mask('ellipse', 40, 44, 0.7, 0.8)).astype(np.uint8) * 255
  center = (22, 30)  # (y, x)
  # cv2 erodes and inverts a single-channel mask in place: give it a copy.
  expected = cv2.seamlessClone(source, dest, mask.copy(), (center[1], center[0]),
                               getattr(cv2, flag))
  ours = seamless.opencv_like_clone(dest, source, mask, center, rule)
  difference = np.abs(ours.astype(int) - expected.astype(int))
  # float64 LU here vs OpenCV's float32 DST: truncation to uint8 flips a few pixels by 1.
  assert difference.max() <= 1 and (difference > 0).mean() < 0.01
  # The exact Dirichlet solve is a different problem: OpenCV changes pixels off the mask.
  exact, placement = seamless.seamless_clone(dest.astype(float), source.astype(float), mask,
                                             center, rule)
  assert np.any(expected != dest, axis=-1)[~placement.omega].sum() > 20
  assert np.abs(np.round(exact) - expected).max() > 5


@pytest.mark.parametrize('rule', seamless.RULES)
def test_opencv_like_clone_with_every_opencv_choice_off_is_the_exact_solve(rule):
  dest = _u8((30, 36, 3), 7)
  source = _u8((20, 22, 3), 8)
  mask = _blob(20, 22).astype(np.uint8) * 255
  exact, _ = seamless.seamless_clone(dest.astype(float), source.astype(float), mask, (15, 18),
                                     rule)
  plain = seamless.opencv_like_clone(dest, source, mask, (15, 18), rule, opencv_mixed=False,
                                     box_domain=False, erode=False, truncate=False)
  np.testing.assert_array_equal(plain, np.clip(np.round(exact), 0, 255).astype(np.uint8))


@pytest.mark.parametrize('edit', seamless.EDITS)
def test_opencv_like_edits_agree_with_cv2(edit):
  cv2 = pytest.importorskip('cv2')
  ys, xs = np.mgrid[:40, :50]
  image = np.stack([80 + 3 * xs, 60 + 4 * ys, 200 - 2 * xs], -1).astype(np.uint8)
  image = np.clip(image + _u8((40, 50, 3), 6) // 4, 0, 255).astype(np.uint8)
  mask = _rectangle((40, 50), 8, 10, 24, 30).astype(np.uint8) * 255
  if edit == 'illumination':
    expected = cv2.illuminationChange(image, mask.copy(), alpha=0.2, beta=0.4)
    ours = seamless.opencv_like_edit(image, mask, edit, alpha=0.2, beta=0.4)
  else:  # OpenCV images are BGR: red_mul scales channel 2.
    expected = cv2.colorChange(image, mask.copy(), red_mul=1.5, green_mul=0.5, blue_mul=0.8)
    ours = seamless.opencv_like_edit(image, mask, edit, factors=(0.8, 0.5, 1.5))
  difference = np.abs(ours.astype(int) - expected.astype(int))
  assert difference.max() <= 1 and (difference > 0).mean() < 0.01


def test_shape_masks_worked_by_hand():
  # Pixel centres at (i + 0.5) / n * 2 - 1: rows -0.75, -0.25, 0.25, 0.75 for n = 4, columns
  # +-0.833, +-0.5, +-0.167 for n = 6. Ellipse x^2 + y^2 <= 1: the rows at +-0.75 keep
  # |x| <= sqrt(1 - 0.5625) = 0.66 (the middle four), the rows at +-0.25 every column.
  np.testing.assert_array_equal(seamless.shape_mask('ellipse', 4, 6, 1.0, 1.0),
                                [[0, 1, 1, 1, 1, 0], [1, 1, 1, 1, 1, 1],
                                 [1, 1, 1, 1, 1, 1], [0, 1, 1, 1, 1, 0]])
  # A rectangle of half the size: centres divided by 0.5 are +-1.5, +-0.5; |.| <= 1 keeps the
  # middle two rows and columns.
  np.testing.assert_array_equal(seamless.shape_mask('rectangle', 4, 4, 0.5, 0.5),
                                [[0, 0, 0, 0], [0, 1, 1, 0], [0, 1, 1, 0], [0, 0, 0, 0]])


def test_opencv_like_clone_accepts_a_box_touching_the_destination_edges_and_no_further():
  # The mask's box is 10 x 12 (rows 5-14, columns 4-15); placed at center (cy, cx) its top-left
  # is (cy - 5, cx - 6), so in a 30 x 36 destination centres (5, 6) and (25, 30) put it exactly
  # in the top-left and bottom-right corners (cv2.seamlessClone accepts both too).
  dest, source = _u8((30, 36, 3), 9), _u8((20, 22, 3), 10)
  mask = _rectangle((20, 22), 5, 4, 10, 12).astype(np.uint8) * 255
  for center in ((5, 6), (25, 30)):
    assert seamless.opencv_like_clone(dest, source, mask, center, 'normal').shape == dest.shape
  for center in ((4, 6), (5, 5), (26, 30), (25, 31)):
    with pytest.raises(ValueError, match='leaves the destination'):
      seamless.opencv_like_clone(dest, source, mask, center, 'normal')
