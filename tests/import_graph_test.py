"""The project's import graph, from an AST walk over every .py file of the repository.

The library never reaches up (no module of ``siren_jax/`` imports ``experiments``, ``bench``,
``tools`` or ``tests``); no import cycles among the project's modules, function-level imports
included; configs are data: ``experiments/configs/*.py`` import only ``ml_collections``, the
standard library, each other and name modules that import nothing (so reading a config never
starts JAX).
"""

from __future__ import annotations

import ast
import os
import sys

import pytest

from tests.helpers import REPO_ROOT

PACKAGES = ('siren_jax', 'experiments', 'bench', 'tools', 'tests')
SKIPPED_DIRS = {'.git', 'build', 'dist', '__pycache__', '.venv', 'venv'}


def _python_files() -> dict[str, str]:
  """Dotted module name -> path, for every .py file of the repository's packages and root."""
  modules = {}
  for directory, subdirs, files in os.walk(REPO_ROOT):
    subdirs[:] = sorted(d for d in subdirs
                        if d not in SKIPPED_DIRS and not d.endswith('.egg-info'))
    for name in files:
      if not name.endswith('.py'):
        continue
      path = os.path.join(directory, name)
      parts = os.path.relpath(path, REPO_ROOT)[:-3].split(os.sep)
      if parts[0] not in PACKAGES and len(parts) > 1:
        continue  # Not the project's code (e.g. a virtual environment in the checkout).
      if parts[-1] == '__init__':
        parts = parts[:-1]
      modules['.'.join(parts)] = path
  return modules


MODULES = _python_files()


def _is_type_checking(node: ast.If) -> bool:
  return ast.unparse(node.test) in ('TYPE_CHECKING', 'typing.TYPE_CHECKING')


def _imports(path: str, module: str, runtime_only: bool = False) -> list[tuple[str, int]]:
  """(imported module, line) for every import of the file, function-level ones included; with
  ``runtime_only``, not those under ``if TYPE_CHECKING:``. ``from P import X`` names module P.X
  when that is a module of the project, else P."""
  with open(path) as f:
    tree = ast.parse(f.read(), path)
  is_package = os.path.basename(path) == '__init__.py'
  found = []

  def visit(node):
    if runtime_only and isinstance(node, ast.If) and _is_type_checking(node):
      for child in node.orelse:
        visit(child)
      return
    if isinstance(node, ast.Import):
      found.extend((alias.name, node.lineno) for alias in node.names)
    elif isinstance(node, ast.ImportFrom):
      base = node.module or ''
      if node.level:  # Relative: resolved against this module's package.
        package = module.split('.') if is_package else module.split('.')[:-1]
        package = package[:len(package) - node.level + 1]
        base = '.'.join(package + ([base] if base else []))
      for alias in node.names:
        name = f'{base}.{alias.name}'
        found.append((name if name in MODULES else base, node.lineno))
    for child in ast.iter_child_nodes(node):
      visit(child)

  visit(tree)
  return found


def _project_module(name: str) -> str | None:
  """The project module an import executes (the longest known prefix), or None if external."""
  parts = name.split('.')
  for end in range(len(parts), 0, -1):
    if '.'.join(parts[:end]) in MODULES:
      return '.'.join(parts[:end])
  return None


def _graph() -> dict[str, set[str]]:
  graph = {}
  for module, path in MODULES.items():
    targets = {_project_module(name) for name, _ in _imports(path, module)}
    graph[module] = {t for t in targets if t is not None and t != module}
  return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
  """One cycle (a -> ... -> a) per strongly connected component of more than one module."""
  index, low, stack, on_stack, components = {}, {}, [], set(), []

  def connect(v):  # Tarjan's algorithm.
    index[v] = low[v] = len(index)
    stack.append(v)
    on_stack.add(v)
    for w in sorted(graph[v]):
      if w not in index:
        connect(w)
        low[v] = min(low[v], low[w])
      elif w in on_stack:
        low[v] = min(low[v], index[w])
    if low[v] == index[v]:
      component = []
      while True:
        w = stack.pop()
        on_stack.discard(w)
        component.append(w)
        if w == v:
          break
      if len(component) > 1:
        components.append(set(component))

  limit = sys.getrecursionlimit()
  sys.setrecursionlimit(max(limit, 10 * len(graph)))
  try:
    for v in sorted(graph):
      if v not in index:
        connect(v)
  finally:
    sys.setrecursionlimit(limit)
  cycles = []
  for component in components:
    start = min(component)
    path, seen = [start], {start}
    while True:  # Walk inside the component until a module repeats.
      step = min(w for w in graph[path[-1]] if w in component)
      if step in seen:
        cycles.append(path[path.index(step):] + [step])
        break
      path.append(step)
      seen.add(step)
  return cycles


def test_the_walk_sees_every_package_and_resolves_imports():
  # The checks below are only as good as the walk: it must find the known modules and edges.
  for module in ('siren_jax', 'siren_jax.poisson.solvers', 'siren_jax.models.fields',
                 'experiments.configs.common', 'experiments.poisson.train', 'bench.common',
                 'tools.mutation', 'tests.helpers'):
    assert module in MODULES, module
  graph = _graph()
  assert 'siren_jax.names' in graph['siren_jax.sharding']  # from siren_jax import names
  assert 'siren_jax.poisson.solvers' in graph['siren_jax.poisson']  # from ... import (...)
  assert 'experiments.configs.common' in graph['experiments.configs.poisson']


def test_the_cycle_finder_names_a_cycle():
  graph = {'a': {'b'}, 'b': {'c'}, 'c': {'a', 'd'}, 'd': set(), 'e': {'e', 'd'}}
  assert _cycles(graph) == [['a', 'b', 'c', 'a']]
  assert _cycles({'a': {'b'}, 'b': set()}) == []


@pytest.mark.parametrize('module', sorted(m for m in MODULES if m.split('.')[0] == 'siren_jax'))
def test_the_library_never_imports_experiments_bench_tools_or_tests(module):
  upward = [f'{MODULES[module]}:{line} imports {name}'
            for name, line in _imports(MODULES[module], module)
            if name.split('.')[0] in ('experiments', 'bench', 'tools', 'tests')]
  assert not upward, '\n'.join(upward)


def test_no_import_cycles_among_the_projects_modules():
  cycles = _cycles(_graph())
  assert not cycles, 'import cycles:\n' + '\n'.join(' -> '.join(c) for c in cycles)


def _runtime_imports_outside_stdlib(module: str) -> list[str]:
  return [name for name, _ in _imports(MODULES[module], module, runtime_only=True)
          if name.split('.')[0] not in sys.stdlib_module_names and name != '__future__']


CONFIGS = sorted(m for m in MODULES if m.startswith('experiments.configs.'))


@pytest.mark.parametrize('config', CONFIGS)
def test_configs_import_only_ml_collections_the_standard_library_and_name_modules(config):
  bad = []
  for name, line in _imports(MODULES[config], config):
    top = name.split('.')[0]
    if top in sys.stdlib_module_names or top == 'ml_collections' or name == '__future__':
      continue
    if name in CONFIGS:
      continue  # Held to this same rule by its own case.
    target = _project_module(name)
    if target is None:
      bad.append(f'line {line}: {name} (a third-party package)')
      continue
    # A name module imports nothing; the packages it sits in import only the standard library
    # when run (their TYPE_CHECKING imports are for type checkers only).
    if _imports(MODULES[target], target):
      bad.append(f'line {line}: {name} (imports {_imports(MODULES[target], target)[0][0]})')
    parts = target.split('.')
    for end in range(1, len(parts)):
      package = '.'.join(parts[:end])
      if package in MODULES and _runtime_imports_outside_stdlib(package):
        bad.append(f'line {line}: {name} (its package {package} imports '
                   f'{_runtime_imports_outside_stdlib(package)[0]})')
  for end in range(1, len(config.split('.'))):
    package = '.'.join(config.split('.')[:end])
    if _runtime_imports_outside_stdlib(package):
      bad.append(f'its package {package} imports {_runtime_imports_outside_stdlib(package)[0]}')
  assert not bad, f'{MODULES[config]}:\n' + '\n'.join(bad)
