"""siren_jax.poisson (the package): the public names of ``targets`` and ``solvers`` are also
importable from it, as the same objects."""

import inspect

import pytest

from siren_jax import poisson
from siren_jax.poisson import solvers, targets


def _public(module):
  """The module's own public functions and UPPER_CASE constants (not what it imports)."""
  return {name for name, value in vars(module).items() if not name.startswith('_') and (
      (inspect.isfunction(value) and value.__module__ == module.__name__) or name.isupper())}


def test_all_lists_exactly_the_public_names_of_targets_and_solvers():
  assert len(poisson.__all__) == len(set(poisson.__all__))
  assert set(poisson.__all__) == _public(targets) | _public(solvers)
  assert 'gradient_loss' in poisson.__all__ and 'solve_from_gradient' in poisson.__all__


@pytest.mark.parametrize('module', [targets, solvers])
def test_each_name_is_the_object_in_its_module(module):
  for name in _public(module):
    assert getattr(poisson, name) is getattr(module, name), name
