"""Helpers shared by several test files (pytest fixtures and settings are in conftest.py).

Where tests live: ``tests/<name>_test.py`` holds the tests of one module, ``<name>`` being the
module's path below ``siren_jax/`` or ``experiments/`` with ``/`` as ``_``:
``siren_jax/layers.py`` -> ``layers_test.py``, ``siren_jax/poisson/solvers.py`` ->
``poisson_solvers_test.py``, ``siren_jax/models/fields.py`` -> ``models_fields_test.py``,
``experiments/colorize/compare.py`` -> ``colorize_compare_test.py``,
``experiments/configs/poisson.py`` -> ``configs_poisson_test.py``; a package's ``__init__.py``
-> ``<package>_test.py`` (``siren_jax/__init__.py``: ``api_test.py``). A test goes in the file of
the module whose behaviour it pins. An entry point only hands its config to one function, so
its tests (subprocess runs included) live with that function's module: ``python -m
experiments.fit_image`` in ``fit_image_lib_test.py``, ``python -m experiments.poisson`` in
``poisson_train_test.py`` (and ``poisson_clone_test.py`` for its clone mode).
Cross-cutting tests are named for what they cover (``api``, ``failures``, ``properties``,
``scale_out``, ``large_image``, ...). ``layout_test.py`` checks the rule both ways.
"""

from __future__ import annotations

import dataclasses
import json
import os
import pathlib
import shutil
import signal
import subprocess
import sys
import time

import jax
import numpy as np
import optax

from siren_jax import fitting, grids, training
from siren_jax.models import fields
from siren_jax.sr import liif

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# A small SIREN (the field model tests fit and save); field_spec form, as .inr files store it.
SMALL_SIREN = fields.field_spec('siren', out_features=1, image_side=32, hidden_features=32,
                                hidden_layers=2, first_omega0=30.0, hidden_omega0=30.0,
                                zero_bias=False)


def fit_small_siren(image: np.ndarray, steps: int, learning_rate: float = 1e-3
                    ) -> training.TrainState:
  """SMALL_SIREN fitted full-batch to ``image`` (H, W, 1) for ``steps`` steps."""
  model = fields.make_field_model(**SMALL_SIREN)
  state = training.create_train_state(model, jax.random.PRNGKey(0), np.zeros((1, 2), np.float32),
                                      optax.adam(learning_rate))
  coords, values = grids.image_to_samples(image)
  step = training.make_train_step(fitting.image_loss, steps_per_call=steps)
  state, _ = step(state, {'coords': coords, 'values': values})
  return state


def subprocess_env(**extra: str) -> dict[str, str]:
  """``os.environ`` for a child ``python -m ...`` run from REPO_ROOT on the CPU: the repository
  first on PYTHONPATH, with what PYTHONPATH already held kept behind it (packages installed with
  ``pip --target``, say), and ``extra`` on top."""
  path = os.pathsep.join(p for p in (REPO_ROOT, os.environ.get('PYTHONPATH', '')) if p)
  return {**os.environ, 'JAX_PLATFORMS': 'cpu', 'PYTHONPATH': path, **extra}


# What the wheel is built from, copied so that the build cannot see the rest of the checkout
# (tests/, bench/, ...) nor write build/ and *.egg-info into it.
WHEEL_INPUTS = ('setup.py', 'README.md', 'LICENSE', 'siren_jax', 'experiments')


@dataclasses.dataclass(frozen=True)
class InstalledWheel:
  """siren_jax installed from its wheel: ``python`` runs it (not this checkout) with ``env``."""
  venv: pathlib.Path
  python: str
  env: dict[str, str]


def install_wheel(directory: pathlib.Path) -> InstalledWheel:
  """Builds siren_jax's wheel from a copy of ``WHEEL_INPUTS`` and installs it into a fresh
  virtual environment, all under ``directory``. ``--system-site-packages`` reuses the installed
  jax/flax (no download); the wheel goes into the venv's own site-packages, which precede the
  system ones (and the checkout's editable finder)."""
  source = directory / 'source'
  source.mkdir(parents=True)
  for name in WHEEL_INPUTS:
    src = os.path.join(REPO_ROOT, name)
    if os.path.isdir(src):
      shutil.copytree(src, source / name, ignore=shutil.ignore_patterns('__pycache__'))
    else:
      shutil.copy(src, source / name)
  wheels = directory / 'wheels'
  subprocess.run([sys.executable, '-m', 'pip', 'wheel', '--no-deps', '--quiet', '-w',
                  str(wheels), str(source)], check=True, timeout=600)
  (wheel,) = wheels.glob('siren_jax-*-py3-none-any.whl')
  venv = directory / 'venv'
  subprocess.run([sys.executable, '-m', 'venv', '--system-site-packages', '--without-pip',
                  str(venv)], check=True, timeout=120)
  python = str(venv / 'bin' / 'python')
  subprocess.run([python, '-m', 'pip', 'install', '--quiet', '--no-deps', '--no-index',
                  '--ignore-installed', str(wheel)], check=True, timeout=300)
  env = {k: v for k, v in os.environ.items() if k not in ('PYTHONPATH', 'PYTHONHOME')}
  return InstalledWheel(venv, python, env)


def kill_after_first_checkpoint(module: str, flags: list[str], workdir, checkpoint_dir,
                                timeout: float = 240.0) -> None:
  """Starts ``python -m module *flags --workdir=workdir``, SIGKILLs it as soon as a checkpoint
  step directory appears in ``checkpoint_dir``, and asserts it was killed (not finished)."""
  process = subprocess.Popen([sys.executable, '-m', module, *flags, f'--workdir={workdir}'],
                             cwd=REPO_ROOT, env=subprocess_env(), stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
  deadline = time.time() + timeout
  while time.time() < deadline and process.poll() is None:
    if checkpoint_dir.exists() and any(d.isdigit() for d in os.listdir(checkpoint_dir)):
      break
    time.sleep(0.05)
  process.send_signal(signal.SIGKILL)
  process.wait()
  assert process.returncode == -signal.SIGKILL, 'the run finished before it could be killed'


def write_json(path: str, obj) -> None:
  """Writes ``obj`` as JSON to ``path``, making its directory."""
  os.makedirs(os.path.dirname(path), exist_ok=True)
  with open(path, 'w') as f:
    json.dump(obj, f)


# Gradient-domain images (poisson targets and solvers).

def cosine_field(height: int, width: int, channels: int = 1):
  """A band-limited field (DCT-II modes) with its exact gradient and Laplacian.

  Returns field (H, W, C), gradient (H, W, C, 2), Laplacian (H, W, C), float64.
  """
  coords = np.asarray(grids.make_grid(height, width), np.float64)
  y, x = (coords[..., 0] + 1) * np.pi / 2, (coords[..., 1] + 1) * np.pi / 2
  fs, gs, ls = [], [], []
  for c in range(channels):
    a, b = 1 + c, 3 - c
    f = np.cos(a * y) * np.cos(b * x) + 0.3 * np.cos((2 + c) * y)
    gy = -np.pi / 2 * (a * np.sin(a * y) * np.cos(b * x) + 0.3 * (2 + c) * np.sin((2 + c) * y))
    gx = -np.pi / 2 * b * np.cos(a * y) * np.sin(b * x)
    lap = -(np.pi / 2) ** 2 * ((a**2 + b**2) * np.cos(a * y) * np.cos(b * x) +
                                0.3 * (2 + c) ** 2 * np.cos((2 + c) * y))
    fs.append(f)
    gs.append(np.stack([gy, gx], axis=-1))
    ls.append(lap)
  return np.stack(fs, -1), np.stack(gs, 2), np.stack(ls, -1)


def smooth_image(size: int = 16, channels: int = 1) -> np.ndarray:
  """A smooth synthetic image in [-1, 1]: (size, size, channels) float32."""
  field, _, _ = cosine_field(size, size, channels)
  return (0.6 * field / np.abs(field).max()).astype(np.float32)


# Colourisation.

def random_grey(batch=2, side=16, seed=0):
  """(batch, side, side, 1) lightness uniform in [-1, 1]."""
  return jax.random.uniform(jax.random.PRNGKey(seed), (batch, side, side, 1), minval=-1, maxval=1)


def wavy_grey(h, w, seed=0):
  """A smooth grey photo (sin x cos waves plus a little noise), (h, w, 1) float64, ~[-1, 1]."""
  rng = np.random.default_rng(seed)
  y, x = np.mgrid[:h, :w]
  return (np.sin(y / 7.0) * np.cos(x / 11.0) * 0.8 + 0.1 * rng.normal(size=(h, w)))[..., None]


def colorize_variant(variant, **overrides):
  """experiments/configs/colorize.py's ``variant`` with ``overrides`` set."""
  # Imported here, not at the top, so that library tests never import the experiments.
  from experiments.configs import colorize as colorize_config  # noqa: PLC0415
  config = colorize_config.get_config(variant)
  config.update(overrides)
  return config


# The reproduction's workdir (experiments.reproduce).

def reproduce_claim(part, prefix):
  """The claim of ``part`` whose text starts with ``prefix``."""
  from experiments.reproduce import claims  # noqa: PLC0415
  return next(c for c in claims.CLAIMS if c.part == part and c.claim.startswith(prefix))


def _mark_finished(workdir, config, part):
  from experiments.reproduce import parts  # noqa: PLC0415
  from experiments.reproduce import run as reproduce_run  # noqa: PLC0415
  write_json(os.path.join(workdir, part, parts.RESULT_FILE),
             {'part': part, 'settings': reproduce_run.settings(config), 'seconds': 1.0})


def _history(psnr_at_500):
  return [{'step': 250, 'psnr': psnr_at_500 - 5.0}, {'step': 500, 'psnr': psnr_at_500}]


def _resize_photo(x4, x2):
  """metrics.json of one resize compare run; x4/x2 = (siren, bicubic, lanczos) PSNRs."""
  def methods(siren, bicubic, lanczos):
    return {'nearest': {'psnr': 20.0, 'ssim': 0.5}, 'bilinear': {'psnr': 21.0, 'ssim': 0.5},
            'bicubic': {'psnr': bicubic, 'ssim': 0.6}, 'lanczos': {'psnr': lanczos, 'ssim': 0.6},
            'siren': {'psnr': siren, 'ssim': 0.7}}
  return {'factors': {'x4': {'methods': methods(*x4)}, 'x2': {'methods': methods(*x2)}},
          'config': {'model': {'name': 'siren', 'hidden_features': 256}, 'image_size': 256,
                     'steps': 500}}


def write_synthetic_reproduction(workdir, config):
  """Every part finished, with the experiments' metrics files in their own layouts and numbers
  chosen by hand (see reproduce_report_test.py for the working)."""
  config.resize_images = 'a,b'
  for part in ('fit', 'reconstruct', 'merge', 'resize', 'colorize'):
    _mark_finished(workdir, config, part)
  write_json(os.path.join(workdir, 'fit', 'metrics.json'), {
      'image': 'camera', 'height': 256, 'width': 256, 'config': {'models': 'siren,relu,tanh'},
      'models': {'siren': {'psnr': 37.0, 'ssim': 0.96, 'seconds_per_step': 0.1,
                           'psnr_history': _history(36.5)},
                 'relu': {'psnr': 20.3, 'ssim': 0.5, 'seconds_per_step': 0.1, 'psnr_history': []},
                 'tanh': {'psnr': 13.8, 'ssim': 0.3, 'seconds_per_step': 0.1,
                          'psnr_history': []}}})
  for kind, psnrs, direct in (('grad', {'siren': 31.6, 'tanh': 25.0, 'relu_pe': 24.0}, 31.9),
                              ('laplacian', {'siren': 12.3, 'tanh': 9.0, 'relu_pe': 13.0}, 39.5)):
    for model, psnr in psnrs.items():
      write_json(os.path.join(workdir, 'reconstruct', f'{kind}_{model}', 'metrics.json'), {
          'config': {'colors': 'grey', 'model': {'name': model}},
          'results': {'grey': {model: {'psnr': psnr, 'steps': 500, 'psnr_history': []},
                               'direct': {'psnr': direct}, 'direct_stencil': {'psnr': 120.0}}}})
  write_json(os.path.join(workdir, 'merge', 'metrics.json'), {
      'image': 'camera', 'image_b': 'astronaut', 'config': {},
      'results': {'grey': {'mean': {'psnr_vs_direct': 35.1}}}})
  write_json(os.path.join(workdir, 'resize', 'a', 'metrics.json'),
             _resize_photo(x4=(25.0, 24.6, 24.8), x2=(28.0, 27.9, 28.3)))
  write_json(os.path.join(workdir, 'resize', 'b', 'metrics.json'),
             _resize_photo(x4=(23.0, 22.6, 22.6), x2=(27.0, 26.0, 27.1)))
  def stats(mean):
    return {'mean': mean, 'std': 0.5, 'n': 6}
  write_json(os.path.join(workdir, 'colorize', 'heldout.json'), {
      'folds': [['astronaut', 'rocket'], ['chelsea', 'coffee']],
      'config': {'heldout_seeds': 3, 'image_size': 32, 'model': {'width_scale': 0.25},
                 'epochs': 100, 'heldout_eval_side': 256},
      'summary': {
          'grey': {'rgb_psnr': stats(18.0), 'ab_psnr': stats(21.0)},
          'FR': {'rgb_psnr': stats(17.0), 'ab_psnr': stats(20.0),
                 'speedup_over_reference': stats(1.0)},
          'SRS': {'rgb_psnr': stats(18.5), 'ab_psnr': stats(19.0),
                  'speedup_over_reference': stats(3.1)},
          'S130': {'rgb_psnr': stats(17.5), 'ab_psnr': stats(19.5),
                   'speedup_over_reference': stats(0.8)}}})


# Learned resizing (siren_jax.sr).

# A learned-resize model small enough to compile and run in a test.
TINY_SR_SPEC = liif.Spec(encoder_features=8, encoder_blocks=1, decoder_hidden=16, decoder_layers=2)


def stripes(height, width):
  """uint8 (H, W, 3) oblique stripes, period ~4.5 pixels, a different phase per channel."""
  y, x = np.mgrid[0:height, 0:width].astype(np.float64)
  phase = 2 * np.pi * (0.18 * y + 0.11 * x)
  rgb = np.stack([np.sin(phase + k) for k in (0.0, 0.7, 1.9)], -1)
  return np.round((rgb * 0.8 + 1) * 127.5).astype(np.uint8)
