r"""The machine's limit: measured matmul GFLOP/s vs what one SIREN train step achieves.

1. Matmul throughput of the device for a square ``--matmul_size`` product and for the
   product shapes of the train step's hidden layers ((pixels, width) @ (width, width) and the
   kernel gradient), through JAX (XLA), PyTorch and NumPy, best of ``--repeats`` (the machine
   is shared: the best run is the one least disturbed), in float32 and, with
   ``--dtypes=float32,bfloat16``, from bfloat16 operands (XLA: float32 accumulation and result,
   the ``compute_dtype='bfloat16'`` policy; PyTorch: ``torch.matmul`` of bfloat16 tensors, which
   oneDNN accumulates in float32 and returns in bfloat16; NumPy has no bfloat16 kernels). The
   best of each dtype is taken as the machine's peak for it.
2. FLOPs of one train step: counted analytically (matmuls only: forward 2*N*sum(in*out), backward
   twice that minus the first layer's unneeded input gradient) and by XLA's cost analysis of the
   compiled step (which adds the elementwise work).
3. Seconds per step of siren_jax (``--steps_per_call`` steps per jitted call, each compute
   dtype) and of the PyTorch reference, alternating, and the fraction of the peak each reaches
   (analytic FLOPs / time).

  python -m bench.machine_limit --size=128 --width=256
  python -m bench.machine_limit --size=256 --width=256 --dtypes=float32,bfloat16
"""

from __future__ import annotations

import functools
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from absl import app, flags

from bench import common
from bench.fit_step import TorchFit, make_problem
from experiments.common import main_with_clean_errors
from siren_jax import fast_sine, fitting, layers, training


def train_step_flops(num_points: int, sizes: list[int]) -> int:
  """Matmul FLOPs of one full-batch step of an MLP with layer widths ``sizes`` on N points.

  Forward: 2*N*in*out per layer. Backward: the kernel gradient (2*N*in*out) for every layer and
  the input gradient (2*N*in*out) for every layer but the first (coordinates need none).
  """
  per_layer = [2 * num_points * i * o for i, o in zip(sizes[:-1], sizes[1:])]
  return 3 * sum(per_layer) - per_layer[0]


DTYPES = ('float32', 'bfloat16')


def jax_matmul_gflops(m: int, k: int, n: int, repeats: int, transpose_a: bool = False,
                      dtype: str = 'float32') -> float:
  """Best-of-``repeats`` GFLOP/s of a jitted (m, k) @ (k, n) on the default device.

  ``transpose_a``: A is stored (k, m) and contracted over its first axis, the backward pass's
  kernel-gradient shape ``x^T @ dy`` (x: (pixels, width)). ``dtype`` 'bfloat16': operands
  stored in bfloat16, products accumulated and returned in float32.
  """
  operand = jnp.bfloat16 if dtype == 'bfloat16' else jnp.float32
  a = jax.random.normal(jax.random.PRNGKey(0), (k, m) if transpose_a else (m, k), operand)
  b = jax.random.normal(jax.random.PRNGKey(1), (k, n), operand)
  spec = 'km,kn->mn' if transpose_a else 'mk,kn->mn'
  dot = jax.jit(functools.partial(jnp.einsum, spec, precision=jax.lax.Precision.HIGHEST,
                                  preferred_element_type=jnp.float32))
  common.block(dot(a, b))
  times = common.time_alternating({'dot': lambda: common.block(dot(a, b))}, repeats)['dot']
  return 2 * m * k * n / min(times) / 1e9


def torch_matmul_gflops(m: int, k: int, n: int, repeats: int, transpose_a: bool = False,
                        dtype: str = 'float32') -> float:
  """Best-of-``repeats`` GFLOP/s of torch.matmul (m, k) @ (k, n) (CUDA when available) on
  ``dtype`` tensors."""
  torch = common.try_import_torch()
  device = 'cuda' if torch.cuda.is_available() else 'cpu'
  kind = torch.bfloat16 if dtype == 'bfloat16' else torch.float32
  a = torch.randn(k, m, device=device, dtype=kind) if transpose_a else torch.randn(
      m, k, device=device, dtype=kind)
  b = torch.randn(k, n, device=device, dtype=kind)

  def dot() -> None:
    torch.matmul(a.T if transpose_a else a, b)
    if device == 'cuda':
      torch.cuda.synchronize()

  dot()
  return 2 * m * k * n / min(common.time_alternating({'dot': dot}, repeats)['dot']) / 1e9


def numpy_matmul_gflops(m: int, k: int, n: int, repeats: int, transpose_a: bool = False) -> float:
  """Best-of-``repeats`` GFLOP/s of a float32 NumPy (BLAS) (m, k) @ (k, n) on the host."""
  rng = np.random.default_rng(0)
  a = rng.standard_normal((k, m) if transpose_a else (m, k), np.float32)
  b = rng.standard_normal((k, n), np.float32)
  dot = lambda: (a.T if transpose_a else a) @ b  # noqa: E731
  dot()
  return 2 * m * k * n / min(common.time_alternating({'dot': dot}, repeats)['dot']) / 1e9


def sine_throughput(m: int, n: int, repeats: int) -> dict[str, float]:
  """Best-of-``repeats`` Gelem/s of jitted ``jnp.sin`` and ``fast_sine.sin`` on (m, n) float32."""
  x = jax.random.uniform(jax.random.PRNGKey(0), (m, n), jnp.float32, -100.0, 100.0)
  fns = {name: jax.jit(f) for name, f in (('jnp.sin', jnp.sin), ('fast_sine.sin', fast_sine.sin))}
  for f in fns.values():
    common.block(f(x))
  times = common.time_alternating({k: (lambda f=f: common.block(f(x))) for k, f in fns.items()},
                                  repeats)
  return {k: m * n / min(t) / 1e9 for k, t in times.items()}


def run(*, size: int = 128, width: int = 256, hidden_layers: int = 3, matmul_size: int = 2048,
        steps: int = 20, steps_per_call: int = 5, repeats: int = 5, use_torch: bool = True,
        dtypes: tuple[str, ...] = ('float32',),
        results_path: str | None = common.DEFAULT_RESULTS) -> dict[str, Any]:
  """Measures, prints and appends the tables; returns the numbers (``peak_gflops``: float32;
  ``peak_gflops_by_dtype``: each of ``dtypes``)."""
  if not dtypes or any(d not in DTYPES for d in dtypes):
    raise ValueError(f'--dtypes must list some of {", ".join(DTYPES)}, got {",".join(dtypes)!r}')
  dtypes = tuple(dict.fromkeys(('float32',) + tuple(dtypes)))  # float32 is always the baseline.
  for name, value in (('size', size), ('width', width), ('matmul_size', matmul_size),
                      ('steps', steps), ('steps_per_call', steps_per_call), ('repeats', repeats)):
    if value < 1:
      raise ValueError(f'--{name} must be >= 1, got {value}')
  if steps % steps_per_call:
    raise ValueError(f'--steps={steps} must be a multiple of --steps_per_call={steps_per_call}')
  torch = common.try_import_torch() if use_torch else None
  n = size * size
  shapes = {f'square {matmul_size}^3': ((matmul_size,) * 3, False),
            f'layer ({n}, {width}) @ ({width}, {width})': ((n, width, width), False),
            f'kernel grad ({n}, {width})^T @ ({n}, {width})': ((width, n, width), True)}
  matmul: dict[str, dict[str, float]] = {}
  for label, (shape, transpose_a) in shapes.items():
    matmul[label] = {}
    for dtype in dtypes:
      suffix = '' if dtype == 'float32' else f' {dtype}'
      matmul[label][f'jax{suffix}'] = jax_matmul_gflops(*shape, repeats, transpose_a, dtype)
      if torch is not None:
        matmul[label][f'torch{suffix}'] = torch_matmul_gflops(*shape, repeats, transpose_a,
                                                              dtype)
    matmul[label]['numpy'] = numpy_matmul_gflops(*shape, repeats, transpose_a)
  peaks = {dtype: max(g for libs in matmul.values() for lib, g in libs.items()
                      if lib.endswith(dtype) or (dtype == 'float32' and ' ' not in lib))
           for dtype in dtypes}
  peak = peaks['float32']
  sines = sine_throughput(n, width, repeats)

  batch, new_state = make_problem('camera', size, width, hidden_layers, 1e-4)
  sizes = [2] + [width] * (hidden_layers + 1) + [1]
  analytic = train_step_flops(n, sizes)
  step_1 = training.make_train_step(fitting.image_loss)
  cost = step_1.lower(new_state(), batch).compile().cost_analysis()
  cost = cost[0] if isinstance(cost, (list, tuple)) else cost
  xla_flops = float(cost.get('flops', float('nan'))) if cost else float('nan')

  k = steps_per_call
  step_k = training.make_train_step(fitting.image_loss, steps_per_call=k)
  runners = {}
  for dtype in dtypes:
    new = new_state if dtype == 'float32' else make_problem(
        'camera', size, width, hidden_layers, 1e-4, compute_dtype=dtype)[1]
    holder = {'state': new()}
    common.block(step_k(step_k(new(), batch)[0], batch))  # Compile on a throwaway state.

    def jax_steps(holder=holder) -> None:
      holder['state'] = common.block(step_k(holder['state'], batch)[0])

    runners[f'siren_jax ({k} steps/call' + (
        ')' if dtype == 'float32' else f', compute {dtype})')] = jax_steps
  if torch is not None:
    params = layers.flax_params_to_list(jax.device_get(new_state().params))
    reference = TorchFit(params, batch, 1e-4)
    reference.steps(1)
    runners['PyTorch reference'] = lambda: reference.steps(k)
  times = common.time_alternating(runners, steps // k)

  def peak_of(lib: str) -> float:
    return next((peaks[d] for d in dtypes if d != 'float32' and lib.endswith(d)), peak)

  rows = [[f'matmul {label}, {lib}', None, gflops, gflops / peak_of(lib)]
          for label, libs in matmul.items() for lib, gflops in libs.items()]
  rows += [[f'{name} on ({n}, {width}) (Gelem/s)', None, rate, None]
           for name, rate in sines.items()]
  out = {'peak_gflops': peak, 'peak_gflops_by_dtype': peaks, 'analytic_flops': analytic,
         'xla_flops': xla_flops, 'matmul': matmul, 'sine_gelems': sines, 'train': {}}
  for name, samples in times.items():
    seconds = common.median(samples) / k
    gflops = analytic / seconds / 1e9
    own_peak = peak_of(name.rstrip(')'))
    out['train'][name] = {'seconds_per_step': seconds, 'gflops': gflops,
                          'fraction_of_peak': gflops / own_peak}
    rows.append([f'train step, {name}', seconds, gflops, gflops / own_peak])
  body = common.table(['what', 's/step', 'GFLOP/s', 'fraction of peak'], rows)
  peak_text = '; '.join(f'{d} {g:.1f} GFLOP/s' for d, g in peaks.items())
  notes = [f'Peak = best measured matmul of each dtype ({peak_text}); each row is a fraction '
           'of its own dtype\'s peak (a bfloat16 train step of the bfloat16 peak); train steps '
           'are medians.',
           f'Train step ({size}x{size} pixels, SIREN {sizes}): {analytic / 1e9:.2f} GFLOP of '
           f'matmuls counted analytically; XLA cost analysis {xla_flops / 1e9:.2f} GFLOP '
           '(includes elementwise ops and Adam).',
           f'{steps // k} alternating rounds of {k} steps. The sine rows are elements/s, not '
           'FLOP/s: each layer needs one sine per activation (and a cosine in the backward '
           'pass), which is why ``siren_jax`` uses ``fast_sine``.']
  if torch is None:
    notes.append(common.NO_TORCH)
  common.report(f'Machine limit: {size}x{size}, width {width}', body, results_path, notes)
  return out


if __name__ == '__main__':
  common.define_siren_flags(size=128)
  flags.DEFINE_integer('matmul_size', 2048, 'Side of the square matmul measuring the peak.')
  flags.DEFINE_integer('steps', 20, 'Timed train steps per implementation.')
  flags.DEFINE_integer('steps_per_call', 5, 'siren_jax steps per jitted call.')
  flags.DEFINE_integer('repeats', 5, 'Timed matmul repeats.')
  flags.DEFINE_list('dtypes', ['float32'], 'Matmul and train-step dtypes: float32, bfloat16 '
                    '(bfloat16 operands, float32 accumulation).')

  @main_with_clean_errors
  def main(argv: list[str]) -> None:
    del argv
    f = flags.FLAGS
    run(size=f.size, width=f.width, hidden_layers=f.hidden_layers, matmul_size=f.matmul_size,
        steps=f.steps, steps_per_call=f.steps_per_call, repeats=f.repeats, use_torch=f.torch,
        dtypes=tuple(f.dtypes), results_path=f.results or None)

  app.run(main)
