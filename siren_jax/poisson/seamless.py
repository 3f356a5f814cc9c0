"""Poisson image editing as Perez et al. (2003) define it: seamless cloning and local edits as a
Dirichlet problem on a region Omega of the destination, a direct sparse solver, a loss for fitting
a coordinate network to the same problem, and an emulation of OpenCV's ``seamlessClone``.

The discrete problem (Perez eq. 7). Images are (H, W, C) arrays; channels are independent. For
every pixel p in Omega and each of its 4 neighbours q, the result f should satisfy
f_p - f_q = v_pq, the guidance across the edge p-q; outside Omega f *is* the destination f*.
Least squares over the edges that touch Omega gives, for p in Omega,

    sum_{q in N_p} (f_p - f_q - v_pq) = 0,      f = f* outside Omega,

a sparse symmetric positive definite system in the pixels of Omega (solved by
``scipy.sparse.linalg.splu``). Omega must stay one pixel inside the destination, so every
N_p has 4 pixels and the boundary values f*_q (q outside Omega) are all given.

Guidance is stored as forward differences on edges: ``gy[i, j]`` is the target of
f[i+1, j] - f[i, j] and ``gx[i, j]`` of f[i, j+1] - f[i, j]; shapes (H-1, W, C) and (H, W-1, C).
Rules: 'normal' takes the source's differences; 'mixed' takes, edge by edge, the larger in
magnitude of the source's and the destination's (Perez eq. 13). Local edits take the image's own
differences, transformed: 'illumination' v = alpha^beta |grad f|^-beta grad f (Perez eq. 16, the
magnitude per pixel from its two forward differences), 'color' v = k_c grad f_c.

OpenCV (``opencv_like_clone``, ``opencv_like_edit``) solves a different problem: see
docs/poisson_editing.md and the functions' docstrings.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np
import scipy.ndimage
import scipy.sparse
import scipy.sparse.linalg

Array = jax.Array
RULES = ('normal', 'mixed')
ANCHORS = ('center', 'top_left')
SHAPES = ('ellipse', 'rectangle')
EDITS = ('illumination', 'color')
# OpenCV erodes the mask 3 times with a 3x3 kernel before it weights the source's gradients.
OPENCV_ERODE = 3


def shape_mask(kind: str, height: int, width: int, frac_height: float = 0.5,
               frac_width: float = 0.5) -> np.ndarray:
  """A centred ellipse or rectangle of frac_height x frac_width of a height x width image:
  (height, width) bool."""
  if kind not in SHAPES:
    raise ValueError(f'mask shape must be one of {", ".join(SHAPES)}, got {kind!r}')
  ys = (np.arange(height) + 0.5) / height * 2 - 1
  xs = (np.arange(width) + 0.5) / width * 2 - 1
  y, x = np.meshgrid(ys / frac_height, xs / frac_width, indexing='ij')
  if kind == 'ellipse':
    return y**2 + x**2 <= 1.0
  return (np.abs(y) <= 1.0) & (np.abs(x) <= 1.0)


def prepare_mask(mask: np.ndarray, source_shape: Sequence[int] | None = None) -> np.ndarray:
  """User mask (H, W) or (H, W, C), non-zero inside -> bool (H, W) without its outermost ring.

  The ring is dropped (as OpenCV does) so that every pixel of the region has its 4 neighbours
  inside the source. Raises a one-line ValueError for a mask of the wrong size or an empty one.
  """
  mask = np.asarray(mask)
  if mask.ndim == 3:
    mask = np.asarray(mask.any(axis=-1) if mask.dtype == bool else np.abs(mask).max(axis=-1))
  if mask.ndim != 2:
    raise ValueError(f'mask must be a 2-D image, got shape {mask.shape}')
  if source_shape is not None and mask.shape != tuple(source_shape[:2]):
    raise ValueError(f'mask is {mask.shape[0]}x{mask.shape[1]} but the source is '
                     f'{source_shape[0]}x{source_shape[1]}; give a mask of the source\'s size')
  inside = mask != 0
  inside[[0, -1], :] = False
  inside[:, [0, -1]] = False
  if not inside.any():
    raise ValueError('mask is empty: no non-zero pixel away from its border')
  return inside


@dataclasses.dataclass(frozen=True)
class Placement:
  """Where the source lands in the destination: its pixel (0, 0) goes to (top, left), and
  ``omega`` (H, W) bool is the region Omega in destination pixels."""
  top: int
  left: int
  omega: np.ndarray


def bounding_box(mask: np.ndarray) -> tuple[int, int, int, int]:
  """(top, left, height, width) of the non-zero pixels of a 2-D mask."""
  rows, cols = np.nonzero(mask)
  return (int(rows.min()), int(cols.min()), int(rows.max() - rows.min() + 1),
          int(cols.max() - cols.min() + 1))


def place(mask: np.ndarray, dest_shape: Sequence[int], position: Sequence[int],
          anchor: str = 'center') -> Placement:
  """Places a prepared source mask (``prepare_mask``) in a destination of ``dest_shape``.

  Args:
    mask: (Hs, Ws) bool in source pixels.
    dest_shape: (H, W, ...) of the destination.
    position: (y, x) in destination pixels. anchor 'center': the centre of the mask's bounding
      box, with OpenCV's convention (its top-left goes to (y - h // 2, x - w // 2)); 'top_left':
      where the source's pixel (0, 0) goes.
    anchor: 'center' or 'top_left'.
  Raises:
    ValueError (one line) when Omega would leave the destination or touch its border.
  """
  if anchor not in ANCHORS:
    raise ValueError(f'anchor must be one of {", ".join(ANCHORS)}, got {anchor!r}')
  height, width = int(dest_shape[0]), int(dest_shape[1])
  y, x = (int(v) for v in position)
  if anchor == 'center':
    box_top, box_left, box_h, box_w = bounding_box(mask)
    top, left = y - box_h // 2 - box_top, x - box_w // 2 - box_left
  else:
    top, left = y, x
  rows, cols = np.nonzero(mask)
  rows, cols = rows + top, cols + left
  if rows.min() < 1 or cols.min() < 1 or rows.max() > height - 2 or cols.max() > width - 2:
    raise ValueError(
        f'the mask placed at (y, x) = ({y}, {x}) ({anchor}) covers destination rows '
        f'{rows.min()}..{rows.max()} and columns {cols.min()}..{cols.max()}, but it must stay '
        f'inside rows 1..{height - 2} and columns 1..{width - 2} of the {height}x{width} '
        'destination (off its border); move or shrink it')
  omega = np.zeros((height, width), bool)
  omega[rows, cols] = True
  return Placement(top=top, left=left, omega=omega)


def paste(dest: np.ndarray, source: np.ndarray, top: int, left: int) -> np.ndarray:
  """The destination with the source's pixels written over it at (top, left), cropped to the
  destination: (H, W, C)."""
  out = np.array(dest, copy=True)
  height, width = dest.shape[:2]
  y0, x0 = max(top, 0), max(left, 0)
  y1, x1 = min(top + source.shape[0], height), min(left + source.shape[1], width)
  out[y0:y1, x0:x1] = source[y0 - top:y1 - top, x0 - left:x1 - left]
  return out


def forward_differences(image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
  """(H, W, C) -> (dy (H-1, W, C), dx (H, W-1, C)) = (f[i+1, j] - f[i, j], f[i, j+1] - f[i, j])."""
  image = np.asarray(image, np.float64)
  return np.diff(image, axis=0), np.diff(image, axis=1)


def clone_guidance(dest: np.ndarray, placed_source: np.ndarray,
                   rule: str = 'normal') -> tuple[np.ndarray, np.ndarray]:
  """Edge guidance (gy, gx) for seamless cloning.

  Args:
    dest: (H, W, C) destination f*.
    placed_source: (H, W, C) source g placed in the destination's frame (``paste``).
    rule: 'normal' (g's differences) or 'mixed' (per edge and channel the one of f*'s and g's
      differences with the larger magnitude, Perez eq. 13; ties keep the destination's).
  """
  if rule not in RULES:
    raise ValueError(f'unknown cloning rule {rule!r}; choose from {", ".join(RULES)}')
  source_y, source_x = forward_differences(placed_source)
  if rule == 'normal':
    return source_y, source_x
  dest_y, dest_x = forward_differences(dest)
  return (np.where(np.abs(source_y) > np.abs(dest_y), source_y, dest_y),
          np.where(np.abs(source_x) > np.abs(dest_x), source_x, dest_x))


def _pixel_gradient(image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
  """Forward differences owned by each pixel, 0 past the last row/column: 2 x (H, W, C)."""
  dy, dx = forward_differences(image)
  return (np.concatenate([dy, np.zeros_like(dy[:1])], axis=0),
          np.concatenate([dx, np.zeros_like(dx[:, :1])], axis=1))


def illumination_guidance(image: np.ndarray, alpha: float,
                          beta: float = 0.2) -> tuple[np.ndarray, np.ndarray]:
  """Local illumination change (Perez eq. 16): v = alpha^beta |grad f|^-beta grad f per pixel and
  channel, grad f the pixel's two forward differences; 0 where grad f = 0. alpha is in the
  image's units of difference (Perez: 0.2 x the mean |grad f| over Omega)."""
  gy, gx = _pixel_gradient(image)
  magnitude = np.hypot(gy, gx)
  with np.errstate(divide='ignore'):
    scale = np.where(magnitude > 0, alpha**beta * magnitude ** -beta, 0.0)
  return (gy * scale)[:-1], (gx * scale)[:, :-1]


def color_guidance(image: np.ndarray, factors: Sequence[float]) -> tuple[np.ndarray, np.ndarray]:
  """Local colour change: channel c's differences times factors[c] (one per channel)."""
  scale = np.asarray(factors, np.float64)
  if scale.shape != (image.shape[-1],):
    raise ValueError(f'need one colour factor per channel ({image.shape[-1]}), got {scale}')
  dy, dx = forward_differences(image)
  return dy * scale, dx * scale


def _check_problem(dest: np.ndarray, omega: np.ndarray, gy: np.ndarray, gx: np.ndarray) -> None:
  height, width, channels = dest.shape
  if omega.shape != (height, width):
    raise ValueError(f'omega has shape {omega.shape}, expected {(height, width)}')
  if gy.shape != (height - 1, width, channels) or gx.shape != (height, width - 1, channels):
    raise ValueError(f'guidance shapes {gy.shape}, {gx.shape} do not match the destination '
                     f'{dest.shape}')
  if not omega.any():
    raise ValueError('omega is empty')
  if omega[[0, -1], :].any() or omega[:, [0, -1]].any():
    raise ValueError('omega touches the destination border; keep it one pixel inside')


def _divergence_term(gy: np.ndarray, gx: np.ndarray) -> np.ndarray:
  """sum_q v_pq per pixel (H, W, C): v_pq = -g on the edge to the right/down neighbour, +g on the
  edge from the left/up one. Rows/columns on the border get partial sums (unused)."""
  height, width = gx.shape[0], gy.shape[1]
  total = np.zeros((height, width, gx.shape[-1]))
  total[:, :-1] -= gx
  total[:, 1:] += gx
  total[:-1] -= gy
  total[1:] += gy
  return total


def solve(dest: np.ndarray, omega: np.ndarray, gy: np.ndarray, gx: np.ndarray) -> np.ndarray:
  """Direct solution of the discrete Dirichlet problem (module docstring) on Omega.

  Args:
    dest: (H, W, C) destination; its values outside Omega are the boundary condition.
    omega: (H, W) bool region, at least one pixel away from the border.
    gy, gx: edge guidance (H-1, W, C), (H, W-1, C).
  Returns:
    (H, W, C) of dest's dtype: the destination itself (bit for bit) outside Omega, the solution
    (float64 sparse LU, rounded to the dtype) inside.
  """
  dest = np.asarray(dest)
  omega = np.asarray(omega, bool)
  _check_problem(dest, omega, gy, gx)
  height, width, _ = dest.shape
  index = np.full((height, width), -1, np.int64)
  rows, cols = np.nonzero(omega)
  count = len(rows)
  index[rows, cols] = np.arange(count)
  known = np.where(omega[..., None], 0.0, dest.astype(np.float64))  # f* off Omega, 0 on it.
  rhs = _divergence_term(gy, gx)[rows, cols]  # (n, C)
  entries_i, entries_j = [np.arange(count)], [np.arange(count)]
  values = [np.full(count, 4.0)]
  for dy, dx in ((-1, 0), (1, 0), (0, -1), (0, 1)):
    neighbour = index[rows + dy, cols + dx]
    inside = neighbour >= 0
    entries_i.append(np.arange(count)[inside])
    entries_j.append(neighbour[inside])
    values.append(np.full(inside.sum(), -1.0))
    rhs += known[rows + dy, cols + dx]
  matrix = scipy.sparse.csc_matrix(
      (np.concatenate(values), (np.concatenate(entries_i), np.concatenate(entries_j))),
      shape=(count, count))
  solution = scipy.sparse.linalg.splu(matrix).solve(rhs)
  result = np.array(dest, copy=True)
  result[rows, cols] = solution.astype(dest.dtype)
  return result


def residual(result: np.ndarray, omega: np.ndarray, gy: np.ndarray, gx: np.ndarray) -> float:
  """max over Omega and channels of |sum_q (f_p - f_q - v_pq)|: 0 for an exact solution (in the
  image's units; computed with array shifts, independently of ``solve``'s matrix)."""
  f = np.asarray(result, np.float64)
  lap = 4 * f[1:-1, 1:-1] - f[:-2, 1:-1] - f[2:, 1:-1] - f[1:-1, :-2] - f[1:-1, 2:]
  equation = lap - _divergence_term(gy, gx)[1:-1, 1:-1]
  return float(np.abs(equation[omega[1:-1, 1:-1]]).max())


def seamless_clone(dest: np.ndarray, source: np.ndarray, mask: np.ndarray,
                   position: Sequence[int], rule: str = 'normal',
                   anchor: str = 'center') -> tuple[np.ndarray, Placement]:
  """Pastes the ``mask`` region of ``source`` into ``dest`` at ``position`` (Perez cloning).

  Args:
    dest: (H, W, C) destination; source: (Hs, Ws, C), any size; mask: (Hs, Ws), non-zero inside.
    position, anchor: see ``place``. rule: 'normal' or 'mixed'.
  Returns:
    (result (H, W, C) equal to dest outside Omega bit for bit, the placement).
  """
  if source.shape[-1] != dest.shape[-1]:
    raise ValueError(f'source has {source.shape[-1]} channels, destination {dest.shape[-1]}')
  placement = place(prepare_mask(mask, source.shape), dest.shape, position, anchor)
  placed = paste(dest, source, placement.top, placement.left)
  gy, gx = clone_guidance(dest, placed, rule)
  return solve(dest, placement.omega, gy, gx), placement


# ---- The same problem for a coordinate network -------------------------------------------------

def network_batch(dest: np.ndarray, omega: np.ndarray, gy: np.ndarray,
                  gx: np.ndarray) -> dict[str, np.ndarray]:
  """Per-pixel training arrays (rows in raster order, N = H * W) for ``make_network_loss``:
  'values' (N, C) dest; 'outside' (N,) 1 off Omega; 'gy', 'gx' (N, C) the guidance of the edge to
  the pixel below / to the right, 'wy', 'wx' (N,) 1 where that edge touches Omega."""
  height, width, channels = dest.shape
  touch_y = omega[:-1] | omega[1:]
  touch_x = omega[:, :-1] | omega[:, 1:]

  def per_pixel(edges, axis):
    pad = [(0, 0)] * edges.ndim
    pad[axis] = (0, 1)
    return np.pad(edges, pad).reshape(height * width, *edges.shape[2:]).astype(np.float32)

  return {'values': dest.reshape(-1, channels).astype(np.float32),
          'outside': (~omega).reshape(-1).astype(np.float32),
          'gy': per_pixel(np.where(touch_y[..., None], gy, 0.0), 0),
          'gx': per_pixel(np.where(touch_x[..., None], gx, 0.0), 1),
          'wy': per_pixel(touch_y, 0), 'wx': per_pixel(touch_x, 1)}


def make_network_loss(height: int, width: int, guidance_weight: float = 1.0):
  """Loss of a field phi on the discrete Dirichlet problem: ``loss_fn(params, batch, apply_fn)``.

  phi is sampled at the H x W pixel centres (batch['coords'] in raster order, N = H * W). The
  image it proposes is F = phi on Omega and F = f* (the destination, exactly) off Omega, so the
  boundary condition is hard, as in ``solve``:
    guidance term: mean over the edges touching Omega of (F_q - F_p - v_pq)^2 -- Perez's
      energy, whose minimiser is ``solve``'s solution (same edges, same equations). Differences
      are scaled by max(H, W) / 2, the coordinate-unit factor of the longer side, so that they
      weigh like values; one factor for both axes, since a different weight per axis would
      change the minimiser (Perez's pixels are square, the [-1, 1]^2 grid's are not);
    value term: mean over the pixels off Omega of (phi_p - f*_p)^2. It does not change that
      minimiser (phi = f* off Omega is free to reach); it makes phi the whole edited image, so
      that it renders at any size.
  loss = value + guidance_weight * guidance.
  """
  scale = max(height, width) / 2.0

  def loss_fn(params, batch: dict[str, Array], apply_fn) -> tuple[Array, dict]:
    phi = apply_fn(params, batch['coords'])  # (N, C)
    channels = phi.shape[-1]
    outside = batch['outside'][:, None]
    value = jnp.sum(outside * (phi - batch['values']) ** 2) / (
        jnp.maximum(jnp.sum(outside), 1.0) * channels)
    image = outside * batch['values'] + (1.0 - outside) * phi
    # Rolled-in neighbours (past the last row / column) only meet edges of weight 0.
    diff_y = (jnp.roll(image, -width, axis=0) - image - batch['gy']) * scale
    diff_x = (jnp.roll(image, -1, axis=0) - image - batch['gx']) * scale
    edges = jnp.maximum(jnp.sum(batch['wy']) + jnp.sum(batch['wx']), 1.0) * channels
    guide = (jnp.sum(batch['wy'][:, None] * diff_y**2) +
             jnp.sum(batch['wx'][:, None] * diff_x**2)) / edges
    return value + guidance_weight * guide, {'value_loss': value, 'guidance_loss': guide}

  return loss_fn


# ---- OpenCV's formulation ----------------------------------------------------------------------

def _eroded(mask: np.ndarray) -> np.ndarray:
  """OpenCV's ``erode(mask, ones(3, 3), iterations=3)``: a 7x7 erosion whose outside-the-image
  border counts as inside (OpenCV's default border for erode is the maximum value)."""
  size = 2 * OPENCV_ERODE + 1
  return scipy.ndimage.binary_erosion(mask, np.ones((size, size), bool), border_value=1)


def _to_uint8(values: np.ndarray, truncate: bool) -> np.ndarray:
  """OpenCV's conversion of its float result: clip to [0, 255] and *truncate*; or round."""
  return np.clip(np.trunc(values) if truncate else np.round(values), 0, 255).astype(np.uint8)


def _opencv_inputs(source: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
  if source.dtype != np.uint8:
    raise ValueError(f'OpenCV-like functions take uint8 images, got {source.dtype}')
  inside = np.asarray(mask) != 0
  if inside.ndim == 3:
    inside = inside.any(axis=-1)
  inside = inside.copy()
  inside[[0, -1], :] = False
  inside[:, [0, -1]] = False
  if not inside.any():
    raise ValueError('mask is empty: no non-zero pixel away from its border')
  return source, inside


def opencv_like_clone(dest: np.ndarray, source: np.ndarray, mask: np.ndarray,
                      center: Sequence[int], rule: str = 'normal', *, opencv_mixed: bool = True,
                      box_domain: bool = True, erode: bool = True,
                      truncate: bool = True) -> np.ndarray:
  """What ``cv2.seamlessClone(source, dest, mask, (x, y), NORMAL_CLONE/MIXED_CLONE)`` computes
  (OpenCV 4.x/5.x ``modules/photo/src/seamless_cloning*.cpp``), written out with this module's
  solver. uint8 (H, W, C) images, binary mask, center = (y, x). Its differences from Perez's
  problem (``seamless_clone``), each one switch (all True: OpenCV; all False: ``seamless_clone``
  rounded to uint8):

  * opencv_mixed: for 'mixed', per pixel and channel the source's *pair* (dy, dx) wins if
    |dx - dy| of the source exceeds that of the destination (Perez: per edge, by magnitude);
  * box_domain: the solve domain is the interior of the mask's *bounding box* B (outer ring of the
    mask dropped), placed with B's centre at ``center`` (top-left = center - size // 2), with
    Dirichlet values on B's outer ring -- every pixel of B's interior changes, inside the mask or
    not; the guidance is m * (source's differences) + (1 - m) * (destination's) per pixel (m the
    mask), instead of the source's on every edge touching the mask;
  * erode: m is the mask eroded by 3 pixels (3 x 3 kernel, 3 iterations), so a 3-pixel band
    inside the mask's edge follows the destination's gradients (only with box_domain);
  * truncate: the float result is clipped to [0, 255] and truncated (not rounded) to uint8 --
    on average -0.5 grey level on every solved pixel.
  The finite differences are the same (forward differences, 5-point Laplacian). OpenCV solves in
  float32 (a DST), this in float64: a few pixels end on the other side of an integer.
  """
  if rule not in RULES:
    raise ValueError(f'unknown cloning rule {rule!r}; choose from {", ".join(RULES)}')
  source, inside = _opencv_inputs(source, mask)
  box_top, box_left, box_h, box_w = bounding_box(inside)
  top, left = int(center[0]) - box_h // 2, int(center[1]) - box_w // 2
  if top < 0 or left < 0 or top + box_h > dest.shape[0] or left + box_w > dest.shape[1]:
    raise ValueError('the mask\'s bounding box placed at center leaves the destination')
  d = dest.astype(np.float64)
  box = (slice(top, top + box_h), slice(left, left + box_w))
  source_box = (slice(box_top, box_top + box_h), slice(box_left, box_left + box_w))
  # The whole source (OpenCV copies only B; the difference is never used when box_domain).
  s = paste(d, source.astype(np.float64), top - box_top, left - box_left)
  placed_inside = np.zeros(dest.shape[:2], bool)
  placed_inside[box] = inside[source_box]
  s_y, s_x = _pixel_gradient(s)
  d_y, d_x = _pixel_gradient(d)
  if rule == 'mixed':
    if opencv_mixed:
      source_wins = np.abs(s_x - s_y) > np.abs(d_x - d_y)
      s_y, s_x = np.where(source_wins, s_y, d_y), np.where(source_wins, s_x, d_x)
    else:
      s_y = np.where(np.abs(s_y) > np.abs(d_y), s_y, d_y)
      s_x = np.where(np.abs(s_x) > np.abs(d_x), s_x, d_x)
  if box_domain:
    domain = np.zeros(dest.shape[:2], bool)
    domain[top + 1:top + box_h - 1, left + 1:left + box_w - 1] = True
    weight = np.zeros(dest.shape[:2])
    weight[box] = (_eroded(inside) if erode else inside)[source_box]
    weight = weight[..., None]
    s_y, s_x = weight * s_y + (1 - weight) * d_y, weight * s_x + (1 - weight) * d_x
  else:
    domain = placed_inside
  solved = solve(d, domain, s_y[:-1], s_x[:, :-1])
  out = np.array(dest, copy=True)
  out[domain] = _to_uint8(solved[domain], truncate)
  return out


def opencv_like_edit(image: np.ndarray, mask: np.ndarray, edit: str, *, alpha: float = 0.2,
                     beta: float = 0.4,
                     factors: Sequence[float] = (1.0, 1.0, 1.0)) -> np.ndarray:
  """What ``cv2.illuminationChange(image, mask, alpha, beta)`` / ``cv2.colorChange(image, mask,
  r, g, b)`` compute, with this module's solver. uint8 (H, W, C), factors in the image's channel
  order, alpha in grey levels. The solve domain is the *whole image* but its outer ring; guidance
  m * edited + (1 - m) * the image's own differences, m the mask eroded by 3 pixels; truncation
  to uint8 as in ``opencv_like_clone``."""
  if edit not in EDITS:
    raise ValueError(f'unknown local edit {edit!r}; choose from {", ".join(EDITS)}')
  image, inside = _opencv_inputs(image, mask)
  f = image.astype(np.float64)
  own_y, own_x = _pixel_gradient(f)
  if edit == 'illumination':
    edit_y, edit_x = _pixel_gradient(np.where(inside[..., None], f, 0.0))
    magnitude = np.hypot(edit_y, edit_x)
    with np.errstate(divide='ignore'):
      scale = np.where(magnitude > 0, alpha**beta * magnitude ** -beta, 0.0)
    edit_y, edit_x = edit_y * scale, edit_x * scale
  else:
    edit_y, edit_x = own_y * np.asarray(factors), own_x * np.asarray(factors)
  weight = _eroded(inside)[..., None].astype(np.float64)
  g_y = weight * edit_y + (1 - weight) * own_y
  g_x = weight * edit_x + (1 - weight) * own_x
  domain = np.zeros(image.shape[:2], bool)
  domain[1:-1, 1:-1] = True
  solved = solve(f, domain, g_y[:-1], g_x[:, :-1])
  out = np.array(image, copy=True)
  out[domain] = _to_uint8(solved[domain], truncate=True)
  return out
