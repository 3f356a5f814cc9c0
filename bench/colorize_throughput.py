r"""Colourisation throughput: images/s of the FR, SRS and S130 conv colourisers and the FC SIREN.

Each model is timed for inference (jitted forward on a batch) and for training (one jitted
``training.make_train_step`` step of MSE on the target, Adam), at the report's default sizes:
conv colourisers 256x256 grey in, batch 20, Wallner's widths (``--width_scale=1``); the FC SIREN
48x48 grey in, 3*48*48 RGB out, hidden width 3*48*48, batch 70. Inputs are random (throughput
does not depend on the pixels). Needs ``siren_jax.colorize.colorizers``; without it the script
says so and exits.

  python -m bench.colorize_throughput
  python -m bench.colorize_throughput --conv_size=64 --conv_batch=4 --width_scale=0.25 \
      --fc_size=16 --fc_batch=16        # a quick look on a small CPU
"""

from __future__ import annotations

from typing import Any

import jax
import optax
from absl import app, flags

from bench import common
from experiments.common import main_with_clean_errors
from siren_jax import metrics, names, training
from siren_jax.colorize import colorizers

def _mse_loss(params: Any, batch: dict[str, jax.Array], apply_fn) -> tuple[jax.Array, dict]:
  return metrics.mse(apply_fn(params, batch['inputs']), batch['targets']), {}


def time_model(model, inputs: jax.Array, targets: jax.Array, steps: int) -> dict[str, float]:
  """Median seconds of a jitted forward pass and of a train step on one batch."""
  state = training.create_train_state(model, jax.random.PRNGKey(0), inputs,
                                      optax.adam(1e-4))
  forward = jax.jit(state.apply_fn)
  step = training.make_train_step(_mse_loss)
  batch = {'inputs': inputs, 'targets': targets}
  common.block(forward(state.params, inputs))
  state = common.block(step(state, batch)[0])  # Compiles.
  holder = {'state': state}

  def train() -> None:
    holder['state'] = common.block(step(holder['state'], batch)[0])

  times = common.time_alternating(
      {'forward': lambda: common.block(forward(holder['state'].params, inputs)),
       'train': train}, steps)
  return {k: common.median(v) for k, v in times.items()}


def run(*, conv_size: int = 256, conv_batch: int = 20, width_scale: float = 1.0,
        fc_size: int = 48, fc_batch: int = 70, steps: int = 3, models: tuple[str, ...] = (
            'FR', 'SRS', 'S130', 'FC'),
        results_path: str | None = common.DEFAULT_RESULTS) -> dict[str, Any]:
  """Times every model; prints and appends the table; returns the numbers."""
  for name, value in (('conv_size', conv_size), ('conv_batch', conv_batch),
                      ('fc_size', fc_size), ('fc_batch', fc_batch), ('steps', steps)):
    if value < 1:
      raise ValueError(f'--{name} must be >= 1, got {value}')
  for name in models:
    if name not in names.COLORIZER_MODELS:
      raise ValueError(f'unknown model {name!r}; choose from FR, SRS, S130, FC')
  keys = jax.random.split(jax.random.PRNGKey(0), 4)
  rows, out = [], {}
  for name in models:
    if name == 'FC':
      model = colorizers.FCColorizer(height=fc_size, width=fc_size)
      size, batch = fc_size, fc_batch
      targets = jax.random.uniform(keys[1], (batch, size, size, 3), minval=-1, maxval=1)
      label = f'FC SIREN (hidden {3 * size * size})'
    else:
      model = colorizers.Colorizer(schedule=name, width_scale=width_scale)
      size, batch = conv_size, conv_batch
      targets = jax.random.uniform(keys[1], (batch, size, size, 2), minval=-1, maxval=1)
      label = f'{name} conv (width x{width_scale:g})'
    inputs = jax.random.uniform(keys[0], (batch, size, size, 1), minval=-1, maxval=1)
    seconds = time_model(model, inputs, targets, steps)
    out[name] = seconds
    rows.append([label, f'{size}^2', batch, seconds['forward'], batch / seconds['forward'],
                 seconds['train'], batch / seconds['train']])
  body = common.table(['model', 'input', 'batch', 'forward s', 'inference images/s',
                       'train step s', 'training images/s'], rows)
  notes = [f'Medians of {steps} alternating forward/train calls after compiling; random '
           'inputs; no fusion embedding; Adam, MSE.']
  common.report('Colourisation throughput', body, results_path, notes)
  return out


if __name__ == '__main__':
  flags.DEFINE_integer('conv_size', 256, 'Side of the conv colourisers\' input.')
  flags.DEFINE_integer('conv_batch', 20, 'Conv colouriser batch size.')
  flags.DEFINE_float('width_scale', 1.0, 'Channel multiplier of the conv colourisers.')
  flags.DEFINE_integer('fc_size', 48, 'Side of the FC SIREN\'s input piece.')
  flags.DEFINE_integer('fc_batch', 70, 'FC SIREN batch size.')
  flags.DEFINE_integer('steps', 3, 'Timed calls per model.')
  flags.DEFINE_list('models', ['FR', 'SRS', 'S130', 'FC'], 'Models to time.')
  common.define_results_flag()

  @main_with_clean_errors
  def main(argv: list[str]) -> None:
    del argv
    f = flags.FLAGS
    run(conv_size=f.conv_size, conv_batch=f.conv_batch, width_scale=f.width_scale,
        fc_size=f.fc_size, fc_batch=f.fc_batch, steps=f.steps, models=tuple(f.models),
        results_path=f.results or None)

  app.run(main)
