r"""SIREN fit step: siren_jax's jitted train step vs the PyTorch reference, side by side.

Both fit the same image from the same initial weights (copied across) with Adam on the full
image, the paper's setting; rounds alternate between the implementations. Reports the median
seconds per optimiser step, the PSNR after the same number of steps and the speed-up over
PyTorch. siren_jax runs twice: one step per jitted call, and ``--steps_per_call`` steps per call
(``lax.scan`` inside one dispatch, ``training.make_train_step``), and once more per extra sine
of ``--sines`` (``siren_jax.fast_sine.sine``: the polynomial or ``jnp.sin``).

  python -m bench.fit_step --size=128 --width=256 --steps=100
  python -m bench.fit_step --matmul_precisions=default,bfloat16   # accelerators: bf16 matmuls
  python -m bench.fit_step --sines=fast_sine,jnp --torch=false     # which sine is faster here
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax
from absl import app, flags

from bench import common
from experiments.common import main_with_clean_errors
from siren_jax import fast_sine, fitting, grids, images, layers, metrics, training
from siren_jax.models import fields

PRECISIONS = ('default', 'high', 'highest', 'bfloat16', 'tensorfloat32', 'float32')


def make_problem(image: str, size: int, width: int, hidden_layers: int, learning_rate: float,
                 seed: int = 0, sine: str = 'auto') -> tuple[dict[str, jax.Array], Any]:
  """The full-image batch {'coords': (N, 2), 'values': (N, C)} and a state factory.

  ``new_state()`` returns a fresh train state with the same initial weights every time (the
  train step donates its input, so every run needs its own); its SIREN computes sin by ``sine``.
  """
  target = images.load_image(image, mode='grey', size=size)
  coords, values = grids.image_to_samples(target)
  model = fields.make_field_model('siren', out_features=values.shape[-1],
                                  hidden_features=width, hidden_layers=hidden_layers, sine=sine)

  def new_state() -> training.TrainState:
    return training.create_train_state(model, jax.random.PRNGKey(seed), coords[:1],
                                       optax.adam(learning_rate))

  return {'coords': coords, 'values': values}, new_state


class TorchFit:
  """The reference's fitting loop: zero_grad, forward on all pixels, MSE, backward, Adam step."""

  def __init__(self, params: list[dict[str, Any]], batch: dict[str, jax.Array],
               learning_rate: float):
    self.torch = common.try_import_torch()
    self.device = 'cuda' if self.torch.cuda.is_available() else 'cpu'
    self.net = common.torch_siren(params).to(self.device)
    self.optim = self.torch.optim.Adam(self.net.parameters(), lr=learning_rate)
    self.coords = self.torch.from_numpy(np.array(batch['coords'])).to(self.device)
    self.values = self.torch.from_numpy(np.array(batch['values'])).to(self.device)

  def steps(self, n: int) -> None:
    for _ in range(n):
      self.optim.zero_grad()
      loss = ((self.net(self.coords) - self.values) ** 2).mean()
      loss.backward()
      self.optim.step()
    self.sync()

  def sync(self) -> None:
    if self.device == 'cuda':
      self.torch.cuda.synchronize()

  def predict(self) -> np.ndarray:
    with self.torch.no_grad():
      return self.net(self.coords).cpu().numpy()


def _precision_context(precision: str):
  return jax.default_matmul_precision(None if precision == 'default' else precision)


def run(*, image: str = 'camera', size: int = 128, width: int = 256, hidden_layers: int = 3,
        steps: int = 100, steps_per_call: int = 10, learning_rate: float = 1e-4,
        matmul_precisions: tuple[str, ...] = ('default',), use_torch: bool = True,
        results_path: str | None = common.DEFAULT_RESULTS,
        sines: tuple[str, ...] = ()) -> list[dict[str, Any]]:
  """Times and fits every implementation; prints and appends the table; returns its rows."""
  for name, value in (('size', size), ('width', width), ('steps', steps),
                      ('steps_per_call', steps_per_call)):
    if value < 1:
      raise ValueError(f'--{name} must be >= 1, got {value}')
  if steps % steps_per_call:
    raise ValueError(f'--steps={steps} must be a multiple of --steps_per_call={steps_per_call}')
  for p in matmul_precisions:
    if p not in PRECISIONS:
      raise ValueError(f'unknown matmul precision {p!r}; choose from {", ".join(PRECISIONS)}')
  for sine in sines:
    if sine not in fast_sine.SINES:
      raise ValueError(f'unknown sine {sine!r}; choose from {", ".join(fast_sine.SINES)}')
  torch = common.try_import_torch() if use_torch else None
  batch, new_state = make_problem(image, size, width, hidden_layers, learning_rate)
  k = steps_per_call

  # Each runner advances its own model by k optimiser steps and waits for the result.
  runners, finals = {}, {}
  step_1 = training.make_train_step(fitting.image_loss, steps_per_call=1)
  states = {'siren_jax, 1 step/call': new_state()}

  def jax_single() -> None:
    state = states['siren_jax, 1 step/call']
    for _ in range(k):
      state, _ = step_1(state, batch)
    states['siren_jax, 1 step/call'] = common.block(state)

  runners['siren_jax, 1 step/call'] = jax_single
  step_k = training.make_train_step(fitting.image_loss, steps_per_call=k)
  for precision in matmul_precisions:
    name = f'siren_jax, {k} steps/call' + ('' if precision == 'default' else f', {precision}')
    states[name] = new_state()

    def jax_scan(name=name, precision=precision) -> None:
      with _precision_context(precision):
        states[name] = common.block(step_k(states[name], batch)[0])

    runners[name] = jax_scan
  # The same scan with each extra sine: same initial weights, its own compiled step.
  sine_states = {}
  for sine in sines:
    name = f'siren_jax, {k} steps/call, sine={sine}'
    _, sine_states[name] = make_problem(image, size, width, hidden_layers, learning_rate,
                                        sine=sine)
    states[name] = sine_states[name]()

    def jax_sine(name=name) -> None:
      states[name] = common.block(step_k(states[name], batch)[0])

    runners[name] = jax_sine
  params = layers.flax_params_to_list(jax.device_get(new_state().params))
  if torch is not None:
    torch.manual_seed(0)
    reference = TorchFit(params, batch, learning_rate)
    runners['PyTorch reference'] = lambda: reference.steps(k)

  # Compile and warm up on throwaway copies so the timed models all start at step 0.
  for precision in matmul_precisions:
    with _precision_context(precision):
      common.block(step_k(new_state(), batch))
  common.block(step_1(new_state(), batch))
  for new_sine_state in sine_states.values():
    common.block(step_k(new_sine_state(), batch))
  if torch is not None:
    warm = TorchFit(params, batch, learning_rate)
    warm.steps(2)

  times = common.time_alternating(runners, steps // k)
  rows = []
  torch_seconds = common.median(times['PyTorch reference']) / k if torch is not None else None
  for name, samples in times.items():
    seconds = common.median(samples) / k
    if name == 'PyTorch reference':
      prediction = reference.predict()
    else:
      state = states[name]
      prediction = state.apply_fn(state.params, batch['coords'])
    psnr = float(metrics.psnr(jnp.asarray(prediction), batch['values']))
    rows.append({'implementation': name, 'seconds_per_step': seconds,
                 'steps_per_second': 1.0 / seconds, 'psnr': psnr,
                 'speedup_vs_torch': torch_seconds / seconds if torch_seconds else None})
  body = common.table(
      ['implementation', 's/step (median)', 'steps/s', f'PSNR after {steps} steps (dB)',
       'speed-up vs PyTorch'],
      [[r['implementation'], r['seconds_per_step'], r['steps_per_second'], r['psnr'],
        r['speedup_vs_torch']] for r in rows])
  notes = [f'{image} {size}x{size} grey, SIREN width {width}, {hidden_layers} hidden layers, '
           f'Adam lr {learning_rate:g}, full batch, same initial weights; {steps // k} '
           f'alternating rounds of {k} steps each; rows without sine= use the default '
           f"sine='auto' ({'fast_sine' if jax.devices()[0].platform == 'cpu' else 'jnp'} on "
           f'{jax.devices()[0].platform}).']
  if torch is None:
    notes.append(common.NO_TORCH if use_torch else 'PyTorch not run (--torch=false).')
  if jax.devices()[0].platform == 'cpu' and any(p != 'default' for p in matmul_precisions):
    notes.append('XLA:CPU computes float32 matmuls in float32 whatever the precision flag, so '
                 'the precision rows only differ on GPU/TPU.')
  common.report(f'Fit step: {size}x{size}, width {width}', body, results_path, notes)
  return rows


if __name__ == '__main__':
  common.define_siren_flags(size=128)
  flags.DEFINE_string('image', 'camera', 'Built-in image name or path.')
  flags.DEFINE_integer('steps', 100, 'Optimiser steps per implementation.')
  flags.DEFINE_integer('steps_per_call', 10, 'Steps per jitted call for the lax.scan variant; '
                       'also the steps per timed round.')
  flags.DEFINE_float('learning_rate', 1e-4, 'Adam learning rate.')
  flags.DEFINE_list('matmul_precisions', ['default'], 'jax matmul precisions to run, e.g. '
                    'default,bfloat16 (bfloat16 matters on GPU/TPU only).')
  flags.DEFINE_list('sines', [], 'Extra rows with the sine forced: fast_sine, jnp (the '
                    'default rows use auto).')

  @main_with_clean_errors
  def main(argv: list[str]) -> None:
    del argv
    f = flags.FLAGS
    run(image=f.image, size=f.size, width=f.width, hidden_layers=f.hidden_layers,
        steps=f.steps, steps_per_call=f.steps_per_call, learning_rate=f.learning_rate,
        matmul_precisions=tuple(f.matmul_precisions), use_torch=f.torch,
        results_path=f.results or None, sines=tuple(f.sines))

  app.run(main)
