"""The package builds as a wheel, installs into a fresh virtual environment outside the checkout,
and its public API imports and runs from there (not from this checkout)."""

import subprocess

import pytest

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


@pytest.mark.slow  # ~20-40 s to build and install the wheel (installed_wheel: once per process).
def test_wheel_installs_in_a_fresh_venv_and_the_public_api_runs(installed_wheel, tmp_path):
  import json  # pylint: disable=import-outside-toplevel
  venv, python, env = installed_wheel.venv, installed_wheel.python, installed_wheel.env
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
