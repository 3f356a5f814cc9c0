"""Train state, jit-compiled train steps and the shared training loop.

A loss function has the signature ``loss_fn(params, batch, apply_fn) -> (loss, metrics)`` where
``metrics`` is a dict of scalars; ``make_train_step`` turns it into a pure, jitted
``(state, batch) -> (state, metrics)`` that donates the old state's buffers. ``train_loop``
is written once for every experiment: it restores the latest checkpoint, steps, evaluates,
logs and saves, and returns the final state and the evaluation history.

Divergence guard (``nan_policy``): every jitted step also reports whether its loss and its
updated parameters and optimiser state are finite (metric ``nonfinite_steps``). 'stop' (the
default): ``train_loop`` reads that flag at its existing host syncs (log, eval, checkpoint and
the end; every save is preceded by one) and raises ``DivergenceError`` naming the first bad
step, before anything from that step on is evaluated or saved -- so only finite states ever reach
a checkpoint and rotation cannot push out the last good one. 'skip': the step itself keeps the
old parameters and optimiser state when the new ones are not finite (the step counter still
advances, so a resumed run sees the same data); the loop counts and logs the skipped steps.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax
from absl import logging
from flax.training import train_state

from siren_jax import checkpoints, errors, finite, models, sharding

Array = jax.Array
Batch = Any
Metrics = dict[str, Array]
LossFn = Callable[[Any, Batch, Callable[..., Array]], tuple[Array, Metrics]]
TrainState = train_state.TrainState
NAN_POLICIES = ('stop', 'skip')
# Metrics every step adds (read by train_loop, not logged): how many of the call's steps had a
# non-finite loss or update, and the index in the call of the first of them (steps_per_call
# if none).
NONFINITE_STEPS = 'nonfinite_steps'
FIRST_NONFINITE = 'first_nonfinite'
GUARD_METRICS = (NONFINITE_STEPS, FIRST_NONFINITE)


class Preempted(Exception):
  """``train_loop`` stopped on a preemption notice (``preempt_fn``) at ``step`` (None: before
  any step), after saving a checkpoint there; running the same loop again resumes there."""

  def __init__(self, message: str, step: int | None):
    super().__init__(message)
    self.step = step


class DivergenceError(errors.AdvisedError):
  """Training produced a non-finite loss or parameters (nan_policy 'stop'). A ValueError, so
  entry points report it as one line and exit 2."""

  def __init__(self, diagnosis: str, step: int, loss: float,
               advice: str = "lower the learning rate, or pass nan_policy='skip' to "
                             'make_train_step to drop such steps'):
    super().__init__(diagnosis, advice)
    self.step = step
    self.loss = loss


def create_train_state(model: nn.Module, key: Array, sample_input: Array,
                       optimizer: optax.GradientTransformation) -> TrainState:
  """Initialises ``model`` on ``sample_input`` (only its shape matters) with an optax optimiser."""
  params = model.init(key, sample_input)['params']
  return TrainState.create(apply_fn=models.apply_fn(model), params=params, tx=optimizer)


def make_train_step(loss_fn: LossFn, *, steps_per_call: int = 1, donate: bool = True,
                    mesh: jax.sharding.Mesh | None = None, param_sharding: str = 'replicate',
                    process_local_batches: bool = False, nan_policy: str = 'stop') -> TrainStep:
  """A ``TrainStep``: jitted ``(state, batch) -> (state, metrics)`` running ``steps_per_call``
  optimiser steps, data parallel over ``mesh``.

  Several steps per call (``lax.scan`` over the same batch, for full-batch fitting) save the
  per-dispatch overhead; ``metrics`` are those of the last step (of the first non-finite one,
  if any). The input state's buffers are donated (``donate``), so do not use it after the call.
  ``metrics`` also hold the guard's ``NONFINITE_STEPS`` and ``FIRST_NONFINITE`` (int32).

  Args:
    loss_fn: ``(params, batch, apply_fn) -> (loss, metrics)``.
    steps_per_call: optimiser steps per call (>= 1).
    donate: donate the input state's buffers.
    mesh: from ``sharding.make_mesh()``; None: all devices of all processes (one device on a
      plain CPU run). The batch is split along its leading axis over the mesh.
    param_sharding: 'replicate' or 'shard_kernels' (see ``sharding``).
    process_local_batches: host batches hold only this process's rows
      (``sharding.put_batch(process_local=True)``).
    nan_policy: 'stop' or 'skip' (module docstring): with 'skip', a step whose loss or new
      state is not finite leaves params and optimiser state unchanged.
  """
  if steps_per_call < 1:
    raise ValueError(f'steps_per_call must be >= 1, got {steps_per_call}')
  if nan_policy not in NAN_POLICIES:
    raise ValueError(f'nan_policy must be one of {", ".join(NAN_POLICIES)}, got {nan_policy!r}')

  def one_step(state: TrainState, batch: Batch) -> tuple[TrainState, Metrics]:
    grad_fn = jax.value_and_grad(loss_fn, has_aux=True)
    (loss, metrics), grads = grad_fn(state.params, batch, state.apply_fn)
    new = state.apply_gradients(grads=grads)
    # Reductions inside the jit: the flag costs no extra host round trip.
    ok = jnp.isfinite(loss) & finite.all_finite((new.params, new.opt_state))
    if nan_policy == 'skip':
      keep = lambda n, o: jnp.where(ok, n, o)  # noqa: E731
      new = new.replace(params=jax.tree.map(keep, new.params, state.params),
                        opt_state=jax.tree.map(keep, new.opt_state, state.opt_state))
    return new, {'loss': loss, **metrics, NONFINITE_STEPS: (~ok).astype(jnp.int32)}

  def step(state: TrainState, batch: Batch) -> tuple[TrainState, Metrics]:
    if steps_per_call == 1:
      state, metrics = one_step(state, batch)
      return state, {**metrics, FIRST_NONFINITE: jnp.where(metrics[NONFINITE_STEPS] > 0, 0, 1)}
    state, metrics = jax.lax.scan(lambda s, _: one_step(s, batch), state, None,
                                  length=steps_per_call)
    bad = metrics[NONFINITE_STEPS] > 0
    first = jnp.where(bad.any(), jnp.argmax(bad), steps_per_call)
    picked = jax.tree.map(lambda m: m[jnp.minimum(first, steps_per_call - 1)], metrics)
    return state, {**picked, NONFINITE_STEPS: metrics[NONFINITE_STEPS].sum(),
                   FIRST_NONFINITE: first.astype(jnp.int32)}

  return TrainStep(step, sharding.make_mesh() if mesh is None else mesh, param_sharding,
                   process_local_batches, (0,) if donate else (), steps_per_call, nan_policy)


class TrainStep:
  """The one step contract (from ``make_train_step``): a jitted step on a mesh.

  ``step(state, batch)`` places its inputs on the mesh (a no-op for arrays already in place) and
  runs one jit whose in- and out-shardings keep the state where ``place_state`` put it
  (compiled once per state shape); metrics come back replicated. ``place_batch`` a fixed batch
  once to save the copy per step; ``to_host`` gives whole host arrays of a (possibly sharded,
  multi-host) tree, e.g. the params, for evaluation and saving.
  """

  def __init__(self, step: Callable[[TrainState, Batch], tuple[TrainState, Metrics]],
               mesh: jax.sharding.Mesh, param_sharding: str, process_local_batches: bool,
               donate_argnums: tuple[int, ...], steps_per_call: int, nan_policy: str = 'stop'):
    sharding.state_shardings({}, mesh, param_sharding)  # Validates param_sharding now.
    self.mesh = mesh
    self.param_sharding = param_sharding
    self.steps_per_call = steps_per_call
    self.nan_policy = nan_policy
    self._step = step
    self._process_local = process_local_batches
    self._donate = donate_argnums
    # (tree structures, shapes) -> (state leaf shardings, jitted step).
    self._compiled: dict[Any, tuple[list[Any], Any]] = {}

  def place_state(self, state: TrainState) -> TrainState:
    return sharding.put_state(state, self.mesh, self.param_sharding)

  def place_batch(self, batch: Batch) -> Batch:
    return sharding.put_batch(batch, self.mesh, process_local=self._process_local)

  @staticmethod
  def to_host(tree: Any) -> Any:
    return sharding.to_host(tree)

  def _place_and_jit(self, state: TrainState, batch: Batch
                      ) -> tuple[TrainState, Batch, Any]:
    leaves, treedef = jax.tree.flatten(state)
    key = (treedef, jax.tree.structure(batch), tuple(np.shape(x) for x in leaves),
           tuple(np.shape(x) for x in jax.tree.leaves(batch)))
    if key not in self._compiled:
      state_sh = sharding.state_shardings(state, self.mesh, self.param_sharding)
      batch_sh = jax.tree.map(lambda _: sharding.batch_sharding(self.mesh), batch)
      self._compiled[key] = (jax.tree.leaves(state_sh), jax.jit(
          self._step, in_shardings=(state_sh, batch_sh),
          out_shardings=(state_sh, sharding.replicated(self.mesh)),
          donate_argnums=self._donate))
    leaf_shardings, jitted = self._compiled[key]
    # Placing is a no-op for leaves already in place (the usual case after the first step).
    state = jax.tree.unflatten(treedef,
                               [sharding.put(x, s) for x, s in zip(leaves, leaf_shardings)])
    return state, self.place_batch(batch), jitted

  def __call__(self, state: TrainState, batch: Batch) -> tuple[TrainState, Metrics]:
    state, batch, jitted = self._place_and_jit(state, batch)
    return jitted(state, batch)

  def lower(self, state: TrainState, batch: Batch) -> jax.stages.Lowered:
    """The step lowered for (placed copies of) these inputs, for ahead-of-time compilation:
    call the compiled step with ``place_state(state)`` and ``place_batch(batch)``."""
    state, batch, jitted = self._place_and_jit(state, batch)
    return jitted.lower(state, batch)


@dataclasses.dataclass
class LoopResult:
  """What ``train_loop`` returns.

  state: final train state, on the step's mesh. params: the same params as whole host arrays
  (for evaluation, rendering, saving). history: evaluation records ``{'step': int, **metrics}``
  from step 0 (restored ones included). seconds_per_step: median wall time per optimiser step
  over the intervals between host syncs in this process, the first (compiling) one excluded;
  None if too few. resumed_from: restored step or None. skipped_steps: steps whose update was
  dropped as non-finite (nan_policy 'skip'), over the whole run (restored runs included).
  train_seconds: per history record, seconds spent stepping (evaluations excluded) from step 0
  to it, across resumes.
  """
  state: TrainState
  params: Any
  history: list[dict[str, Any]]
  seconds_per_step: float | None
  resumed_from: int | None
  skipped_steps: int = 0
  train_seconds: list[float] = dataclasses.field(default_factory=list)


@jax.jit
def _track_nonfinite(guard: dict[str, Array], metrics: Metrics,
                     step_before: Array) -> dict[str, Array]:
  """Folds one call's guard metrics into the running record, on device (no host sync):
  total non-finite steps, the first bad step number (-1: none) and the loss there."""
  new_bad = (guard['first_step'] < 0) & (metrics[NONFINITE_STEPS] > 0)
  return {'count': guard['count'] + metrics[NONFINITE_STEPS],
          'first_step': jnp.where(new_bad, step_before + metrics[FIRST_NONFINITE] + 1,
                                  guard['first_step']),
          'loss': jnp.where(new_bad, metrics['loss'].astype(jnp.float32), guard['loss'])}


def train_loop(state: TrainState, train_step: TrainStep, batch_fn: Callable[[int], Batch], *,
               num_steps: int, eval_every: int = 0,
               eval_fn: Callable[[TrainState], dict[str, float]] | None = None,
               log_every: int = 0, log_fn: Callable[[int, dict[str, float]], None] | None = None,
               checkpoint_manager=None, checkpoint_every: int = 0,
               stop_fn: Callable[[dict[str, float]], bool] | None = None,
               preempt_fn: Callable[[int], bool] | None = None,
               profile_steps: tuple[int, int] | None = None,
               profile_dir: str | None = None) -> LoopResult:
  """Runs ``train_step`` from the latest checkpoint (or ``state``) to ``num_steps``.

  Args:
    state: initial state (also the template for restoring); placed on the step's mesh first, so
      a checkpoint restores straight into this run's layout, whatever devices wrote it.
    train_step: from ``make_train_step``; each call advances ``train_step.steps_per_call``
      steps, and every interval below must be a multiple of that.
    batch_fn: step -> batch; a pure function of the step, so a resumed run sees the same data.
    num_steps: total optimiser steps.
    eval_every: evaluate with ``eval_fn`` at step 0, every ``eval_every`` steps and at the end.
    eval_fn: state -> dict of floats, appended to the history; the state it gets holds whole
      host arrays as params (``TrainStep.to_host``), so it may evaluate them with any function.
    log_every: call ``log_fn(step, train_metrics)`` every ``log_every`` steps (0: never); the
      metrics include ``steps_per_sec`` over the interval since the previous host sync.
    checkpoint_manager: from ``checkpoints.make_manager``, or None for no checkpoints.
    checkpoint_every: save every this many steps (0: only at the end).
    stop_fn: evaluation record -> stop now (e.g. a target PSNR reached); checked after every
      evaluation and on resuming, so a resumed run stops where the first one did.
    preempt_fn: step -> stop for a preemption now (``siren_jax.preemption``); called at every
      step boundary before the next call of ``train_step``, and must answer the same on every
      process. True: the loop saves a checkpoint at that step (waiting for it) and raises
      ``Preempted``; running the loop again resumes there bit-identically.
    profile_steps: (first, last): a ``jax.profiler`` trace of the steps from ``first`` to
      ``last`` (0 <= first < last), written to the local directory ``profile_dir``.

  ``LoopResult.train_seconds`` gives, for each evaluation record, the wall time spent stepping
  since step 0 (evaluations excluded, carried over a resume) for time-to-quality curves; it is
  kept out of the records so that a resumed run's history equals an uninterrupted one's.

  Raises:
    DivergenceError: with ``train_step.nan_policy`` 'stop', at the first host sync after a
      non-finite step; the bad state is neither evaluated nor saved.
    Preempted: ``preempt_fn`` said so, after the checkpoint at that step is complete.
    ValueError: the latest restorable checkpoint is past ``num_steps`` (a longer run's).
  """
  steps_per_call = train_step.steps_per_call
  if profile_steps is not None:
    check_profile_steps(profile_steps)
    if not profile_dir:
      raise ValueError('profile_steps needs a profile_dir')
  for name, value in (('eval_every', eval_every), ('log_every', log_every),
                      ('checkpoint_every', checkpoint_every), ('num_steps', num_steps)):
    if value < 0 or value % steps_per_call:
      raise ValueError(f'{name}={value} must be >= 0 and a multiple of steps_per_call='
                       f'{steps_per_call}')
  state = train_step.place_state(state)
  history: list[dict[str, Any]] = []
  train_seconds: list[float] = []
  step = 0
  resumed_from = None
  skipped = 0  # Non-finite steps dropped (nan_policy 'skip') before this process started.
  last_saved = None
  if checkpoint_manager is not None:
    restored = checkpoints.restore_latest(checkpoint_manager, state)
    if restored is not None:
      state, record = restored
      history = list(record.get('history', []))
      skipped = int(record.get('skipped_steps', 0))
      train_seconds = list(record.get('train_seconds', []))
      train_seconds += [float('nan')] * (len(history) - len(train_seconds))
      step = resumed_from = last_saved = int(state.step)
      if step > num_steps:  # Returning it would pass a longer run off as this one.
        raise ValueError(f'{checkpoint_manager.directory} holds a checkpoint at step {step}, '
                         f'past num_steps={num_steps}')
      # Newer checkpoints that could not be restored would block saving at their steps.
      checkpoints.set_aside_newer(checkpoint_manager, step)
      logging.info('Resumed from checkpoint at step %d.', step)
  guard = {'count': jnp.zeros((), jnp.int32), 'first_step': jnp.full((), -1, jnp.int32),
           'loss': jnp.zeros((), jnp.float32)}
  checked = {'count': 0}  # The guard as last read on the host.

  # Stepping time of earlier runs of this loop (restored) plus this one's, evaluation excluded.
  seconds_before = train_seconds[-1] if train_seconds else 0.0
  stepping = {'seconds': 0.0, 'since': time.perf_counter()}

  def evaluate() -> None:
    if eval_fn is not None and (not history or history[-1]['step'] != step):
      stepping['seconds'] += time.perf_counter() - stepping['since']
      host_state = state.replace(params=train_step.to_host(state.params))
      scalars = {k: float(v) for k, v in eval_fn(host_state).items()}
      record = {'step': step, **scalars}
      if train_step.nan_policy == 'skip':  # So the history says how much training was dropped.
        record['skipped_steps'] = skipped + checked['count']
      history.append(record)
      train_seconds.append(seconds_before + stepping['seconds'])
      stepping['since'] = time.perf_counter()

  def stop_requested() -> bool:
    return bool(stop_fn is not None and history and history[-1]['step'] == step
                and stop_fn(history[-1]))

  def save(wait: bool) -> None:
    nonlocal last_saved
    if checkpoint_manager is not None:
      record: dict[str, Any] = {'history': history, 'train_seconds': train_seconds}
      if train_step.nan_policy == 'skip':
        record['skipped_steps'] = skipped + checked['count']
      checkpoints.save(checkpoint_manager, step, state, record, wait=wait)
      last_saved = step

  def check_guard(host_guard: dict[str, Any]) -> None:
    """Raises DivergenceError (policy 'stop') or logs newly skipped steps (policy 'skip')."""
    count = int(host_guard['count'])
    if count and train_step.nan_policy == 'stop':
      bad_step, loss = int(host_guard['first_step']), float(host_guard['loss'])
      kept = (f'the last good checkpoint is step {last_saved}' if last_saved is not None
              else 'no checkpoint was saved')
      raise DivergenceError(
          f'training diverged at step {bad_step}: loss {loss:.4g}, and the loss or the updated '
          f'parameters are not finite; nothing from that step on was saved ({kept})', bad_step,
          loss)
    if count > checked['count']:
      logging.warning('Skipped %d non-finite step(s) up to step %d (nan_policy=skip; %d in '
                      'all); lower the learning rate if this keeps happening.',
                      count - checked['count'], step, skipped + count)
    checked['count'] = count

  if step == 0 and eval_every:
    evaluate()
  stopped = stop_requested()
  interval_times = []  # Seconds per step over each interval between host syncs.
  interval_start, interval_steps = time.perf_counter(), 0

  def preempted() -> None:
    """Saves this step (unless saved, or nothing was trained) and raises Preempted."""
    if step != last_saved and step > 0:
      check_guard(jax.device_get(guard))
      save(wait=True)
    elif checkpoint_manager is not None:
      checkpoint_manager.wait_until_finished()
    where = (f'saved a checkpoint at step {step}' if step > 0 and checkpoint_manager is not None
             else 'nothing to save yet' if step == 0 else 'no checkpoint manager: not saved')
    raise Preempted(f'preempted at step {step}: {where}', step if step > 0 else None)

  def finish_writes() -> None:
    """Waits for the checkpoint being written in the background. Starting or stopping a
    profiler trace while orbax's writer threads run crashed the process (a segfault inside
    jax.profiler.stop_trace, seen on CPU), so a trace starts and stops with no write in flight."""
    if checkpoint_manager is not None:
      checkpoint_manager.wait_until_finished()

  def stop_trace() -> None:
    finish_writes()
    jax.profiler.stop_trace()

  profiling = False
  while step < num_steps and not stopped:
    if preempt_fn is not None and preempt_fn(step):
      if profiling:
        stop_trace()
      preempted()
    if profile_steps is not None and not profiling and profile_steps[0] <= step < profile_steps[1]:
      finish_writes()
      jax.profiler.start_trace(str(profile_dir))
      profiling = True
    state, metrics = train_step(state, batch_fn(step))
    guard = _track_nonfinite(guard, metrics, step)
    step += steps_per_call
    interval_steps += steps_per_call
    if profiling and (step >= profile_steps[1] or step >= num_steps):  # type: ignore[index]
      jax.block_until_ready(state)  # The trace holds the device's work, not only its dispatch.
      stop_trace()
      profiling = False
    do_log = bool(log_fn is not None and log_every and step % log_every == 0)
    do_eval = bool(eval_every and step % eval_every == 0) or step == num_steps
    do_save = bool(checkpoint_every and step % checkpoint_every == 0) and step < num_steps
    if not (do_log or do_eval or do_save):
      continue  # No host round trip between boundaries: dispatch runs ahead.
    metrics, host_guard = jax.device_get((metrics, guard))
    interval_times.append((time.perf_counter() - interval_start) / interval_steps)
    check_guard(host_guard)  # Before anything reads, evaluates or saves this state.
    if do_log and log_fn is not None:
      log_fn(step, {**{k: float(v) for k, v in metrics.items() if k not in GUARD_METRICS},
                    'steps_per_sec': 1.0 / interval_times[-1]})
    if do_eval:
      evaluate()
      stopped = stop_requested()
    if do_save and not stopped:
      save(wait=False)
    interval_start, interval_steps = time.perf_counter(), 0
  if profiling:  # Stopped early (stop_fn) inside the traced steps.
    stop_trace()
  if step != resumed_from:  # A finished run restarted has nothing new (orbax refuses a resave).
    save(wait=True)  # The loop always ends on a checked sync (step == num_steps evaluates).
  timed = sorted(interval_times[1:])  # The first interval includes compilation.
  seconds = float(timed[len(timed) // 2]) if timed else None
  return LoopResult(state, train_step.to_host(state.params), history, seconds, resumed_from,
                    skipped + checked['count'], train_seconds)


def check_profile_steps(profile_steps: tuple[int, int]) -> None:
  """Raises ValueError unless ``profile_steps`` is (first, last) with 0 <= first < last."""
  if (len(profile_steps) != 2 or not all(isinstance(s, int) for s in profile_steps)
      or not 0 <= profile_steps[0] < profile_steps[1]):
    raise ValueError(f'profile steps must be two integers FIRST < LAST, FIRST >= 0, got '
                     f'{tuple(profile_steps)}')
