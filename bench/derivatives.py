r"""Gradient and Laplacian of a SIREN over every pixel: siren_jax vs PyTorch double backward.

siren_jax: ``fitting.derivatives`` (forward-mode ``diffops``, chunked, jitted). PyTorch: the
reference's ``diff_operators`` way, ``autograd.grad(..., create_graph=True)`` for the gradient
and once more per coordinate for the Laplacian, on all pixels in one batch. Both use the same
weights (copied across), so their values must agree to float32 round-off. The weights are a
fresh SIREN init unless ``--fit_steps`` fits the image first; the cost does not depend on them.

  python -m bench.derivatives --size=256 --width=256
"""

from __future__ import annotations

from typing import Any

import jax
import numpy as np
from absl import app, flags

from bench import common
from bench.fit_step import make_problem
from experiments.common import main_with_clean_errors
from siren_jax import fitting, layers, training


class TorchDerivatives:
  """The reference's gradient (one backward with create_graph) and Laplacian (divergence of
  the gradient: one more backward per coordinate), all points in one batch."""

  def __init__(self, params: list[dict[str, Any]], coords: np.ndarray):
    self.torch = common.try_import_torch()
    self.device = 'cuda' if self.torch.cuda.is_available() else 'cpu'
    self.net = common.torch_siren(params).to(self.device)
    self.coords = self.torch.from_numpy(np.array(coords)).to(self.device)

  def __call__(self) -> tuple[np.ndarray, np.ndarray]:
    torch = self.torch
    x = self.coords.clone().requires_grad_(True)
    y = self.net(x)  # (N, C)
    grads, laps = [], []
    for c in range(y.shape[-1]):
      g = torch.autograd.grad(y[:, c], x, torch.ones_like(y[:, c]), create_graph=True)[0]
      lap = 0.0
      for i in range(x.shape[-1]):
        lap = lap + torch.autograd.grad(g[:, i], x, torch.ones_like(g[:, i]),
                                        create_graph=True)[0][:, i]
      grads.append(g)
      laps.append(lap)
    if self.device == 'cuda':
      torch.cuda.synchronize()
    return (torch.stack(grads, 1).detach().cpu().numpy(),
            torch.stack(laps, 1).detach().cpu().numpy())


def relative_error(a: np.ndarray, b: np.ndarray) -> float:
  """max |a - b| / max |b|."""
  return float(np.max(np.abs(a - b)) / max(np.max(np.abs(b)), 1e-30))


def run(*, image: str = 'camera', size: int = 256, width: int = 256, hidden_layers: int = 3,
        chunk_size: int = 16384, repeats: int = 5, fit_steps: int = 0, use_torch: bool = True,
        results_path: str | None = common.DEFAULT_RESULTS) -> dict[str, Any]:
  """Times both, checks agreement, prints and appends the table; returns the numbers."""
  for name, value in (('size', size), ('width', width), ('chunk_size', chunk_size),
                      ('repeats', repeats)):
    if value < 1:
      raise ValueError(f'--{name} must be >= 1, got {value}')
  torch = common.try_import_torch() if use_torch else None
  batch, new_state = make_problem(image, size, width, hidden_layers, 1e-4)
  state = new_state()
  if fit_steps:
    step = training.make_train_step(fitting.image_loss)
    for _ in range(fit_steps):
      state, _ = step(state, batch)
  coords = batch['coords']
  apply_fn, params = state.apply_fn, state.params
  jax_fn = lambda: common.block(fitting.derivatives(apply_fn, params, coords, chunk_size))
  jax_grad, jax_lap = jax.device_get(jax_fn())  # Compiles.
  runners = {'siren_jax (forward mode)': jax_fn}
  if torch is not None:
    reference = TorchDerivatives(layers.flax_params_to_list(jax.device_get(params)), coords)
    runners['PyTorch double backward'] = reference
    torch_grad, torch_lap = reference()  # Warm-up, and the values to compare.
  times = common.time_alternating(runners, repeats)
  seconds = {name: common.median(t) for name, t in times.items()}
  out = {'seconds': seconds}
  rows = []
  torch_seconds = seconds.get('PyTorch double backward')
  for name, s in seconds.items():
    rows.append([name, s, size * size / s / 1e6, torch_seconds / s if torch_seconds else None])
  body = common.table(['implementation', 's (median)', 'Mpixel/s', 'speed-up vs PyTorch'], rows)
  weights = f'fitted {fit_steps} steps' if fit_steps else 'initial weights'
  notes = [f'{image} {size}x{size} grey ({size * size} points), SIREN width {width}, '
           f'{hidden_layers} hidden layers, {weights}; '
           f'gradient (N, C, 2) and Laplacian (N, C) together; siren_jax chunk {chunk_size} '
           f'points; {repeats} alternating repeats.']
  if torch is not None:
    out['grad_rel_error'] = relative_error(jax_grad, torch_grad)
    out['lap_rel_error'] = relative_error(jax_lap, torch_lap)
    notes.append(f'Agreement (same weights): max|diff|/max|value| = {out["grad_rel_error"]:.2e} '
                 f'(gradient, max |value| {np.max(np.abs(torch_grad)):.3g}), '
                 f'{out["lap_rel_error"]:.2e} (Laplacian, max |value| '
                 f'{np.max(np.abs(torch_lap)):.3g}).')
  else:
    notes.append(common.NO_TORCH)
  common.report(f'Derivatives: {size}x{size}, width {width}', body, results_path, notes)
  return out


if __name__ == '__main__':
  common.define_siren_flags(size=256)
  flags.DEFINE_string('image', 'camera', 'Built-in image name or path.')
  flags.DEFINE_integer('chunk_size', 16384, 'siren_jax points per chunk.')
  flags.DEFINE_integer('repeats', 5, 'Timed repeats per implementation.')
  flags.DEFINE_integer('fit_steps', 0, 'Fit the image this many steps first (0: initial weights).')

  @main_with_clean_errors
  def main(argv: list[str]) -> None:
    del argv
    f = flags.FLAGS
    run(image=f.image, size=f.size, width=f.width, hidden_layers=f.hidden_layers,
        chunk_size=f.chunk_size, repeats=f.repeats, fit_steps=f.fit_steps, use_torch=f.torch,
        results_path=f.results or None)

  app.run(main)
