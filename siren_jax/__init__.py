"""siren_jax: SIREN (sine-activated implicit neural representations) in JAX and Flax.

The public API is the names in ``__all__`` (listed with one line each in docs/api.md); everything
else, including the submodules, is internal and may change. Names load lazily on first access
(PEP 562), so ``import siren_jax`` costs milliseconds: ``from siren_jax import Siren`` imports
flax.linen, ``NnxSiren`` imports flax.nnx, and neither pulls matplotlib, orbax or tensorboardX.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = '0.2.0'  # setup.py reads this line; the one place the version lives.

# Public name -> 'submodule' (same name there) or 'submodule:name' (renamed here). Grouped and
# ordered as docs/api.md lists them.
_EXPORTS: dict[str, str] = {
    # Flax Linen modules and the pure init/apply functions (siren_jax.layers).
    'Siren': 'layers',
    'SineDense': 'layers',
    'siren_init': 'layers',
    'siren_apply': 'layers',
    'sine_layer_init': 'layers',
    'sine_layer_apply': 'layers',
    'siren_first_layer_init': 'layers',
    'siren_hidden_init': 'layers',
    'siren_kernel_init': 'layers',
    'uniform_bias_init': 'layers',
    'flax_params_to_list': 'layers',
    'list_params_to_flax': 'layers',
    'DEFAULT_OMEGA0': 'layers',
    # flax.nnx modules (siren_jax.nnx_layers).
    'NnxSiren': 'nnx_layers:Siren',
    'NnxSineLinear': 'nnx_layers:SineLinear',
    'nnx_params_to_list': 'nnx_layers',
    'list_params_to_nnx': 'nnx_layers',
    # Differential operators of coordinate fields (siren_jax.diffops).
    'pointwise': 'diffops',
    'gradient': 'diffops',
    'laplacian': 'diffops',
    'gradient_and_laplacian': 'diffops',
    'divergence': 'diffops',
    'jacobian': 'diffops',
    # The coordinate convention and chunked evaluation (siren_jax.grids).
    'make_grid': 'grids',
    'image_to_samples': 'grids',
    'evaluate_in_chunks': 'grids',
    # Metrics on [-1, 1] images (siren_jax.metrics).
    'psnr': 'metrics',
    'psnr_from_mse': 'metrics',
}

__all__ = ['__version__', *_EXPORTS]

if TYPE_CHECKING:  # What type checkers and IDEs see; tests/api_test.py keeps it equal to _EXPORTS.
  from siren_jax.diffops import (divergence, gradient, gradient_and_laplacian, jacobian,
                                 laplacian, pointwise)
  from siren_jax.grids import evaluate_in_chunks, image_to_samples, make_grid
  from siren_jax.layers import (DEFAULT_OMEGA0, SineDense, Siren, flax_params_to_list,
                                list_params_to_flax, sine_layer_apply, sine_layer_init,
                                siren_apply, siren_first_layer_init, siren_hidden_init,
                                siren_init, siren_kernel_init, uniform_bias_init)
  from siren_jax.metrics import psnr, psnr_from_mse
  from siren_jax.nnx_layers import SineLinear as NnxSineLinear
  from siren_jax.nnx_layers import Siren as NnxSiren
  from siren_jax.nnx_layers import list_params_to_nnx, nnx_params_to_list


def _source(name: str) -> tuple[str, str]:
  """(module, attribute) a public name comes from."""
  module, _, attribute = _EXPORTS[name].partition(':')
  return f'{__name__}.{module}', attribute or name


def __getattr__(name: str) -> Any:
  if name not in _EXPORTS:
    # Submodules (``from siren_jax import layers``) fall through to the import system.
    raise AttributeError(f'module {__name__!r} has no attribute {name!r}')
  module, attribute = _source(name)
  value = getattr(importlib.import_module(module), attribute)
  globals()[name] = value  # Later accesses skip __getattr__.
  return value


def __dir__() -> list[str]:
  return sorted(__all__)  # Only the public names (tab completion, help()).
