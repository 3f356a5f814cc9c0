r"""Where the headline number's gap comes from: the image preparation, split into its parts,
against the SIREN reference's own fit in PyTorch on the same machine.

The paper's image fit (the reference's ``explore_siren.ipynb``): the 256x256 cameraman, SIREN
width 256 with 3 hidden layers, Adam 1e-4, the full image every step, 500 steps. siren_jax fits
it four ways -- today's preparation (scikit-image bicubic resize, half_pixel grid), the
reference's resize alone (PIL bilinear, ``images.resize(method='reference')``), the reference's
grid alone (linspace), and both (the reference preparation) -- with ``--seeds`` seeds each, and
the reference's notebook fits it in PyTorch with its own initialisation under the same seeds
(prepared as torchvision prepares it: PIL's bilinear resize of the 8-bit image, ToTensor,
Normalize; ``torch.linspace`` grid). PSNR as everywhere in siren_jax (``metrics.psnr``: [0, 1],
prediction clipped) after 100, 300 and 500 steps, mean +- sample std [min, max] over seeds;
s/step is the mean time of a step after the first (compilation excluded; the machine's load
sets it).

``--same_init``: also fits PyTorch from siren_jax's initial weights of each seed (reference
preparation): the per-step PSNR gap (from the losses before every step) between the two
frameworks on the same start says whether a remaining difference is chance (the initial
weights) or arithmetic (the optimiser, float32 summation order).

Each finished fit is kept in ``--state`` (JSON), so a run cut short resumes where it stopped;
``--report_only`` tables what the state holds without fitting.

  nice -n 10 python -m bench.reference_gap --seeds=3 --same_init --state=/tmp/gap.json
"""

from __future__ import annotations

import json
import os
import statistics
import time
from typing import Any

import jax
import numpy as np
import optax
from absl import app, flags

from bench import common
from experiments.common import main_with_clean_errors
from siren_jax import fitting, grids, images, layers, metrics, models, training
from siren_jax.models import fields

# siren_jax's preparations: name -> (resize method, grid convention).
PREPARATIONS = {
    'today': ('bicubic', 'half_pixel'),
    'resize only': ('reference', 'half_pixel'),
    'grid only': ('bicubic', 'linspace'),
    'reference': ('reference', 'linspace'),
}
TORCH = 'PyTorch reference'
SAME_INIT = 'PyTorch, same init'
REPORT_STEPS = (100, 300, 500)
GAP_STEPS = (1, 10, 50, 100, 200, 300, 400, 500)


def jax_fit(image: np.ndarray, grid: str, seed: int, *, steps: int, width: int,
            hidden_layers: int, learning_rate: float, keep_initial: bool = False
            ) -> dict[str, Any]:
  """siren_jax's train step on (H, W, 1) ``image`` sampled on ``grid``: the loss before every
  step, PSNR after each of REPORT_STEPS, and (``keep_initial``) the initial weights as lists in
  ``layers.flax_params_to_list``'s layout."""
  coords, values = grids.image_to_samples(image, grid)
  batch = {'coords': coords, 'values': values}
  model = fields.make_field_model('siren', out_features=1, hidden_features=width,
                                  hidden_layers=hidden_layers)
  params = fields.init_params(model, jax.random.PRNGKey(seed))
  initial = [{k: np.asarray(v).tolist() for k, v in layer.items()}
             for layer in layers.flax_params_to_list(jax.device_get(params))]
  state = training.TrainState.create(apply_fn=models.apply_fn(model), params=params,
                                     tx=optax.adam(learning_rate))
  step = training.make_train_step(fitting.image_loss)
  losses, psnr = [], {}
  start = time.perf_counter()
  for i in range(1, steps + 1):
    state, scalars = step(state, batch)
    losses.append(float(scalars['loss']))
    if i == 1:  # Time the steps after the first (the compilation).
      start = time.perf_counter()
    if i in REPORT_STEPS or i == steps:
      prediction = state.apply_fn(state.params, coords)
      psnr[i] = float(metrics.psnr(prediction, values))
  result = {'losses': losses, 'psnr': psnr, 'seconds': time.perf_counter() - start}
  return {**result, 'initial': initial} if keep_initial else result


def reference_batch(torch, size: int):
  """The notebook's ``get_cameraman_tensor`` and ``get_mgrid``, with PIL in place of
  torchvision (whose Resize on a PIL image is this PIL call): coords (N, 2), pixels (N, 1)."""
  import PIL.Image  # pylint: disable=g-import-not-at-top
  import skimage.data  # pylint: disable=g-import-not-at-top
  camera = PIL.Image.fromarray(skimage.data.camera())
  resized = camera.resize((size, size), PIL.Image.Resampling.BILINEAR)
  tensor = torch.from_numpy(np.asarray(resized).copy()).float().div(255)  # ToTensor.
  pixels = tensor.sub(0.5).div(0.5).reshape(-1, 1)  # Normalize(0.5, 0.5), permute + view.
  axis = torch.linspace(-1, 1, steps=size)
  coords = torch.stack(torch.meshgrid(axis, axis, indexing='ij'), dim=-1).reshape(-1, 2)
  return coords, pixels


def torch_fit(torch, net, coords, pixels, *, steps: int, learning_rate: float
              ) -> dict[str, Any]:
  """The notebook's loop: full image, MSE, ``torch.optim.Adam``; same records as jax_fit."""
  optimizer = torch.optim.Adam(net.parameters(), lr=learning_rate)
  values = pixels.numpy()
  losses, psnr = [], {}
  start = time.perf_counter()
  for i in range(1, steps + 1):
    loss = ((net(coords) - pixels) ** 2).mean()
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    losses.append(loss.item())
    if i == 1:
      start = time.perf_counter()
    if i in REPORT_STEPS or i == steps:
      with torch.no_grad():
        psnr[i] = float(metrics.psnr(net(coords).numpy(), values))
  return {'losses': losses, 'psnr': psnr, 'seconds': time.perf_counter() - start}


def _summary(values: list[float]) -> str:
  if not values:
    return '-'
  mean = statistics.fmean(values)
  std = statistics.stdev(values) if len(values) > 1 else 0.0
  return f'{mean:.2f} ± {std:.2f} [{min(values):.2f}, {max(values):.2f}]'


def _loss_psnr(losses: list[float]) -> np.ndarray:
  """PSNR (dB) from the [-1, 1] MSE before each step (unclipped, as the loss is)."""
  return np.asarray(metrics.psnr_from_mse(np.asarray(losses, np.float64)))


def tables(runs: dict[str, dict], seeds: list[int], steps: int) -> str:
  """The Markdown of the report: PSNR per preparation, and the same-init per-step gap of every
  seed whose state holds both fits (also when this run fitted none)."""
  shown = sorted({s for s in REPORT_STEPS if s <= steps} | {steps})
  names = [*PREPARATIONS, SAME_INIT, TORCH]
  rows = []
  reference_final = [runs[f'{TORCH} {s}']['psnr'][str(steps)] for s in seeds
                     if f'{TORCH} {s}' in runs]
  for name in names:
    done = [runs[f'{name} {s}'] for s in seeds if f'{name} {s}' in runs]
    resize, grid = PREPARATIONS.get(name, ('PIL bilinear (torchvision)', 'torch.linspace'))
    finals = [r['psnr'][str(steps)] for r in done]
    gap = (statistics.fmean(finals) - statistics.fmean(reference_final)
           if finals and reference_final else None)
    rows.append([name, resize, grid, len(done),
                 *[_summary([r['psnr'][str(s)] for r in done]) for s in shown],
                 '-' if gap is None else f'{gap:+.2f}',
                 '-' if not done else
                 f'{statistics.fmean(r["seconds"] for r in done) / max(steps - 1, 1):.3g}'])
  body = common.table(['fit', 'resize', 'grid', 'seeds',
                       *[f'PSNR after {s} steps (dB)' for s in shown],
                       f'mean minus PyTorch at {steps}', 's/step'], rows)
  pairs = [(s, runs[f'reference {s}'], runs[f'{SAME_INIT} {s}']) for s in seeds
           if f'reference {s}' in runs and f'{SAME_INIT} {s}' in runs]
  if pairs:
    at = [s for s in GAP_STEPS if s <= steps]
    rows = []
    for s, j, t in pairs:  # Labelled by their own seed: not every seed need have a pair.
      g = _loss_psnr(t['losses']) - _loss_psnr(j['losses'])
      rows.append([f'seed {s}', *[f'{g[i - 1]:+.3f}' for i in at],
                   f'{np.abs(g[:300]).max():.3f}', f'{np.abs(g).max():.3f}',
                   f'{t["psnr"][str(steps)] - j["psnr"][str(steps)]:+.3f}'])
    body += ('\n\nSame initial weights (siren_jax\'s, copied into the reference\'s network), '
             'reference preparation: PyTorch minus siren_jax, PSNR (dB) from the loss before '
             'step t, and after the last step.\n\n' + common.table(
                 ['start', *[f't={s}' for s in at], 'max abs, t<=300', 'max abs, all',
                  f'PSNR after {steps}'], rows))
  return body


def run(*, seeds: int = 3, steps: int = 500, size: int = 256, width: int = 256,
        hidden_layers: int = 3, learning_rate: float = 1e-4, same_init: bool = True,
        use_torch: bool = True, state_path: str = '', report_only: bool = False,
        results_path: str | None = common.DEFAULT_RESULTS) -> dict[str, dict]:
  """Runs every fit not yet in ``state_path`` (none with ``report_only``), prints the tables
  and appends them to ``results_path``; returns the fits by '<name> <seed>'."""
  for name, value in (('seeds', seeds), ('steps', steps), ('size', size), ('width', width)):
    if value < 1:
      raise ValueError(f'--{name} must be >= 1, got {value}')
  torch = common.try_import_torch() if use_torch else None
  runs: dict[str, dict] = {}
  if state_path and os.path.exists(state_path):
    with open(state_path, encoding='utf-8') as f:
      runs = json.load(f)
  prepared = {method: images.load_image('camera', mode='grey', size=size, resize_method=method)
              for method in ('bicubic', 'reference')}
  notes = [f'camera {size}x{size} grey, SIREN width {width}, {hidden_layers} hidden layers, '
           f'Adam lr {learning_rate:g}, full image per step, {steps} steps, seeds '
           f'0-{seeds - 1}; siren_jax seed s: jax.random.PRNGKey(s), PyTorch seed s: '
           'torch.manual_seed(s) before the notebook\'s Siren(...).']
  if torch is not None:
    coords, pixels = reference_batch(torch, size)
    same = np.array_equal(pixels.numpy().reshape(size, size, 1), prepared['reference'])
    grid_gap = float(np.abs(coords.numpy() - np.asarray(
        grids.image_to_samples(prepared['reference'], 'linspace')[0])).max())
    notes.append(f'The reference\'s pixels equal siren_jax\'s reference preparation: {same}; '
                 f'its grid differs from grids\' linspace by at most {grid_gap:.1e}.')
  else:
    notes.append(common.NO_TORCH)

  def save(key: str, result: dict) -> None:
    runs[key] = json.loads(json.dumps(result))  # Integer step keys become strings, as loaded.
    print(f'{key}: PSNR {result["psnr"][steps]:.2f} dB after {steps} steps '
          f'({result["seconds"]:.0f} s)', flush=True)
    if state_path:
      with open(state_path + '.tmp', 'w', encoding='utf-8') as f:
        json.dump(runs, f)
      os.replace(state_path + '.tmp', state_path)

  hyper = dict(steps=steps, learning_rate=learning_rate)
  def fit_jax(name: str, seed: int) -> None:
    if f'{name} {seed}' not in runs:
      resize, grid = PREPARATIONS[name]
      save(f'{name} {seed}', jax_fit(prepared[resize], grid, seed, width=width,
                                     hidden_layers=hidden_layers,
                                     keep_initial=name == 'reference', **hyper))

  # Seed by seed, in the order of what each fit tells (a run cut short has the most of it): the
  # reference preparation, PyTorch from its weights (chance or arithmetic?), the parts of the
  # preparation and today's, and last PyTorch from its own initialisation.
  for seed in range(0 if report_only else seeds):
    fit_jax('reference', seed)
    if torch is not None and same_init and f'{SAME_INIT} {seed}' not in runs:
      initial = runs[f'reference {seed}']['initial']
      net = common.torch_siren([{k: np.asarray(v, np.float32) for k, v in layer.items()}
                                for layer in initial])
      save(f'{SAME_INIT} {seed}', torch_fit(torch, net, coords, pixels, **hyper))
    for name in ('resize only', 'grid only', 'today'):
      fit_jax(name, seed)
    if torch is not None and f'{TORCH} {seed}' not in runs:
      torch.manual_seed(seed)
      net = common.torch_reference_siren(2, width, hidden_layers, 1)
      save(f'{TORCH} {seed}', torch_fit(torch, net, coords, pixels, **hyper))
  body = tables(runs, list(range(seeds)), steps)
  common.report(f'Reference gap: {size}x{size} cameraman, {steps} steps', body, results_path,
                notes)
  return runs


if __name__ == '__main__':
  flags.DEFINE_integer('seeds', 3, 'Seeds 0..N-1 of every fit.')
  flags.DEFINE_integer('steps', 500, 'Optimiser steps per fit.')
  flags.DEFINE_integer('size', 256, 'Image side in pixels.')
  flags.DEFINE_integer('width', 256, 'SIREN hidden width.')
  flags.DEFINE_integer('hidden_layers', 3, 'SIREN hidden layers.')
  flags.DEFINE_float('learning_rate', 1e-4, 'Adam learning rate.')
  flags.DEFINE_bool('same_init', True, 'Also fit PyTorch from siren_jax\'s initial weights.')
  flags.DEFINE_bool('torch', True, 'Run the PyTorch reference when it is installed.')
  flags.DEFINE_string('state', '', 'JSON file keeping finished fits (a rerun resumes).')
  flags.DEFINE_bool('report_only', False, 'Only table the fits in --state.')
  common.define_results_flag()

  @main_with_clean_errors
  def main(argv: list[str]) -> None:
    del argv
    f = flags.FLAGS
    run(seeds=f.seeds, steps=f.steps, size=f.size, width=f.width,
        hidden_layers=f.hidden_layers, learning_rate=f.learning_rate, same_init=f.same_init,
        use_torch=f.torch, state_path=f.state, report_only=f.report_only,
        results_path=f.results or None)

  app.run(main)
