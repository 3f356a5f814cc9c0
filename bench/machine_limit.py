r"""The machine's limit: measured float32 matmul GFLOP/s vs what one SIREN train step achieves.

1. Matmul throughput of the device, float32, for a square ``--matmul_size`` product and for the
   product shape of the train step's hidden layers ((pixels, width) @ (width, width)), through
   JAX (XLA) and PyTorch, best of ``--repeats`` (the machine is shared: the best run is the one
   least disturbed); the best of all is taken as the machine's peak.
2. FLOPs of one train step: counted analytically (matmuls only: forward 2*N*sum(in*out), backward
   twice that minus the first layer's unneeded input gradient) and by XLA's cost analysis of the
   compiled step (which adds the elementwise work).
3. Seconds per step of siren_jax (``--steps_per_call`` steps per jitted call) and of the PyTorch
   reference, alternating, and the fraction of the peak each reaches (analytic FLOPs / time).

  python -m bench.machine_limit --size=128 --width=256
"""

from __future__ import annotations

import functools
from typing import Any

import jax
import jax.numpy as jnp
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


def jax_matmul_gflops(m: int, k: int, n: int, repeats: int, transpose_a: bool = False) -> float:
  """Best-of-``repeats`` GFLOP/s of a jitted float32 (m, k) @ (k, n) on the default device.

  ``transpose_a``: A is stored (k, m) and contracted over its first axis, the backward pass's
  kernel-gradient shape ``x^T @ dy`` (x: (pixels, width)).
  """
  a = jax.random.normal(jax.random.PRNGKey(0), (k, m) if transpose_a else (m, k), jnp.float32)
  b = jax.random.normal(jax.random.PRNGKey(1), (k, n), jnp.float32)
  spec = 'km,kn->mn' if transpose_a else 'mk,kn->mn'
  dot = jax.jit(functools.partial(jnp.einsum, spec, precision=jax.lax.Precision.HIGHEST))
  common.block(dot(a, b))
  times = common.time_alternating({'dot': lambda: common.block(dot(a, b))}, repeats)['dot']
  return 2 * m * k * n / min(times) / 1e9


def torch_matmul_gflops(m: int, k: int, n: int, repeats: int, transpose_a: bool = False) -> float:
  """Best-of-``repeats`` GFLOP/s of a float32 torch.matmul (m, k) @ (k, n) (CUDA when available)."""
  torch = common.try_import_torch()
  device = 'cuda' if torch.cuda.is_available() else 'cpu'
  a = torch.randn(k, m, device=device) if transpose_a else torch.randn(m, k, device=device)
  b = torch.randn(k, n, device=device)

  def dot() -> None:
    torch.matmul(a.T if transpose_a else a, b)
    if device == 'cuda':
      torch.cuda.synchronize()

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
        results_path: str | None = common.DEFAULT_RESULTS) -> dict[str, Any]:
  """Measures, prints and appends the tables; returns the numbers."""
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
  matmul = {}
  for label, (shape, transpose_a) in shapes.items():
    matmul[label] = {'jax': jax_matmul_gflops(*shape, repeats, transpose_a)}
    if torch is not None:
      matmul[label]['torch'] = torch_matmul_gflops(*shape, repeats, transpose_a)
  peak = max(g for libs in matmul.values() for g in libs.values())
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
  holder = {'state': new_state()}
  common.block(step_k(new_state(), batch))  # Compile on a throwaway state.

  def jax_steps() -> None:
    holder['state'] = common.block(step_k(holder['state'], batch)[0])

  runners = {f'siren_jax ({k} steps/call)': jax_steps}
  if torch is not None:
    params = layers.flax_params_to_list(jax.device_get(new_state().params))
    reference = TorchFit(params, batch, 1e-4)
    reference.steps(1)
    runners['PyTorch reference'] = lambda: reference.steps(k)
  times = common.time_alternating(runners, steps // k)

  rows = [[f'matmul {label}, {lib}', None, gflops, gflops / peak]
          for label, libs in matmul.items() for lib, gflops in libs.items()]
  rows += [[f'{name} on ({n}, {width}) (Gelem/s)', None, rate, None]
           for name, rate in sines.items()]
  out = {'peak_gflops': peak, 'analytic_flops': analytic, 'xla_flops': xla_flops,
         'matmul': matmul, 'sine_gelems': sines, 'train': {}}
  for name, samples in times.items():
    seconds = common.median(samples) / k
    gflops = analytic / seconds / 1e9
    out['train'][name] = {'seconds_per_step': seconds, 'gflops': gflops,
                          'fraction_of_peak': gflops / peak}
    rows.append([f'train step, {name}', seconds, gflops, gflops / peak])
  body = common.table(['what', 's/step', 'GFLOP/s', 'fraction of peak'], rows)
  notes = [f'Peak = best measured float32 matmul: {peak:.1f} GFLOP/s; train steps are medians.',
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

  @main_with_clean_errors
  def main(argv: list[str]) -> None:
    del argv
    f = flags.FLAGS
    run(size=f.size, width=f.width, hidden_layers=f.hidden_layers, matmul_size=f.matmul_size,
        steps=f.steps, steps_per_call=f.steps_per_call, repeats=f.repeats, use_torch=f.torch,
        results_path=f.results or None)

  app.run(main)
