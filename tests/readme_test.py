"""The README's code examples run as written."""

import os
import re

import jax

from tests.helpers import REPO_ROOT


def _python_blocks():
  with open(os.path.join(REPO_ROOT, 'README.md')) as f:
    return re.findall(r'```python\n(.*?)```', f.read(), flags=re.S)


def test_layer_import_example_runs_and_gives_a_laplacian():
  blocks = _python_blocks()
  assert blocks, 'README has no python example'
  namespace = {}
  exec(compile(blocks[0], 'README.md', 'exec'), namespace)  # pylint: disable=exec-used
  assert namespace['laplacian'].shape == (1024, 1)
  assert bool(jax.numpy.isfinite(namespace['laplacian']).all())
  assert len(blocks[0].strip().splitlines()) <= 12
