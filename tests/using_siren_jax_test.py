"""docs/using_siren_jax.md runs as written: conversions, and a conv stem + SIREN head trained
with nnx.jit / jax.jit and optax, whose Laplacian matches finite differences."""

import os
import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest

PAGE = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), 'docs',
                    'using_siren_jax.md')


def _python_blocks():
  with open(PAGE) as f:
    return re.findall(r'```python\n(.*?)```', f.read(), flags=re.S)


def _run(index):
  namespace = {'__name__': 'using_siren_jax'}
  exec(compile(_python_blocks()[index], PAGE, 'exec'), namespace)  # pylint: disable=exec-used
  return namespace


def _finite_difference_laplacian(field, coords, h=3e-3):
  """Sum over axes of (f(x + h e) - 2 f(x) + f(x - h e)) / h^2: an independent reference."""
  f = jax.vmap(field)
  total = -2.0 * coords.shape[-1] * f(coords)
  for axis in range(coords.shape[-1]):
    step = h * jnp.eye(coords.shape[-1])[axis]
    total = total + f(coords + step) + f(coords - step)
  return total / h**2


def test_page_has_the_three_examples_and_uses_only_the_public_api():
  blocks = _python_blocks()
  assert len(blocks) == 3
  for block in blocks:
    assert not re.search(r'siren_jax\.\w+', block), 'examples import from the top level only'


@pytest.mark.slow  # ~30 s on the loaded 2-core machine (first flax.nnx import, eager compiles).
def test_conversion_example_gives_one_function_in_three_forms():
  ns = _run(0)
  np.testing.assert_allclose(ns['y_linen'], ns['y_pure'], rtol=1e-5, atol=1e-6)
  x = jax.random.uniform(jax.random.PRNGKey(1), (7, 2), minval=-1, maxval=1)
  np.testing.assert_allclose(ns['nnx_model'](x), ns['siren_apply'](ns['params'], x),
                             rtol=1e-5, atol=1e-6)


@pytest.mark.slow  # 15-40 s each on the loaded 2-core machine (mostly compilation).
@pytest.mark.parametrize('index, prefix', [(1, 'nnx'), (2, 'linen')])
def test_conv_siren_head_trains_and_its_laplacian_matches_finite_differences(index, prefix):
  ns = _run(index)
  losses = ns[f'{prefix}_losses']
  assert len(losses) == 20 and losses[-1] < 0.7 * losses[0]
  lap = np.asarray(ns[f'{prefix}_laplacian'])
  assert lap.shape == (256, 1)
  coords = ns['coords'][:32]  # A few points keep the reference cheap.
  if prefix == 'nnx':
    model = ns['model']
    field = model.field(model.codes(ns['images'][:1])[0])
  else:
    model, params, cls = ns['model'], ns['params'], ns['ConvSirenLinen']
    code = model.apply({'params': params}, ns['images'][:1], method=cls.codes)[0]
    field = lambda yx: model.apply({'params': params}, yx, code, method=cls.head_at)
  reference = np.asarray(_finite_difference_laplacian(field, coords))
  scale = np.abs(reference).max()
  assert scale > 1.0  # A SIREN's Laplacian is large (~omega0^2): not a comparison of zeros.
  np.testing.assert_allclose(lap[:32], reference, atol=0.02 * scale)
