"""Poisson problems on images, the targets: gradient/Laplacian targets of an image, the losses a
field is trained on, and composed gradient fields of two images (paper Sec. 4.1; Perez et al. 2003,
"Poisson image editing"). Direct solutions of the same problems: ``siren_jax.poisson.solvers``.

Units. Targets come from ``finite_differences`` in *coordinate* units: an H x W image spans
[-1, 1]^2, so the pixel spacing is 2/H (2/(H - 1) on the linspace grid, ``grids``) and a field
fitted on the same grid whose autodiff gradient matches the target is the image itself (up to a
constant), with no rescaling. (The reference code scales Sobel by 10 and
``ndimage.laplace`` by 1e4 instead, so its fields are the image times a factor.)
"""

from __future__ import annotations

from collections.abc import Callable
from typing import overload

import jax
import jax.numpy as jnp
import numpy as np

from siren_jax import diffops, finite_differences, grids

Array = jax.Array
ApplyFn = Callable[..., Array]
RULES = ('mean', 'mixed', 'masked')


def gradient_target(image: np.ndarray, grid: str = grids.HALF_PIXEL) -> np.ndarray:
  """Sobel gradient per channel in the coordinate units of ``grid``: (H, W, C) -> (H, W, C, 2)
  as (d/dy, d/dx)."""
  return finite_differences.sobel_gradient(image, grid=grid).astype(np.float32)


def laplacian_target(image: np.ndarray, grid: str = grids.HALF_PIXEL) -> np.ndarray:
  """Five-point Laplacian per channel in the coordinate units of ``grid``: (H, W, C) ->
  (H, W, C)."""
  return finite_differences.laplacian(image, grid=grid).astype(np.float32)


def target_entry(target: np.ndarray) -> dict[str, np.ndarray]:
  """The batch entry a loss here reads, for a target of ``gradient_target`` or
  ``laplacian_target``: {'gradients': (H * W, C, 2)} for a gradient (H, W, C, 2), {'laplacians':
  (H * W, C)} for a Laplacian (H, W, C); rows in the row-major pixel order of the coordinates
  of ``grids.image_to_samples``."""
  target = np.asarray(target)
  if target.ndim == 4 and target.shape[-1] == 2:
    return {'gradients': target.reshape(-1, target.shape[2], 2)}
  if target.ndim == 3:
    return {'laplacians': target.reshape(-1, target.shape[2])}
  raise ValueError(f'a target is a gradient (H, W, C, 2) or a Laplacian (H, W, C), got shape '
                   f'{target.shape}')


def gradient_loss(params, batch: dict[str, Array], apply_fn: ApplyFn) -> tuple[Array, dict]:
  """Mean over points and channels of ||grad phi - g||^2.

  batch: 'coords' (N, 2) in [-1, 1]; 'gradients' (N, C, 2) target (d/dy, d/dx).
  """
  grad = diffops.gradient(diffops.pointwise(apply_fn, params), batch['coords'])
  loss = jnp.mean(jnp.sum((grad - batch['gradients']) ** 2, axis=-1))
  return loss, {}


def laplacian_loss(params, batch: dict[str, Array], apply_fn: ApplyFn) -> tuple[Array, dict]:
  """Mean over points and channels of (lap phi - f)^2.

  batch: 'coords' (N, 2) in [-1, 1]; 'laplacians' (N, C) target.
  """
  lap = diffops.laplacian(diffops.pointwise(apply_fn, params), batch['coords'])
  loss = jnp.mean((lap - batch['laplacians']) ** 2)
  return loss, {}


@overload
def check_mask(mask: None, shape: tuple[int, ...]) -> None: ...
@overload
def check_mask(mask: np.ndarray, shape: tuple[int, ...]) -> np.ndarray: ...
def check_mask(mask: np.ndarray | None, shape: tuple[int, ...]) -> np.ndarray | None:
  """mask: (H, W) or (H, W, 1), nonzero inside -> bool (H, W); shape is the image's (H, W, ...)."""
  if mask is None:
    return None
  mask = np.asarray(mask)
  if mask.ndim == 3 and mask.shape[-1] == 1:
    mask = mask[..., 0]
  if mask.shape != tuple(shape[:2]):
    raise ValueError(f'mask has shape {mask.shape}, expected the images\' {tuple(shape[:2])}; '
                     'resize the mask or use images of its size')
  return mask.astype(bool)


def compose_gradients(grad_a: np.ndarray, grad_b: np.ndarray, rule: str,
                      mask: np.ndarray | None = None) -> np.ndarray:
  """Combines two gradient fields (H, W, C, 2) of images A and B into one.

  Rules, applied at every pixel (or only inside ``mask``; A's gradient is kept outside it):
    mean:   0.5 grad A + 0.5 grad B (the paper's composite).
    mixed:  per pixel and channel, the one of grad A, grad B with the larger norm, A's on a tie
            (Perez et al.'s "mixed gradients"; channels are independent Poisson problems).
    masked: grad B (inside ``mask``, which this rule requires): insertion / seamless cloning.

  Args:
    grad_a, grad_b: (H, W, C, 2) gradient fields of one shape.
    rule: one of ``RULES``.
    mask: None (everywhere) or (H, W) / (H, W, 1), nonzero where B's gradients are used.
  Returns:
    (H, W, C, 2) composed field, float32.
  """
  grad_a, grad_b = np.asarray(grad_a), np.asarray(grad_b)
  if grad_a.shape != grad_b.shape or grad_a.ndim != 4 or grad_a.shape[-1] != 2:
    raise ValueError(f'gradient fields must both have shape (H, W, C, 2), got {grad_a.shape} '
                     f'and {grad_b.shape}')
  if rule not in RULES:
    raise ValueError(f'unknown composition rule {rule!r}; choose from {", ".join(RULES)}')
  mask = check_mask(mask, grad_a.shape)
  if rule == 'mean':
    inside = 0.5 * grad_a + 0.5 * grad_b
  elif rule == 'mixed':
    stronger_b = (np.sum(grad_b**2, axis=-1) > np.sum(grad_a**2, axis=-1))[..., None]
    inside = np.where(stronger_b, grad_b, grad_a)
  else:
    if mask is None:
      raise ValueError("rule 'masked' needs a mask")
    inside = grad_b
  if mask is None:
    return inside.astype(np.float32)
  return np.where(mask[:, :, None, None], inside, grad_a).astype(np.float32)


def naive_paste(image_a: np.ndarray, image_b: np.ndarray, mask: np.ndarray) -> np.ndarray:
  """B's pixels inside ``mask`` (H, W), A's outside: (H, W, C) -> (H, W, C). A cloning source
  is first placed in the destination's frame (``seamless.paste``), its mask being Omega."""
  mask = check_mask(mask, image_a.shape)
  return np.where(mask[..., None], image_b, image_a)
