"""Citable and versioned: CITATION.cff names this version and the SIREN paper, constraints.txt
pins every declared dependency within setup.py's bounds, pytest shows the deprecations of jax,
flax, optax and orbax."""

from __future__ import annotations

import configparser
import os
import re
import warnings

import yaml

import siren_jax
from tools import constraints

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _read(name: str) -> str:
  with open(os.path.join(REPO_ROOT, name), encoding='utf-8') as f:
    return f.read()


def test_citation_names_this_version_and_cites_the_siren_paper_and_the_report():
  citation = yaml.safe_load(_read('CITATION.cff'))
  assert citation['cff-version'] == '1.2.0' and citation['type'] == 'software'
  assert citation['version'] == siren_jax.__version__ == '0.2.0'
  assert citation['license'] == 'Apache-2.0' and citation['authors']
  paper, report = citation['references'][:2]
  assert paper['url'] == 'https://arxiv.org/abs/2006.09661' and paper['year'] == 2020
  assert [a['family-names'] for a in paper['authors']][0] == 'Sitzmann'
  assert report['type'] == 'report' and report['authors']


def test_constraints_pin_every_declared_dependency_within_setup_py_bounds():
  pins = {}
  for line in _read('constraints.txt').splitlines():
    if line and not line.startswith('#'):
      name, version = line.split('==')
      pins[re.sub(r'[-_.]+', '-', name).lower()] = version
  not_installed = re.search(r'not pinned: (.*)\.', _read('constraints.txt'))
  allowed_missing = set(not_installed.group(1).split(', ')) if not_installed else set()
  for requirement in constraints.declared():
    key = re.sub(r'[-_.]+', '-', requirement.name).lower()
    if requirement.name in allowed_missing:
      continue
    assert key in pins, requirement.name
    assert requirement.specifier.contains(pins[key], prereleases=True), (requirement, pins[key])


def _filters() -> list[str]:
  config = configparser.ConfigParser()
  config.read(os.path.join(REPO_ROOT, 'pytest.ini'))
  return [f for f in config['pytest']['filterwarnings'].splitlines() if f.strip()]


def _shown(module: str) -> bool:
  """Whether pytest.ini's filters show a DeprecationWarning attributed to ``module``."""
  with warnings.catch_warnings(record=True) as caught:
    warnings.resetwarnings()
    for line in _filters():  # As pytest applies them: later lines take precedence.
      action, _, category, module_regex = (line.strip().split(':') + [''] * 4)[:4]
      categories = {'DeprecationWarning': DeprecationWarning,
                    'PendingDeprecationWarning': PendingDeprecationWarning}
      warnings.filterwarnings(action, category=categories[category], module=module_regex)
    warnings.warn_explicit('old API', DeprecationWarning, 'x.py', 1, module=module)
  return bool(caught)


def test_pytest_shows_the_deprecations_of_jax_flax_optax_orbax_and_hides_the_rest():
  for module in ('jax._src.deprecations', 'flax.nnx.statelib', 'optax._src.alias',
                 'orbax.checkpoint.checkpoint_manager', 'jaxlib.xla_client',
                 'siren_jax.training', 'experiments.driver'):
    assert _shown(module), module
  for module in ('tensorflow_datasets.core', 'google.protobuf', 'jaxtyping', 'absl.flags'):
    assert not _shown(module), module
