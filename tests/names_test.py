"""siren_jax.names: the names configs and the library share, in a module that imports nothing."""

import ast
import inspect

import jax
import jax.numpy as jnp
import pytest

from siren_jax import names, sharding
from siren_jax.colorize import colorizers


def test_names_module_imports_nothing():
  # Configs read these names without importing jax: the module itself must import nothing.
  tree = ast.parse(inspect.getsource(names))
  assert not [node for node in ast.walk(tree) if isinstance(node, (ast.Import, ast.ImportFrom))]


def test_the_names_are_the_papers_and_the_reports():
  # The paper's image-fitting comparison: SIREN, ReLU, tanh and ReLU with positional encoding;
  # the report's three conv schedules (full ReLU, sine + ReLU, sine for 130 epochs) and the FC
  # SIREN; replicated or output-split kernels on a mesh.
  assert names.FIELD_MODELS == ('siren', 'relu', 'tanh', 'relu_pe')
  assert names.COLORIZER_SCHEDULES == ('FR', 'SRS', 'S130')
  assert names.COLORIZER_MODELS == ('FR', 'SRS', 'S130', 'FC')
  assert names.PARAM_SHARDINGS == ('replicate', 'shard_kernels')


def test_every_colorizer_schedule_is_accepted_and_no_other():
  for schedule in names.COLORIZER_SCHEDULES:
    colorizers.check_colorizer_args(schedule, 'paper', 1.0, 30.0, 1.0 / 30.0)
  with pytest.raises(ValueError, match='unknown activation schedule'):
    colorizers.check_colorizer_args('FC', 'paper', 1.0, 30.0, 1.0 / 30.0)  # FC is no schedule.


def test_every_param_sharding_is_accepted_by_state_shardings():
  mesh = sharding.make_mesh(jax.devices()[:1])
  for mode in names.PARAM_SHARDINGS:
    sharding.state_shardings({'kernel': jnp.zeros((4, 4))}, mesh, mode)
