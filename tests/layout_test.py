"""Where tests live (the rule is in tests/helpers.py): every library module has its
``<name>_test.py``, and every test file is named after a module or is a cross-cutting test."""

import ast
import os

from tests.helpers import REPO_ROOT

# Tests named for what they cover rather than after one module.
CROSS_CUTTING = ('api', 'bench', 'docs_commands', 'entry_points', 'failures', 'gcs_workdir',
                 'import_graph', 'large_image', 'launch', 'layout', 'learned_init', 'precision', 'properties',
                 'readme', 'readme_modules', 'reference_preparation', 'release',
                 'repository_paths', 'scale_out', 'torch_fidelity', 'typecheck',
                 'using_siren_jax', 'wheel')


def _modules(package: str) -> dict[str, str]:
  """Test-file stem -> path for every module of ``package``: the path below it, '/' as '_'
  (a package's __init__.py: the package's path)."""
  stems = {}
  root = os.path.join(REPO_ROOT, package)
  for directory, subdirs, files in os.walk(root):
    subdirs[:] = [d for d in subdirs if d != '__pycache__']
    for name in files:
      if name.endswith('.py'):
        parts = os.path.relpath(os.path.join(directory, name), root)[:-3].split(os.sep)
        if parts[-1] in ('__init__', '__main__'):
          parts = parts[:-1]
        stems['_'.join(parts)] = os.path.join(directory, name)
  return stems


def _has_code(path: str) -> bool:
  """Anything besides a docstring (a package __init__.py may hold only its description)."""
  with open(path) as f:
    body = ast.parse(f.read()).body
  return any(not (isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant))
             for node in body)


def _test_files() -> set[str]:
  return {name[:-len('_test.py')] for name in os.listdir(os.path.join(REPO_ROOT, 'tests'))
          if name.endswith('_test.py')}


def test_every_library_module_has_its_test_file():
  missing = [f'{os.path.relpath(path, REPO_ROOT)}: tests/{stem or "api"}_test.py'
             for stem, path in sorted(_modules('siren_jax').items())
             if _has_code(path) and (stem or 'api') not in _test_files()]
  assert not missing, 'modules without a test file:\n' + '\n'.join(missing)


def test_every_test_file_is_named_after_a_module_or_is_cross_cutting():
  known = set(_modules('siren_jax')) | set(_modules('experiments')) | set(CROSS_CUTTING)
  strays = sorted(_test_files() - known)
  assert not strays, ('test files named after no module of siren_jax/ or experiments/ (fold '
                      'them into their module\'s file, or add a cross-cutting name): '
                      + ', '.join(f'{s}_test.py' for s in strays))
