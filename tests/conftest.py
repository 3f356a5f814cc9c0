"""Shared pytest setup: run from the repository root, on one CPU device, quietly."""

import os
import sys

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if REPO_ROOT not in sys.path:
  sys.path.insert(0, REPO_ROOT)
os.environ.setdefault('JAX_PLATFORMS', 'cpu')


import jax  # noqa: E402
import numpy as np  # noqa: E402
import optax  # noqa: E402
import pytest  # noqa: E402

from siren_jax import fitting, grids, images, training  # noqa: E402
from siren_jax.models import fields  # noqa: E402

# XLA on GPU and TPU multiplies float32 at TF32/bfloat16 precision unless asked otherwise (errors
# ~1e-3 that SIREN's omega0 = 30 amplifies: on an H200, 12 tests comparing with NumPy, float64 or
# one-shot evaluation failed by up to 4e-3 and passed with this). The references are exact to
# float32, so the suite asks for full float32 on every backend; XLA:CPU computes float32 anyway.
# bench/fit_step.py measures the default-precision path on accelerators.
jax.config.update('jax_default_matmul_precision', 'highest')

# The test programs are tiny, so compiling them costs more than running them; XLA's expensive
# optimisation passes off cut the default run from 594 s to 452 s on a 2-core CPU with the same
# results (every test passes either way). The library itself is unaffected: this is the test
# process only, and subprocess tests run with XLA's defaults. SIREN_JAX_TEST_XLA_OPTIMIZE=1 keeps
# the passes on (to check the suite under the compiler settings users get).
if os.environ.get('SIREN_JAX_TEST_XLA_OPTIMIZE') != '1':
  jax.config.update('jax_disable_most_optimizations', True)

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


@pytest.fixture(scope='session')
def camera32():
  """The 32x32 grey cameraman in [-1, 1]."""
  return images.load_image('camera', mode='grey', size=32)


@pytest.fixture(scope='session')
def camera32_fit(camera32):
  """SMALL_SIREN fitted 100 steps to ``camera32`` (~25 dB)."""
  return fit_small_siren(camera32, steps=100)


def subprocess_env(**extra: str) -> dict[str, str]:
  """``os.environ`` for a child ``python -m ...`` run from REPO_ROOT on the CPU: the repository
  first on PYTHONPATH, with what PYTHONPATH already held kept behind it (packages installed with
  ``pip --target``, say), and ``extra`` on top."""
  path = os.pathsep.join(p for p in (REPO_ROOT, os.environ.get('PYTHONPATH', '')) if p)
  return {**os.environ, 'JAX_PLATFORMS': 'cpu', 'PYTHONPATH': path, **extra}


def kill_after_first_checkpoint(module: str, flags: list[str], workdir, checkpoint_dir,
                                timeout: float = 240.0) -> None:
  """Starts ``python -m module *flags --workdir=workdir``, SIGKILLs it as soon as a checkpoint
  step directory appears in ``checkpoint_dir``, and asserts it was killed (not finished)."""
  import signal  # noqa: PLC0415
  import subprocess  # noqa: PLC0415
  import time  # noqa: PLC0415
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
