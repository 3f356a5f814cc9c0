"""Colourisation from hints by Levin, Lischinski and Weiss, "Colorization using Optimization"
(SIGGRAPH 2004; their reference code getColorExact.m), solved directly, by tiles, or posed as a
loss for a coordinate network.

The problem (form 'levin'). Each pixel r's chroma equals the weighted mean of its neighbours'
(the other pixels of its 3x3 window, clipped at the image border), with weights that are large
where the lightness is alike:

    U_r = sum_s w_rs U_s,   w_rs ∝ exp(-(Y_r - Y_s)^2 / sigma_r^2),   sum_s w_rs = 1,

and hinted pixels keep their hint (hard constraints). One sparse square system per chroma
channel: row r is U_r - sum_s w_rs U_s = 0 for a free pixel, U_r = hint_r for a hinted one; its
solution makes Levin's energy J(U) = sum_r (U_r - sum_s w_rs U_s)^2 over the free pixels zero.
With at least one hint it has exactly one solution (every weight is positive, so every pixel is
linked to a hint); with none, every constant solves it.

sigma_r^2 as in getColorExact.m: 0.6 x the variance (mean squared deviation) of the lightness
over the window, the centre included; at least -min_s (Y_r - Y_s)^2 / ln(0.01) (so the most
similar neighbour weighs >= 0.01 before normalising) and at least 2e-6.

The gradient-domain form ('gradient'): U minimises E(U) = sum_r sum_s w_rs (U_r - U_s)^2 (the
same weights, every ordered neighbour pair) under the same constraints. Its equations are again
"U_r = weighted mean of its neighbours", with the pair weights w_rs + w_sr normalised per pixel
(``affinities``). Both forms coincide where w is symmetric; Levin's w_rs uses pixel r's window
and is not, so their solutions differ near lightness edges (by 30-50 dB ab PSNR on the built-in
photos at 256x256 with 10 and 100 hint points). The gradient-domain form is the one gradient
descent can solve: E penalises differences, J only second differences (a field whose colour
ramps smoothly across a uniform region costs J almost nothing), so J's minimum is found slowly
and colours bleed across edges on the way (docs/colorization.md).

Colour space: this project's CIE Lab (``siren_jax.colorize.colour``) instead of the paper's YIQ:
Y is L / 100 in [0, 1] (the reference's Y range, so its 2e-6 floor keeps its meaning) and the
chroma channels are a and b (ab / 128). Inputs and outputs use the project's scaling: lightness
(H, W, 1) = L / 50 - 1 in [-1, 1], chroma (H, W, 2) = ab / 128.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import scipy.ndimage
import scipy.sparse
import scipy.sparse.linalg

from siren_jax import images, tiling
from siren_jax.colorize import hints as hints_lib

Array = jax.Array
# The 8 neighbours (dy, dx) of a 3x3 window, row-major.
OFFSETS = ((-1, -1), (-1, 0), (-1, 1), (0, -1), (0, 1), (1, -1), (1, 0), (1, 1))
SIGMA_FACTOR = 0.6  # sigma_r^2 = 0.6 x the window's lightness variance (getColorExact.m).
MIN_NEIGHBOUR_WEIGHT = 0.01  # The most similar neighbour's unnormalised weight is >= this.
MIN_SIGMA2 = 2e-6  # Floor of sigma_r^2, in (L / 100)^2.
FORMS = ('levin', 'gradient')


def _luma(lightness: np.ndarray) -> np.ndarray:
  """Scaled lightness (H, W, 1) or (H, W) = L / 50 - 1 -> Y = L / 100 (H, W) float64."""
  lightness = np.asarray(lightness, np.float64)
  if lightness.ndim == 3 and lightness.shape[-1] == 1:
    lightness = lightness[..., 0]
  if lightness.ndim != 2:
    raise ValueError(f'lightness must have shape (H, W, 1), got {lightness.shape}')
  return (lightness + 1.0) / 2.0


def _shifted(image: np.ndarray, dy: int, dx: int) -> tuple[np.ndarray, np.ndarray]:
  """(image[y + dy, x + dx] (H, W, ...), valid (H, W)): the neighbour at offset (dy, dx) of
  every pixel, and whether it lies inside the image (values outside are 0)."""
  height, width = image.shape[:2]
  out = np.zeros_like(image)
  valid = np.zeros((height, width), bool)
  ys = slice(max(0, -dy), min(height, height - dy))
  xs = slice(max(0, -dx), min(width, width - dx))
  source_y = slice(ys.start + dy, ys.stop + dy)
  source_x = slice(xs.start + dx, xs.stop + dx)
  out[ys, xs] = image[source_y, source_x]
  valid[ys, xs] = True
  return out, valid


def neighbour_weights(lightness: np.ndarray) -> np.ndarray:
  """Levin's affinities w_rs (module docstring) of every pixel r to its 8 neighbours s.

  Args:
    lightness: (H, W, 1) = L / 50 - 1.
  Returns:
    (H, W, 8) float64: weight of neighbour ``OFFSETS[k]`` of pixel (y, x), 0 for neighbours
    outside the image; each pixel's weights sum to 1 (for H * W > 1).
  """
  luma = _luma(lightness)
  neighbours, valid = zip(*(_shifted(luma, dy, dx) for dy, dx in OFFSETS))
  values = np.stack(neighbours, -1)  # (H, W, 8)
  inside = np.stack(valid, -1)
  count = 1.0 + inside.sum(-1)
  mean = (luma + np.where(inside, values, 0.0).sum(-1)) / count
  variance = ((luma - mean) ** 2 + np.where(inside, (values - mean[..., None]) ** 2,
                                            0.0).sum(-1)) / count
  squared = np.where(inside, (values - luma[..., None]) ** 2, np.inf)
  closest = squared.min(-1)
  closest = np.where(np.isfinite(closest), closest, 0.0)  # A 1x1 image has no neighbour.
  sigma2 = np.maximum(np.maximum(SIGMA_FACTOR * variance,
                                 -closest / math.log(MIN_NEIGHBOUR_WEIGHT)), MIN_SIGMA2)
  weights = np.where(inside, np.exp(-np.where(inside, squared, 0.0) / sigma2[..., None]), 0.0)
  total = weights.sum(-1, keepdims=True)
  return weights / np.where(total > 0, total, 1.0)


def affinities(lightness: np.ndarray, form: str = 'levin') -> np.ndarray:
  """The weights of each pixel's equation U_r = sum_s a_rs U_s (H, W, 8), summing to 1:
  Levin's w_rs ('levin'), or w_rs + w_sr normalised per pixel ('gradient', the stationarity
  equations of E; module docstring)."""
  if form not in FORMS:
    raise ValueError(f'form must be one of {", ".join(FORMS)}, got {form!r}')
  weights = neighbour_weights(lightness)
  if form == 'levin':
    return weights
  # w_sr of neighbour s = r + OFFSETS[k] is s's weight towards r, its OFFSETS[7 - k].
  back = np.stack([_shifted(weights[..., 7 - k], dy, dx)[0] for k, (dy, dx) in enumerate(OFFSETS)],
                  -1)
  pairs = weights + back
  total = pairs.sum(-1, keepdims=True)
  return pairs / np.where(total > 0, total, 1.0)


def system(lightness: np.ndarray, hints: hints_lib.Hints, form: str = 'levin'
           ) -> tuple[scipy.sparse.csr_matrix, np.ndarray]:
  """The square system A U = b of ``form`` over the H * W pixels (raster order, row y * W + x).

  Returns:
    A: (n, n) CSR, n = H * W: row r is e_r - sum_s a_rs e_s for a free pixel (``affinities``),
      e_r for a hinted one. b: (n, 2) float64: the hint's ab / 128 on hinted rows, 0 elsewhere.
  """
  height, width = _luma(lightness).shape
  if (hints.height, hints.width) != (height, width):
    raise ValueError(f'hints are for a {hints.width}x{hints.height} photo, the lightness is '
                     f'{width}x{height}')
  n = height * width
  weights = affinities(lightness, form)
  weights[hints.rows, hints.cols] = 0.0  # Hinted rows are the identity.
  index = np.arange(n).reshape(height, width)
  rows, cols, values = [np.arange(n)], [np.arange(n)], [np.ones(n)]
  for k, (dy, dx) in enumerate(OFFSETS):
    neighbour, inside = _shifted(index, dy, dx)
    take = inside & (weights[..., k] > 0)
    rows.append(index[take])
    cols.append(neighbour[take])
    values.append(-weights[..., k][take])
  matrix = scipy.sparse.csr_matrix(
      (np.concatenate(values), (np.concatenate(rows), np.concatenate(cols))), shape=(n, n))
  rhs = np.zeros((n, 2))
  rhs[hints.rows * width + hints.cols] = hints.ab
  return matrix, rhs


def solve(lightness: np.ndarray, hints: hints_lib.Hints, form: str = 'levin') -> np.ndarray:
  """Levin's colourisation: the chroma (H, W, 2) float32 (ab / 128) solving ``system`` (of
  ``form``), by one sparse LU factorisation (``scipy.sparse.linalg.splu``) and a solve per
  channel.

  The factorisation orders A by minimum degree on A^T + A (A's pattern is symmetric) without
  row pivoting: A is a nonsingular M-matrix (unit diagonal, non-positive off-diagonal entries,
  rows summing to >= 0), whose LU factors exist without pivoting and are stable. On 256x384 this
  halved the time and the fill of SuperLU's default (COLAMD with partial pivoting).

  Raises:
    ValueError: no hints (the system is singular; the answer would be any constant).
  """
  hints_lib.require_some(hints)
  height, width = _luma(lightness).shape
  matrix, rhs = system(lightness, hints, form)
  factors = scipy.sparse.linalg.splu(matrix.tocsc(), permc_spec='MMD_AT_PLUS_A',
                                     diag_pivot_thresh=0.0, options={'SymmetricMode': True})
  solution = factors.solve(rhs)
  return solution.reshape(height, width, 2).astype(np.float32)


def residual(ab: np.ndarray, lightness: np.ndarray, hints: hints_lib.Hints,
             form: str = 'levin') -> np.ndarray:
  """U_r - sum_s a_rs U_s per pixel and channel (H, W, 2), 0 at hinted pixels: zero for the
  solution of ``form``. Computed with array shifts, independently of ``system``'s matrix."""
  ab = np.asarray(ab, np.float64)
  weights = affinities(lightness, form)
  mean = sum(weights[..., k:k + 1] * _shifted(ab, dy, dx)[0] for k, (dy, dx) in enumerate(OFFSETS))
  out = ab - mean
  out[hints.rows, hints.cols] = 0.0
  return out


# ---- Photos too large for one factorisation -----------------------------------------------------

def _axis_blend(size: int, starts: tuple[int, ...], tile: int) -> np.ndarray:
  """(n_tiles, size) sin^2 blending weights of the tiles along one axis at its pixel centres,
  summing to one over the tiles (``tiling.covering_tiles`` on a one-pixel-wide layout, its
  weights of the covering tiles spread into one row per tile)."""
  layout = tiling.TileLayout(size, 1, tile, 1, starts, (0,))
  centres = -1.0 + (2.0 * np.arange(size) + 1.0) / size
  coords = np.stack([centres, np.zeros(size)], -1).astype(np.float32)
  index, weight = (np.asarray(a) for a in tiling.covering_tiles(jnp.asarray(coords), layout,
                                                                 'cosine'))
  dense = np.zeros((len(starts), size), np.float64)
  np.add.at(dense, (index, np.arange(size)[:, None]), weight)
  return dense


def solve_tiled(lightness: np.ndarray, hints: hints_lib.Hints, *, tile: int = 384,
                overlap: int = 96, coarse_side: int = 512, form: str = 'levin') -> np.ndarray:
  """Levin's colourisation of a photo of any size in bounded memory.

  A photo of at most tile x tile pixels is solved whole (``solve`` of ``form``). A larger one:
    1. the whole problem is solved at a coarse scale (lightness downscaled to short side
       ``coarse_side``, hints moved to the coarse grid, ``hints.rescale``): the colours of far
       hints travel across the photo there;
    2. the full-resolution problem is solved on overlapping tiles (``tiling.make_layout``), each
       with its own hints and, on the tile's border pixels that are not the photo's, the coarse
       solution (bilinear) as hard constraints;
    3. the tiles are blended with sin^2 ramps across their overlaps (weights summing to one).
  Memory: one tile's factorisation plus O(H * W) arrays (lightness, chroma, weights).

  Args:
    lightness: (H, W, 1) = L / 50 - 1. hints: for an H x W photo, at least one.
    tile, overlap: tile side and minimum overlap, in pixels.
    coarse_side: short side of the coarse solve.
  Returns:
    (H, W, 2) float32 chroma ab / 128.
  """
  hints_lib.require_some(hints)
  lightness = np.asarray(lightness, np.float32).reshape(*np.shape(lightness)[:2], 1)
  height, width = lightness.shape[:2]
  if height * width <= tile * tile:
    return solve(lightness, hints, form)
  scale = min(1.0, coarse_side / min(height, width))
  coarse_shape = (max(1, round(height * scale)), max(1, round(width * scale)))
  coarse = solve(images.resize(lightness, coarse_shape),
                 hints_lib.rescale(hints, *coarse_shape), form)
  layout = tiling.make_layout(height, width, tile, overlap)
  wy = _axis_blend(height, layout.y_starts, layout.tile_height)
  wx = _axis_blend(width, layout.x_starts, layout.tile_width)
  out = np.zeros((height, width, 2), np.float32)
  th, tw = layout.tile_height, layout.tile_width
  for i, top in enumerate(layout.y_starts):
    for j, left in enumerate(layout.x_starts):
      local = hints.crop(top, left, th, tw)
      # The tile's edges inside the photo; the photo's own edges need no constraint (their
      # windows are clipped there, as in ``solve``).
      border = np.zeros((th, tw), bool)
      border[0, :] |= top > 0
      border[-1, :] |= top + th < height
      border[:, 0] |= left > 0
      border[:, -1] |= left + tw < width
      border[local.rows, local.cols] = False  # A hint wins over the coarse value.
      rows, cols = np.nonzero(border)
      # Coarse pixel coordinates of the full-resolution pixel centres.
      cy = (top + rows + 0.5) * coarse_shape[0] / height - 0.5
      cx = (left + cols + 0.5) * coarse_shape[1] / width - 0.5
      fixed = np.stack([scipy.ndimage.map_coordinates(coarse[..., c], [cy, cx], order=1,
                                                      mode='nearest') for c in range(2)], -1)
      constraints = hints_lib.Hints(th, tw, np.concatenate([local.rows, rows]),
                                    np.concatenate([local.cols, cols]),
                                    np.concatenate([local.ab, fixed]).astype(np.float32))
      piece = solve(lightness[top:top + th, left:left + tw], constraints, form)
      weight = np.outer(wy[i, top:top + th], wx[j, left:left + tw])[..., None]
      out[top:top + th, left:left + tw] += (weight * piece).astype(np.float32)
  return out


# ---- The same problem for a coordinate network --------------------------------------------------

def network_batch(lightness: np.ndarray, hints: hints_lib.Hints,
                  form: str = 'gradient') -> dict[str, np.ndarray]:
  """Per-pixel training arrays (rows in raster order, N = H * W) for ``make_network_loss``:
  'weights' (N, 8): Levin's w_rs ('gradient': every pixel's; 'levin': 0 at hinted pixels, which
  have no equation), 'hinted' (N,) 1 at hinted pixels, 'hint_ab' (N, 2) the hints' ab / 128
  (0 elsewhere)."""
  hints_lib.require_some(hints)
  if form not in FORMS:
    raise ValueError(f'form must be one of {", ".join(FORMS)}, got {form!r}')
  weights = neighbour_weights(lightness)
  if form == 'levin':
    weights[hints.rows, hints.cols] = 0.0
  n = weights.shape[0] * weights.shape[1]
  return {'weights': weights.reshape(n, 8).astype(np.float32),
          'hinted': hints.mask().reshape(n).astype(np.float32),
          'hint_ab': hints.dense_ab().reshape(n, 2)}


def make_network_loss(height: int, width: int, smoothness_weight: float = 1.0,
                      form: str = 'gradient'):
  """The problem of ``form`` for a field phi: coords -> ab / 128: ``loss_fn(params, batch,
  apply_fn)`` on a ``network_batch`` of the same form.

  phi is sampled at the H x W pixel centres (batch['coords'] in raster order, N = H * W). The
  colourisation it proposes is U = the hint at hinted pixels and phi elsewhere, so the hints
  are hard constraints, as in ``solve``:
    smoothness term, 'gradient': E(U) / N = sum over pixels and their neighbours of
      w_rs (U_r - U_s)^2 / N, scaled by (max(H, W) / 2)^2 (the coordinate-unit factor of a
      squared difference); 'levin': J(U) / (free pixels), scaled by (max(H, W) / 2)^4 (that of a
      squared second difference). Either way its minimiser is ``solve``'s solution of that
      form, and the scale keeps the balance with the hint term independent of the image size;
    hint term: mean over the hinted pixels of (phi_r - hint_r)^2. It does not change that
      minimiser (phi = hint at the hints is free to reach); it makes phi itself the whole
      colourisation, so that it renders at any size.
  loss = hint + smoothness_weight * smoothness (both halved per channel).
  """
  if form not in FORMS:
    raise ValueError(f'form must be one of {", ".join(FORMS)}, got {form!r}')
  scale = (max(height, width) / 2.0) ** (4 if form == 'levin' else 2)

  def loss_fn(params, batch: dict[str, Array], apply_fn) -> tuple[Array, dict]:
    phi = apply_fn(params, batch['coords'])  # (N, 2)
    hinted = batch['hinted'][:, None]
    hint = jnp.sum(hinted * (phi - batch['hint_ab']) ** 2) / (
        2.0 * jnp.maximum(jnp.sum(hinted), 1.0))
    image = (hinted * batch['hint_ab'] + (1.0 - hinted) * phi).reshape(height, width, 2)
    padded = jnp.pad(image, ((1, 1), (1, 1), (0, 0)))  # Neighbours outside weigh 0.
    weights = batch['weights'].reshape(height, width, 8)
    neighbours = [padded[1 + dy:1 + dy + height, 1 + dx:1 + dx + width] for dy, dx in OFFSETS]
    if form == 'gradient':
      total = sum(weights[..., k:k + 1] * (image - n) ** 2 for k, n in enumerate(neighbours))
      smooth = scale * jnp.sum(total) / (2.0 * height * width)
    else:
      mean = sum(weights[..., k:k + 1] * n for k, n in enumerate(neighbours))
      free = (1.0 - hinted).reshape(height, width, 1)
      smooth = scale * jnp.sum(free * (image - mean) ** 2) / (
          2.0 * jnp.maximum(jnp.sum(free), 1.0))
    return hint + smoothness_weight * smooth, {'hint_loss': hint, 'smoothness_loss': smooth}

  return loss_fn
