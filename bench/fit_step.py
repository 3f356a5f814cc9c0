r"""SIREN fit step: siren_jax's jitted train step vs the PyTorch reference, side by side.

Both fit the same image from the same initial weights (copied across) with Adam on the full
image, the paper's setting; rounds alternate between the implementations. Reports the median
seconds per optimiser step, the PSNR after the same number of steps and the speed-up over
PyTorch. siren_jax runs twice: one step per jitted call, and ``--steps_per_call`` steps per call
(``lax.scan`` inside one dispatch, ``training.make_train_step``), once per ``--compute_dtypes``
entry (``bfloat16``: the mixed-precision policy of ``siren_jax.layers``), and once more per extra
sine of ``--sines`` (``siren_jax.fast_sine.sine``: the polynomial or ``jnp.sin``).

PyTorch runs in each of ``--torch_configs``: ``eager`` (float32, the reference), ``compile``
(``torch.compile`` of the network, float32), ``autocast`` (eager under
``torch.autocast('cpu'/'cuda', dtype=torch.bfloat16)``) and ``autocast_compile`` (both).
``--target_psnrs=30,35`` evaluates every model after each round (untimed) and reports the
training seconds until it first reached each PSNR (resolution: one round of steps).

  python -m bench.fit_step --size=128 --width=256 --steps=100
  python -m bench.fit_step --size=256 --steps=500 --steps_per_call=25 \
      --compute_dtypes=float32,bfloat16 --torch_configs=eager,compile,autocast,autocast_compile \
      --target_psnrs=30,35
  python -m bench.fit_step --matmul_precisions=default,bfloat16   # accelerators: bf16 matmuls
  python -m bench.fit_step --sines=fast_sine,jnp --torch=false     # which sine is faster here
"""

from __future__ import annotations

import copy
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
TORCH_CONFIGS = ('eager', 'compile', 'autocast', 'autocast_compile')
TORCH_NAMES = {'eager': 'PyTorch reference', 'compile': 'PyTorch compile',
               'autocast': 'PyTorch autocast bf16', 'autocast_compile': 'PyTorch autocast bf16 + compile'}


def make_problem(image: str, size: int, width: int, hidden_layers: int, learning_rate: float,
                 seed: int = 0, compute_dtype: str = 'float32', sine: str = 'auto',
                 resize_method: str = 'bicubic') -> tuple[dict[str, jax.Array], Any]:
  """The full-image batch {'coords': (N, 2), 'values': (N, C)} and a state factory.

  ``new_state()`` returns a fresh train state with the same initial weights every time (the
  train step donates its input, so every run needs its own); the weights depend on ``seed``
  only, not on ``compute_dtype`` or ``sine`` (how its SIREN computes sin). ``resize_method``
  (``images.RESIZE_METHODS``): 'reference' prepares the image as the SIREN reference does.
  """
  target = images.load_image(image, mode='grey', size=size, resize_method=resize_method)
  coords, values = grids.image_to_samples(target)
  model = fields.make_field_model('siren', out_features=values.shape[-1],
                                  hidden_features=width, hidden_layers=hidden_layers,
                                  compute_dtype=compute_dtype, sine=sine)

  # One optimiser object: it is part of the state's tree structure, so a new one per state
  # would make every state compile its own step (and a warm-up on a copy warm nothing).
  optimizer = optax.adam(learning_rate)

  def new_state() -> training.TrainState:
    return training.create_train_state(model, jax.random.PRNGKey(seed), coords[:1], optimizer)

  return {'coords': coords, 'values': values}, new_state


class TorchFit:
  """The reference's fitting loop: zero_grad, forward on all pixels, MSE, backward, Adam step.

  ``config`` (``TORCH_CONFIGS``): 'eager' is the reference as written; 'compile' wraps the
  network in ``torch.compile`` (forward and backward compiled, Adam eager); 'autocast' runs the
  forward and the loss under ``torch.autocast(dtype=torch.bfloat16)`` (PyTorch's own choice of
  ops in bfloat16: the linear layers; weights and Adam stay float32); 'autocast_compile' both.
  Predictions are taken the way the model trains (under autocast for the autocast configs).
  """

  def __init__(self, params: list[dict[str, Any]], batch: dict[str, jax.Array],
               learning_rate: float, config: str = 'eager'):
    if config not in TORCH_CONFIGS:
      raise ValueError(f'unknown PyTorch config {config!r}; choose from {", ".join(TORCH_CONFIGS)}')
    self.torch = common.try_import_torch()
    self.device = 'cuda' if self.torch.cuda.is_available() else 'cpu'
    self.net = common.torch_siren(params).to(self.device)
    self.optim = self.torch.optim.Adam(self.net.parameters(), lr=learning_rate)
    self.forward = self.torch.compile(self.net) if 'compile' in config else self.net
    self.autocast = 'autocast' in config
    self.coords = self.torch.from_numpy(np.array(batch['coords'])).to(self.device)
    self.values = self.torch.from_numpy(np.array(batch['values'])).to(self.device)

  def warm_up(self) -> None:
    """Runs two steps and a prediction (compiling what the config compiles), then puts the
    weights and Adam's state back: the timed steps start at step 0 with nothing left to compile
    (a compiled module is compiled per instance, so a throwaway copy would not do)."""
    weights = copy.deepcopy(self.net.state_dict())
    optim = copy.deepcopy(self.optim.state_dict())
    self.steps(2)
    self.predict()
    with self.torch.no_grad():
      self.net.load_state_dict(weights)
    self.optim.load_state_dict(optim)

  def _precision(self):
    return self.torch.autocast(self.device, dtype=self.torch.bfloat16, enabled=self.autocast)

  def steps(self, n: int) -> None:
    for _ in range(n):
      self.optim.zero_grad()
      with self._precision():
        loss = ((self.forward(self.coords) - self.values) ** 2).mean()
      loss.backward()
      self.optim.step()
    self.sync()

  def sync(self) -> None:
    if self.device == 'cuda':
      self.torch.cuda.synchronize()

  def predict(self) -> np.ndarray:
    with self.torch.no_grad(), self._precision():
      return self.forward(self.coords).float().cpu().numpy()


def _floats(values: list[str], flag: str) -> list[float]:
  try:
    return [float(v) for v in values]
  except ValueError:
    raise ValueError(f'--{flag} takes numbers, got {",".join(values)!r}') from None


def _precision_context(precision: str):
  return jax.default_matmul_precision(None if precision == 'default' else precision)


def run(*, image: str = 'camera', size: int = 128, width: int = 256, hidden_layers: int = 3,
        steps: int = 100, steps_per_call: int = 10, learning_rate: float = 1e-4,
        matmul_precisions: tuple[str, ...] = ('default',),
        compute_dtypes: tuple[str, ...] = ('float32',), use_torch: bool = True,
        torch_configs: tuple[str, ...] = ('eager',), target_psnrs: tuple[float, ...] = (),
        seed: int = 0, single_step: bool = True,
        results_path: str | None = common.DEFAULT_RESULTS,
        sines: tuple[str, ...] = (), resize_method: str = 'bicubic') -> list[dict[str, Any]]:
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
  for d in compute_dtypes:
    if d not in layers.COMPUTE_DTYPES:
      raise ValueError(f'unknown compute dtype {d!r}; choose from '
                       f'{", ".join(layers.COMPUTE_DTYPES)}')
  for sine in sines:
    if sine not in fast_sine.SINES:
      raise ValueError(f'unknown sine {sine!r}; choose from {", ".join(fast_sine.SINES)}')
  for c in torch_configs:
    if c not in TORCH_CONFIGS:
      raise ValueError(f'unknown --torch_configs entry {c!r}; choose from '
                       f'{", ".join(TORCH_CONFIGS)}')
  torch = common.try_import_torch() if use_torch else None
  batch, new_state = make_problem(image, size, width, hidden_layers, learning_rate, seed,
                                  resize_method=resize_method)
  k = steps_per_call

  # Each runner advances its own model by k optimiser steps and waits for the result.
  runners = {}
  step_1 = training.make_train_step(fitting.image_loss, steps_per_call=1)
  states = {}

  def jax_single() -> None:
    state = states['siren_jax, 1 step/call']
    for _ in range(k):
      state, _ = step_1(state, batch)
    states['siren_jax, 1 step/call'] = common.block(state)

  if single_step:
    states['siren_jax, 1 step/call'] = new_state()
    runners['siren_jax, 1 step/call'] = jax_single
    common.block(step_1(step_1(new_state(), batch)[0], batch))
  step_k = training.make_train_step(fitting.image_loss, steps_per_call=k)
  # (matmul precision, compute dtype, sine) of each siren_jax row; the same initial weights.
  variants = [(p, 'float32', 'auto') for p in matmul_precisions]
  variants += [('default', 'float32', sine) for sine in sines]
  variants += [('default', d, 'auto') for d in compute_dtypes if d != 'float32']
  for precision, compute_dtype, sine in variants:
    name = (f'siren_jax, {k} steps/call' + ('' if precision == 'default' else f', {precision}')
            + ('' if sine == 'auto' else f', sine={sine}')
            + ('' if compute_dtype == 'float32' else f', compute {compute_dtype}'))
    new = new_state if (compute_dtype, sine) == ('float32', 'auto') else make_problem(
        image, size, width, hidden_layers, learning_rate, seed, compute_dtype, sine,
        resize_method)[1]
    states[name] = new()
    with _precision_context(precision):  # Compile for fresh and for stepped states.
      common.block(step_k(step_k(new(), batch)[0], batch))

    def jax_scan(name=name, precision=precision) -> None:
      with _precision_context(precision):
        states[name] = common.block(step_k(states[name], batch)[0])

    runners[name] = jax_scan
  params = layers.flax_params_to_list(jax.device_get(new_state().params))
  fits = {}
  if torch is not None:
    for config in torch_configs:
      torch.manual_seed(0)
      fits[TORCH_NAMES[config]] = TorchFit(params, batch, learning_rate, config)
      fits[TORCH_NAMES[config]].warm_up()
    for name, fit in fits.items():
      runners[name] = lambda fit=fit: fit.steps(k)

  def psnr_of(name: str) -> float:
    if name in fits:
      prediction = fits[name].predict()
    else:
      state = states[name]
      prediction = state.apply_fn(state.params, batch['coords'])
    return float(metrics.psnr(jnp.asarray(prediction), batch['values']))

  # Alternating rounds (common.time_alternating's order), timed; PSNRs between rounds, untimed.
  times: dict[str, list[float]] = {name: [] for name in runners}
  reached: dict[str, dict[float, float | None]] = {
      name: {t: None for t in target_psnrs} for name in runners}
  for r in range(steps // k):
    round_times = common.time_alternating(runners if r % 2 == 0 else dict(
        reversed(list(runners.items()))), 1)
    for name, samples in round_times.items():
      times[name] += samples
    if target_psnrs:
      for name in runners:
        psnr = psnr_of(name)
        for target in target_psnrs:
          if reached[name][target] is None and psnr >= target:
            reached[name][target] = sum(times[name])
  rows = []
  torch_name = TORCH_NAMES['eager']
  torch_seconds = common.median(times[torch_name]) / k if torch_name in times else None
  for name, samples in times.items():
    seconds = common.median(samples) / k
    rows.append({'implementation': name, 'seconds_per_step': seconds,
                 'steps_per_second': 1.0 / seconds, 'psnr': psnr_of(name),
                 'speedup_vs_torch': torch_seconds / seconds if torch_seconds else None,
                 'seconds_to_psnr': reached[name]})
  headers = ['implementation', 's/step (median)', 'steps/s', f'PSNR after {steps} steps (dB)',
             'speed-up vs PyTorch eager']
  headers += [f's to {t:g} dB' for t in target_psnrs]
  body = common.table(headers, [
      [r['implementation'], r['seconds_per_step'], r['steps_per_second'], r['psnr'],
       r['speedup_vs_torch']] + [r['seconds_to_psnr'][t] for t in target_psnrs] for r in rows])
  notes = [f'{image} {size}x{size} grey ({resize_method} resize), SIREN width {width}, {hidden_layers} hidden layers, '
           f'Adam lr {learning_rate:g}, full batch, same initial weights (seed {seed}); '
           f'{steps // k} alternating rounds of {k} steps each; rows without sine= use the '
           f"default sine='auto' ({'fast_sine' if jax.devices()[0].platform == 'cpu' else 'jnp'} "
           f'on {jax.devices()[0].platform}).']
  if target_psnrs:
    notes.append(f'"s to X dB": summed training seconds (evaluations excluded) up to the end of '
                 f'the first round after which the model reached X dB, checked every {k} steps; '
                 '"-": not reached within the steps.')
  if torch is None:
    notes.append(common.NO_TORCH)
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
  flags.DEFINE_list('compute_dtypes', ['float32'], 'siren_jax compute dtypes (precision '
                    'policy of siren_jax.layers) to run with --steps_per_call steps per call.')
  flags.DEFINE_list('torch_configs', ['eager'], 'PyTorch configurations: ' + ', '.join(
      TORCH_CONFIGS) + '.')
  flags.DEFINE_list('target_psnrs', [], 'PSNRs (dB) whose time to reach is reported.')
  flags.DEFINE_integer('seed', 0, 'Seed of the shared initial weights.')
  flags.DEFINE_bool('single_step', True, 'Also time siren_jax with one step per call.')
  common.define_resize_method_flag()
  flags.DEFINE_list('sines', [], 'Extra rows with the sine forced: fast_sine, jnp (the '
                    'default rows use auto).')

  @main_with_clean_errors
  def main(argv: list[str]) -> None:
    del argv
    f = flags.FLAGS
    run(image=f.image, size=f.size, width=f.width, hidden_layers=f.hidden_layers,
        steps=f.steps, steps_per_call=f.steps_per_call, learning_rate=f.learning_rate,
        matmul_precisions=tuple(f.matmul_precisions), compute_dtypes=tuple(f.compute_dtypes),
        use_torch=f.torch, torch_configs=tuple(f.torch_configs),
        target_psnrs=tuple(_floats(f.target_psnrs, 'target_psnrs')), seed=f.seed,
        single_step=f.single_step,
        results_path=f.results or None, sines=tuple(f.sines), resize_method=f.resize_method)

  app.run(main)
