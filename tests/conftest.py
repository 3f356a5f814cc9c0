"""Shared pytest setup: run from the repository root, on one CPU device, quietly; the session
fixtures. Helpers that tests import are in helpers.py."""

import os
import tempfile

# Before JAX starts (pytest.ini puts the repository root on sys.path for the imports below).
os.environ.setdefault('JAX_PLATFORMS', 'cpu')

import jax  # noqa: E402
import pytest  # noqa: E402

from siren_jax import images  # noqa: E402
from tests.helpers import TINY_SR_SPEC, fit_small_siren, install_wheel  # noqa: E402

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


@pytest.fixture(scope='session', autouse=True)
def _temporary_files_under_basetemp(tmp_path_factory):
  """This process's temporary files (``tempfile``) go under pytest's temporary directory,
  which pytest prunes: tfds makes an empty directory for every builder of a dataset not built
  yet and never removes it (the tests' own tfds builders), and nothing a test leaves in
  ``tempfile``'s directory should outlive the run."""
  previous, tempfile.tempdir = tempfile.tempdir, str(tmp_path_factory.mktemp('tempfile'))
  yield
  tempfile.tempdir = previous


@pytest.fixture(scope='session')
def camera32():
  """The 32x32 grey cameraman in [-1, 1]."""
  return images.load_image('camera', mode='grey', size=32)


@pytest.fixture(scope='session')
def camera32_fit(camera32):
  """SMALL_SIREN fitted 100 steps to ``camera32`` (~25 dB)."""
  return fit_small_siren(camera32, steps=100)


@pytest.fixture(scope='session')
def installed_wheel(tmp_path_factory):
  """siren_jax's wheel installed in a fresh virtual environment (``helpers.install_wheel``),
  built once per test process; the slow tests that run the installed package share it."""
  return install_wheel(tmp_path_factory.mktemp('wheel'))


# A learned-resize model (siren_jax.sr) and its file, for the sr_* tests.

@pytest.fixture(scope='module')
def sr_params():
  from siren_jax.sr import liif  # noqa: PLC0415  Only the tests that ask load it.
  return liif.init_params(TINY_SR_SPEC, jax.random.PRNGKey(0))


@pytest.fixture(scope='module')
def sr_model_path(tmp_path_factory, sr_params):
  from siren_jax.sr import model_file  # noqa: PLC0415
  path = str(tmp_path_factory.mktemp('model') / 'model.sr')
  model_file.save(path, sr_params, TINY_SR_SPEC, extra={'steps': 0})
  return path
