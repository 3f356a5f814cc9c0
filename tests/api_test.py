"""The top-level public API: light import, every name resolves, docs/api.md is current."""

import ast
import importlib
import os
import re
import subprocess
import sys

import pytest

import siren_jax
from tests.helpers import REPO_ROOT, subprocess_env
from tools import gen_api_docs

HEAVY = ('matplotlib', 'orbax', 'tensorboardX')


def _run_python(code: str) -> str:
  env = subprocess_env()
  result = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True,
                          env=env, cwd=REPO_ROOT, timeout=120, check=False)
  assert result.returncode == 0, result.stderr
  return result.stdout


def test_bare_import_is_fast_and_loads_no_jax():
  out = _run_python(
      'import sys, time\n'
      't = time.perf_counter()\n'
      'import siren_jax\n'
      'print(time.perf_counter() - t)\n'
      "print(sorted(m for m in sys.modules if m.split('.')[0] in "
      "('jax', 'flax', 'matplotlib', 'orbax', 'tensorboardX', 'optax')))\n")
  seconds, loaded = out.splitlines()
  assert loaded == '[]'
  assert float(seconds) < 1.0


def test_whole_public_api_imports_no_plotting_checkpointing_or_tensorboard():
  out = _run_python(
      'import sys\n'
      'from siren_jax import *\n'
      'import siren_jax\n'
      "assert siren_jax.NnxSiren.__module__ == 'siren_jax.nnx_layers'\n"
      'print(sorted({m.split(".")[0] for m in sys.modules}))\n')
  top_level = set(ast.literal_eval(out.strip()))
  assert {'jax', 'flax'} <= top_level  # The imports really happened...
  assert not top_level & set(HEAVY)  # ...without the heavy ones.


@pytest.mark.parametrize('name', list(siren_jax._EXPORTS))  # pylint: disable=protected-access
def test_every_public_name_is_the_object_in_its_module(name):
  module_name, attribute = siren_jax._source(name)  # pylint: disable=protected-access
  assert getattr(siren_jax, name) is getattr(importlib.import_module(module_name), attribute)
  assert name in siren_jax.__all__ and name in dir(siren_jax)


def test_unknown_names_raise_attribute_error_and_submodules_still_import():
  with pytest.raises(AttributeError, match='no attribute'):
    siren_jax.not_a_name  # pylint: disable=pointless-statement
  from siren_jax import diffops  # pylint: disable=import-outside-toplevel
  assert diffops.laplacian is siren_jax.laplacian


def test_type_checking_imports_list_exactly_the_exports():
  """The TYPE_CHECKING block (what pyright/mypy/IDEs see) names the same objects as _EXPORTS."""
  with open(os.path.join(REPO_ROOT, 'siren_jax', '__init__.py')) as f:
    tree = ast.parse(f.read())
  block = next(node for node in tree.body
               if isinstance(node, ast.If) and ast.unparse(node.test) == 'TYPE_CHECKING')
  seen = {}
  for node in block.body:
    assert isinstance(node, ast.ImportFrom)
    for alias in node.names:
      seen[alias.asname or alias.name] = f'{node.module}:{alias.name}'
  expected = {name: ':'.join(siren_jax._source(name))  # pylint: disable=protected-access
              for name in siren_jax._EXPORTS}  # pylint: disable=protected-access
  assert seen == expected


def test_version_is_single_sourced_in_setup_py():
  with open(os.path.join(REPO_ROOT, 'setup.py')) as f:
    assert siren_jax.__version__ not in f.read()  # setup.py reads the version, never repeats it.
  result = subprocess.run([sys.executable, 'setup.py', '--version'], capture_output=True,
                          text=True, cwd=REPO_ROOT, timeout=120, check=True)
  assert result.stdout.strip().splitlines()[-1] == siren_jax.__version__
  assert re.fullmatch(r'\d+\.\d+\.\d+', siren_jax.__version__)


def test_api_docs_page_is_current():
  with open(gen_api_docs.API_PAGE) as f:
    assert f.read() == gen_api_docs.render(), (
        'docs/api.md is stale: run python -m tools.gen_api_docs')


def test_api_docs_check_mode_fails_on_a_stale_page(tmp_path, monkeypatch):
  stale = tmp_path / 'api.md'
  stale.write_text(gen_api_docs.render().replace('Laplacian', 'Laplace'))
  monkeypatch.setattr(gen_api_docs, 'API_PAGE', stale)
  assert gen_api_docs.main(['--check']) == 1
  stale.write_text(gen_api_docs.render())
  assert gen_api_docs.main(['--check']) == 0
