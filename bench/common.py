"""Shared pieces of the benchmarks: timing, tables, RESULTS.md sections (with the machine and
library versions of ``experiments.common``, plus PyTorch's), and the PyTorch SIREN written the
way the reference code (github.com/vsitzmann/siren) writes it.

PyTorch is a baseline only and optional: ``pip install -e '.[bench]'`` (or
``pip install torch``) installs it; without it the scripts print a note and skip its columns.
"""

from __future__ import annotations

import datetime
import math
import os
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any

import jax
import numpy as np
from absl import flags

from experiments.common import machine, versions
from siren_jax import images

DEFAULT_RESULTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'RESULTS.md')
NO_TORCH = 'PyTorch is not installed (pip install torch): its columns are skipped.'


def define_results_flag() -> None:
  """--results: the Markdown file a script appends its table to."""
  flags.DEFINE_string('results', DEFAULT_RESULTS, 'Markdown file to append to ("" = none).')


def define_siren_flags(size: int) -> None:
  """Flags of the SIREN-vs-PyTorch scripts: image side, network shape, torch switch, results."""
  flags.DEFINE_integer('size', size, 'Image side in pixels.')
  flags.DEFINE_integer('width', 256, 'SIREN hidden width.')
  flags.DEFINE_integer('hidden_layers', 3, 'SIREN hidden layers.')
  flags.DEFINE_bool('torch', True, 'Run the PyTorch reference when it is installed.')
  define_results_flag()


def define_resize_method_flag() -> None:
  """``--resize_method``: how the scripts that take it prepare the image (``images.load_image``)."""
  flags.DEFINE_enum('resize_method', 'bicubic', list(images.RESIZE_METHODS),
                    "How the image is resized to --size: 'reference' is the SIREN reference "
                    "code's preparation (the paper's PSNRs), 'bicubic' the project's default.")


def try_import_torch():
  """The ``torch`` module, or None when it is not installed.

  Sets ``OMP_WAIT_POLICY=PASSIVE`` (unless set) before the first import: on a shared, busy CPU
  PyTorch's OpenMP threads otherwise spin between ops and starve each other and whatever runs
  next (measured here: the reference's 64x64 step took 6x longer with spinning threads).
  """
  os.environ.setdefault('OMP_WAIT_POLICY', 'PASSIVE')
  try:
    import torch  # pylint: disable=g-import-not-at-top
  except ImportError:
    return None
  return torch


def torch_version() -> str | None:
  """PyTorch's version with its threads and OpenMP wait policy (both decide its timings), or
  None when it is not installed."""
  torch = try_import_torch()
  if torch is None:
    return None
  return (f'torch {torch.__version__} ({torch.get_num_threads()} threads, '
          f'OMP_WAIT_POLICY={os.environ.get("OMP_WAIT_POLICY")})')


def block(tree: Any) -> Any:
  """Waits for every JAX array in ``tree`` (timings must include the device work)."""
  return jax.block_until_ready(tree)


def time_alternating(fns: dict[str, Callable[[], Any]], rounds: int) -> dict[str, list[float]]:
  """Calls each fn once per round, alternating their order, and returns each one's wall times.

  Alternating (ABC, CBA, ...) spreads changes of the machine's load (it is shared) over all of
  them, so their ratio is fairer than from back-to-back runs. Each fn must wait for its result.
  """
  times: dict[str, list[float]] = {name: [] for name in fns}
  names = list(fns)
  for r in range(rounds):
    for name in (names if r % 2 == 0 else names[::-1]):
      start = time.perf_counter()
      fns[name]()
      times[name].append(time.perf_counter() - start)
  return times


def median(values: Sequence[float]) -> float:
  return float(statistics.median(values)) if values else math.nan


def fmt(value: Any, digits: int = 3) -> str:
  """Table cell: floats to ``digits`` significant digits, None/nan as '-'."""
  if value is None or (isinstance(value, float) and math.isnan(value)):
    return '-'
  if isinstance(value, float):
    return f'{value:.{digits}g}'
  return str(value)


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
  """A Markdown table."""
  lines = ['| ' + ' | '.join(headers) + ' |', '|' + '---|' * len(headers)]
  lines += ['| ' + ' | '.join(fmt(c) for c in row) + ' |' for row in rows]
  return '\n'.join(lines)


def report(title: str, body: str, results_path: str | None, notes: Sequence[str] = ()) -> str:
  """Prints ``body`` with the machine and versions, and appends the same to ``results_path``.

  Returns the Markdown section written.
  """
  now = datetime.datetime.now(datetime.timezone.utc).strftime('%Y-%m-%d %H:%M UTC')
  libs = ', '.join(v for v in (versions(), torch_version()) if v)
  command = 'python -m ' + ' '.join([_module_name()] + sys.argv[1:])
  section = [f'### {title} ({now})', '', f'`{command}`', '', f'Machine: {machine()}.', '',
             f'Versions: {libs}.', '', body, '']
  section += [f'- {note}' for note in notes]
  text = '\n'.join(section).rstrip() + '\n'
  print(text)
  if results_path:
    with open(results_path, 'a', encoding='utf-8') as f:
      f.write('\n' + text)
  return text


def _module_name() -> str:
  main = sys.modules.get('__main__')
  spec = getattr(main, '__spec__', None)
  return spec.name if spec is not None and spec.name else os.path.basename(sys.argv[0])


# --------------------------------------------------------------------------------------------
# The PyTorch reference.


def torch_reference_siren(in_features: int = 2, hidden_features: int = 256,
                          hidden_layers: int = 3, out_features: int = 1, *,
                          first_omega0: float = 30.0, hidden_omega0: float = 30.0):
  """The reference's image SIREN with its own initialisation, as ``explore_siren.ipynb`` builds
  it (``Siren(..., outermost_linear=True)``), drawing from torch's global generator in the
  notebook's order (seed it with ``torch.manual_seed`` first).

  Layers are ``nn.Linear`` (whose default init draws first, then is overwritten) and a sine
  layer is ``sin(omega0 * linear(x))``; first layer weights U(-1/fan_in, 1/fan_in), the others
  U(+-sqrt(6/fan_in)/omega0), biases nn.Linear's default; the last layer linear. The notebook's
  ``coords.requires_grad_(True)`` is left out: it only adds a gradient for the coordinates.
  """
  torch = try_import_torch()
  if torch is None:
    raise ImportError(NO_TORCH)
  nn = torch.nn

  class SineLayer(nn.Module):

    def __init__(self, fan_in: int, fan_out: int, omega0: float, is_first: bool):
      super().__init__()
      self.omega_0 = omega0
      self.linear = nn.Linear(fan_in, fan_out)
      bound = 1 / fan_in if is_first else math.sqrt(6 / fan_in) / omega0
      with torch.no_grad():
        self.linear.weight.uniform_(-bound, bound)

    def forward(self, x):
      return torch.sin(self.omega_0 * self.linear(x))

  modules = [SineLayer(in_features, hidden_features, first_omega0, True)]
  modules += [SineLayer(hidden_features, hidden_features, hidden_omega0, False)
              for _ in range(hidden_layers)]
  final = nn.Linear(hidden_features, out_features)
  bound = math.sqrt(6 / hidden_features) / hidden_omega0
  with torch.no_grad():
    final.weight.uniform_(-bound, bound)
  return nn.Sequential(*modules, final)


def torch_siren(params: list[dict[str, Any]], *, first_omega0: float = 30.0,
                hidden_omega0: float = 30.0):
  """A PyTorch SIREN as the reference code builds it (``torch_reference_siren``), holding a
  copy of siren_jax weights.

  The reference's own init (first U(-1/fan_in, 1/fan_in), hidden U(+-sqrt(6/fan_in)/omega0),
  nn.Linear's default bias) is the one siren_jax uses; copying the weights makes both start
  from the same point, so their PSNR after equal steps and their derivatives can be compared
  one to one.

  Args:
    params: ``layers.flax_params_to_list`` layout, kernels (in, out); at least 2 layers, the
      hidden ones square.
  """
  torch = try_import_torch()
  if torch is None:
    raise ImportError(NO_TORCH)
  in_features, hidden_features = np.shape(params[0]['kernel'])
  out_features = np.shape(params[-1]['kernel'])[1]
  net = torch_reference_siren(in_features, hidden_features, len(params) - 2, out_features,
                              first_omega0=first_omega0, hidden_omega0=hidden_omega0)
  with torch.no_grad():
    for module, layer in zip(net, params):
      linear = module if isinstance(module, torch.nn.Linear) else module.linear
      linear.weight.copy_(torch.from_numpy(np.asarray(layer['kernel']).T.copy()))
      linear.bias.copy_(torch.from_numpy(np.asarray(layer['bias']).copy()))
  return net
