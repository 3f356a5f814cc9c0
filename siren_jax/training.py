"""Train state, jit-compiled train steps and the shared training loop.

A loss function has the signature ``loss_fn(params, batch, apply_fn) -> (loss, metrics)`` where
``metrics`` is a dict of scalars; ``make_train_step`` turns it into a pure, jitted
``(state, batch) -> (state, metrics)`` that donates the old state's buffers. ``train_loop``
is written once for every experiment: it restores the latest checkpoint, steps, evaluates,
logs and saves, and returns the final state and the evaluation history.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import optax
from absl import logging
from flax.training import train_state

from siren_jax import checkpoints

Array = jax.Array
Batch = Any
Metrics = dict[str, Array]
LossFn = Callable[[Any, Batch, Callable[..., Array]], tuple[Array, Metrics]]
TrainState = train_state.TrainState


def create_train_state(model: nn.Module, key: Array, sample_input: Array,
                       optimizer: optax.GradientTransformation) -> TrainState:
  """Initialises ``model`` on ``sample_input`` (only its shape matters) with an optax optimiser."""
  params = model.init(key, sample_input)['params']
  return TrainState.create(apply_fn=lambda p, x: model.apply({'params': p}, x), params=params,
                           tx=optimizer)


def make_train_step(loss_fn: LossFn, *, steps_per_call: int = 1,
                    donate: bool = True) -> Callable[[TrainState, Batch], tuple[TrainState, Metrics]]:
  """A jitted ``(state, batch) -> (state, metrics)`` running ``steps_per_call`` optimiser steps.

  Several steps per call (``lax.scan`` over the same batch, for full-batch fitting) save the
  per-dispatch overhead; ``metrics`` are those of the last step. The input state's buffers are
  donated, so do not use it after the call.
  """
  if steps_per_call < 1:
    raise ValueError(f'steps_per_call must be >= 1, got {steps_per_call}')

  def one_step(state: TrainState, batch: Batch) -> tuple[TrainState, Metrics]:
    grad_fn = jax.value_and_grad(loss_fn, has_aux=True)
    (loss, metrics), grads = grad_fn(state.params, batch, state.apply_fn)
    return state.apply_gradients(grads=grads), {'loss': loss, **metrics}

  def step(state: TrainState, batch: Batch) -> tuple[TrainState, Metrics]:
    if steps_per_call == 1:
      return one_step(state, batch)
    state, metrics = jax.lax.scan(lambda s, _: one_step(s, batch), state, None,
                                  length=steps_per_call)
    return state, jax.tree.map(lambda m: m[-1], metrics)

  return jax.jit(step, donate_argnums=(0,) if donate else ())


@dataclasses.dataclass
class LoopResult:
  """What ``train_loop`` returns.

  state: final train state. history: evaluation records ``{'step': int, **metrics}`` from step 0
  (restored ones included). seconds_per_step: median wall time per optimiser step over the intervals between host
  syncs in this process, the first (compiling) one excluded; nan if too few. resumed_from:
  restored step or None.
  """
  state: TrainState
  history: list[dict[str, Any]]
  seconds_per_step: float
  resumed_from: int | None


def train_loop(state: TrainState, train_step: Callable[[TrainState, Batch], tuple[TrainState, Metrics]],
               batch_fn: Callable[[int], Batch], *, num_steps: int, steps_per_call: int = 1,
               eval_every: int = 0, eval_fn: Callable[[TrainState], dict[str, float]] | None = None,
               log_every: int = 0, log_fn: Callable[[int, dict[str, float]], None] | None = None,
               checkpoint_manager=None, checkpoint_every: int = 0) -> LoopResult:
  """Runs ``train_step`` from the latest checkpoint (or ``state``) to ``num_steps``.

  Args:
    state: initial state (also the template for restoring).
    train_step: from ``make_train_step(..., steps_per_call=steps_per_call)``.
    batch_fn: step -> batch; a pure function of the step, so a resumed run sees the same data.
    num_steps: total optimiser steps.
    steps_per_call: steps each ``train_step`` call advances; every interval must be a multiple.
    eval_every: evaluate with ``eval_fn`` at step 0, every ``eval_every`` steps and at the end.
    eval_fn: state -> dict of floats, appended to the history.
    log_every: call ``log_fn(step, train_metrics)`` every ``log_every`` steps (0: never).
    checkpoint_manager: from ``checkpoints.make_manager``, or None for no checkpoints.
    checkpoint_every: save every this many steps (0: only at the end).
  """
  for name, value in (('eval_every', eval_every), ('log_every', log_every),
                      ('checkpoint_every', checkpoint_every), ('num_steps', num_steps)):
    if value < 0 or value % steps_per_call:
      raise ValueError(f'{name}={value} must be >= 0 and a multiple of steps_per_call='
                       f'{steps_per_call}')
  history: list[dict[str, Any]] = []
  step = 0
  resumed_from = None
  if checkpoint_manager is not None:
    restored = checkpoints.restore_latest(checkpoint_manager, state)
    if restored is not None:
      state, record = restored
      history = list(record.get('history', []))
      step = resumed_from = int(state.step)
      logging.info('Resumed from checkpoint at step %d.', step)

  def evaluate() -> None:
    if eval_fn is not None and (not history or history[-1]['step'] != step):
      history.append({'step': step, **{k: float(v) for k, v in eval_fn(state).items()}})

  def save(wait: bool) -> None:
    if checkpoint_manager is not None:
      checkpoints.save(checkpoint_manager, step, state, {'history': history}, wait=wait)

  if step == 0 and eval_every:
    evaluate()
  interval_times = []  # Seconds per step over each interval between host syncs.
  interval_start, interval_steps = time.perf_counter(), 0
  while step < num_steps:
    state, metrics = train_step(state, batch_fn(step))
    step += steps_per_call
    interval_steps += steps_per_call
    do_log = bool(log_fn is not None and log_every and step % log_every == 0)
    do_eval = bool(eval_every and step % eval_every == 0) or step == num_steps
    do_save = bool(checkpoint_every and step % checkpoint_every == 0) and step < num_steps
    if not (do_log or do_eval or do_save):
      continue  # No host round trip between boundaries: dispatch runs ahead.
    metrics = jax.device_get(metrics)
    interval_times.append((time.perf_counter() - interval_start) / interval_steps)
    if do_log:
      log_fn(step, {k: float(v) for k, v in metrics.items()})
    if do_eval:
      evaluate()
    if do_save:
      save(wait=False)
    interval_start, interval_steps = time.perf_counter(), 0
  if step != resumed_from:  # A rerun of a finished run already has this step's checkpoint.
    save(wait=True)
  timed = sorted(interval_times[1:])  # The first interval includes compilation.
  seconds = float(timed[len(timed) // 2]) if timed else float('nan')
  return LoopResult(state, history, seconds, resumed_from)


def mse(prediction: Array, target: Array) -> Array:
  """Mean squared error over all elements."""
  return jnp.mean((prediction - target) ** 2)
