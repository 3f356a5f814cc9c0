"""mypy passes on the library (config: mypy.ini) and sees the public API's types through the
lazy top level."""

import os
import subprocess
import sys

import pytest

from tests.helpers import REPO_ROOT


def _mypy(*args: str) -> subprocess.CompletedProcess:
  return subprocess.run([sys.executable, '-m', 'mypy', *args], capture_output=True, text=True,
                        cwd=REPO_ROOT, timeout=600, check=False)


@pytest.mark.slow  # ~1 min cold on 2 cores; seconds with the .mypy_cache of an earlier run.
def test_mypy_passes_on_the_library():
  result = _mypy()
  assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.slow
def test_mypy_sees_public_types_through_the_top_level(tmp_path):
  user_code = tmp_path / 'user_code.py'
  user_code.write_text(
      'import jax\n'
      'from siren_jax import NnxSiren, psnr, siren_init\n'
      'params = siren_init(jax.random.PRNGKey(0), [2, 8, 1])\n'
      'db: str = psnr(1.0, 1.0)\n'  # psnr returns a jax.Array: mypy must reject this line.
      'NnxSiren(2, rngs=None)\n')  # rngs must be an nnx.Rngs.
  result = _mypy('--config-file', os.path.join(REPO_ROOT, 'mypy.ini'), str(user_code))
  assert result.returncode == 1, result.stdout
  errors = [line for line in result.stdout.splitlines() if ': error:' in line]
  assert len(errors) == 2, result.stdout
  assert 'user_code.py:4:' in errors[0] and 'Array' in errors[0]
  assert 'user_code.py:5:' in errors[1] and 'Rngs' in errors[1]
