"""The package builds as a wheel, installs into a fresh virtual environment outside the checkout,
and its public API imports and runs from there (not from this checkout)."""

import os
import shutil
import subprocess
import sys

import pytest

from tests.helpers import REPO_ROOT

# What a source distribution needs to build the wheel; copied so the build cannot see the rest
# of the checkout (experiments/, tests/) nor write build/ and *.egg-info into it.
BUILD_INPUTS = ('setup.py', 'README.md', 'LICENSE', 'siren_jax')

SMOKE = r'''
import importlib.metadata, json, os, sys
import jax, jax.numpy as jnp
import siren_jax
from flax import nnx
from siren_jax import (NnxSiren, Siren, laplacian, list_params_to_flax, make_grid, psnr,
                       siren_apply, siren_init)
coords = make_grid(4, 4).reshape(-1, 2)
params = siren_init(jax.random.PRNGKey(0), [2, 16, 16, 1])
pure = siren_apply(params, coords)
linen = Siren(hidden_features=16, hidden_layers=1).apply({'params': list_params_to_flax(params)},
                                                         coords)
nnx_model = NnxSiren(2, 1, 16, 1, rngs=nnx.Rngs(0))
meta = importlib.metadata.metadata('siren_jax')
print(json.dumps({
    'file': siren_jax.__file__, 'version': siren_jax.__version__,
    'dist_version': importlib.metadata.version('siren_jax'),
    'license': meta['License'], 'requires_python': meta['Requires-Python'],
    'py_typed': os.path.exists(os.path.join(os.path.dirname(siren_jax.__file__), 'py.typed')),
    'has_tests': os.path.exists(os.path.join(os.path.dirname(siren_jax.__file__), '..', 'tests')),
    'linen_matches_pure': bool(jnp.allclose(linen, pure, atol=1e-6)),
    'laplacian_shape': list(laplacian(nnx_model, coords).shape),
    'psnr_self': float(psnr(pure, pure)),
}))
'''


@pytest.mark.slow  # ~20-40 s: builds the wheel (pip fetches setuptools for the isolated build).
def test_wheel_installs_in_a_fresh_venv_and_the_public_api_runs(tmp_path):
  import json  # pylint: disable=import-outside-toplevel
  source = tmp_path / 'source'
  for name in BUILD_INPUTS:
    src = os.path.join(REPO_ROOT, name)
    if os.path.isdir(src):
      shutil.copytree(src, source / name, ignore=shutil.ignore_patterns('__pycache__'))
    else:
      source.mkdir(exist_ok=True)
      shutil.copy(src, source / name)
  wheels = tmp_path / 'wheels'
  subprocess.run([sys.executable, '-m', 'pip', 'wheel', '--no-deps', '--quiet', '-w',
                  str(wheels), str(source)], check=True, timeout=600)
  (wheel,) = wheels.glob('siren_jax-*-py3-none-any.whl')

  # --system-site-packages reuses the installed jax/flax (no download); the wheel goes into the
  # venv's own site-packages, which precede the system ones (and the checkout's editable finder).
  venv = tmp_path / 'venv'
  subprocess.run([sys.executable, '-m', 'venv', '--system-site-packages', '--without-pip',
                  str(venv)], check=True, timeout=120)
  python = str(venv / 'bin' / 'python')
  subprocess.run([python, '-m', 'pip', 'install', '--quiet', '--no-deps', '--no-index',
                  '--ignore-installed', str(wheel)], check=True, timeout=300)
  env = {k: v for k, v in os.environ.items() if k not in ('PYTHONPATH', 'PYTHONHOME')}
  result = subprocess.run([python, '-c', SMOKE], capture_output=True, text=True, check=False,
                          cwd=str(tmp_path), env=env, timeout=300)
  assert result.returncode == 0, result.stderr
  report = json.loads(result.stdout.strip().splitlines()[-1])
  assert report['file'].startswith(str(venv)), report['file']  # The wheel, not the checkout.
  assert not report['has_tests']
  assert report['version'] == report['dist_version']
  assert report['license'] == 'Apache-2.0' and report['requires_python'] == '>=3.10'
  assert report['py_typed']
  assert report['linen_matches_pure'] and report['laplacian_shape'] == [16, 1]
  assert report['psnr_self'] > 100  # Identical images: the 1e-20 MSE floor, 200 dB.
