"""The README is the overview: its "What is where" table names every module of siren_jax/ and
experiments/ (and nothing that does not exist), and it links every page of docs/."""

import os
import re

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PACKAGES = ('siren_jax', 'experiments')


def _table_paths() -> set[str]:
  """The backquoted paths in the first column of the table under "## What is where"."""
  with open(os.path.join(REPO_ROOT, 'README.md'), encoding='utf-8') as f:
    text = f.read()
  section = re.search(r'^## What is where\n(.*?)(?=^#)', text, flags=re.S | re.M)
  assert section, 'README has no "## What is where" section'
  paths = set()
  for line in section.group(1).splitlines():
    cells = line.split('|')
    if line.startswith('|') and len(cells) > 2:
      paths.update(re.findall(r'`([^`]+)`', cells[1]))
  return paths


def _modules() -> list[str]:
  """Every .py file under the packages, as a repository-relative path with '/' separators."""
  modules = []
  for package in PACKAGES:
    for root, dirs, files in os.walk(os.path.join(REPO_ROOT, package)):
      dirs[:] = [d for d in dirs if d != '__pycache__']
      for name in files:
        if name.endswith('.py'):
          path = os.path.relpath(os.path.join(root, name), REPO_ROOT)
          modules.append(path.replace(os.sep, '/'))
  return sorted(modules)


def _listed(module: str, table: set[str]) -> bool:
  """A module is listed by its path; a package's __init__.py also by its folder ('pkg/')."""
  if module in table:
    return True
  folder, name = module.rsplit('/', 1)
  return name == '__init__.py' and folder + '/' in table


def test_every_library_and_experiment_module_is_in_the_table():
  table = _table_paths()
  missing = [m for m in _modules() if not _listed(m, table)]
  assert not missing, ('README "What is where" does not list these modules; add a row '
                       f'(`path` | one job) for each: {missing}')


def test_every_path_in_the_table_exists():
  stale = [p for p in _table_paths() if not os.path.exists(os.path.join(REPO_ROOT, p))]
  assert not stale, f'README "What is where" names paths that do not exist: {stale}'


def test_every_docs_page_is_linked_from_the_readme():
  with open(os.path.join(REPO_ROOT, 'README.md'), encoding='utf-8') as f:
    links = set(re.findall(r'\]\((docs/[^)#\s]+)', f.read()))
  pages = {f'docs/{name}' for name in os.listdir(os.path.join(REPO_ROOT, 'docs'))
           if name.endswith('.md')}
  assert pages - links == set(), f'README links none of these docs pages: {sorted(pages - links)}'


def test_the_walk_and_the_table_parser_see_known_entries():
  # Independent of the walk: files this test knows exist, and rows the table has always had.
  modules = _modules()
  assert 'siren_jax/layers.py' in modules and 'experiments/poisson/__main__.py' in modules
  table = _table_paths()
  assert {'siren_jax/layers.py', 'bench/', 'launch/'} <= table
  assert _listed('experiments/__init__.py', {'experiments/'})
  assert not _listed('experiments/driver.py', {'experiments/'})
