"""The one optimiser builder: optimiser settings as plain arguments (an experiment passes
``**config.optimizer``) -> an optax ``GradientTransformation``.

The default is the paper's setting, Adam at a constant learning rate, built as exactly
``optax.adam(learning_rate)`` (the same updates and the same state tree, so checkpoints written
before the builder existed restore into it). Options: a linear warm-up, then a cosine or step
decay of the learning rate, and global-norm gradient clipping.

Learning rate at update ``t`` (0, 1, ...: the optimiser's own count, so a resumed run continues
the schedule), with ``lr`` = learning_rate, ``W`` = warmup_steps, ``D`` = decay_steps:
  t < W       lr * t / W  (from 0, as optax's warm-up schedules; the first update is zero-size),
  then, with s = t - W:
  'constant'  lr,
  'cosine'    lr * (1 + cos(pi * min(s, D) / D)) / 2  (0 from s = D on),
  'step'      lr * decay_rate ** floor(s / D).
"""

from __future__ import annotations

import math
from typing import Any

import optax

OPTIMIZERS = ('adam',)
SCHEDULES = ('constant', 'cosine', 'step')


def _check_number(name: str, value: Any, *, positive: bool) -> None:
  ok = (isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
        and (value > 0 if positive else value >= 0))
  if not ok:
    raise ValueError(f'{name} must be a {"positive number" if positive else "number >= 0"}, '
                     f'got {value!r}')


def _check_steps(name: str, value: Any, minimum: int, why: str = '') -> None:
  if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
    raise ValueError(f'{name} must be an integer >= {minimum}{why}, got {value!r}')


def learning_rate_schedule(learning_rate: float, schedule: str = 'constant',
                           warmup_steps: int = 0, decay_steps: int = 0,
                           decay_rate: float = 0.1) -> float | optax.Schedule:
  """The learning rate per update (module docstring): a float when it is constant, else an
  optax schedule (update count -> learning rate).

  Args:
    learning_rate: the peak learning rate (> 0).
    schedule: one of ``SCHEDULES``.
    warmup_steps: updates of linear warm-up from 0 (>= 0; 0: none).
    decay_steps: 'cosine': updates from the peak to 0; 'step': updates between drops (>= 1 for
      both; unused by 'constant').
    decay_rate: 'step' only: the factor of each drop, in (0, 1].

  Raises:
    ValueError: naming the bad argument.
  """
  _check_number('learning_rate', learning_rate, positive=True)
  if schedule not in SCHEDULES:
    raise ValueError(f'schedule must be one of {", ".join(SCHEDULES)}, got {schedule!r}')
  _check_steps('warmup_steps', warmup_steps, 0)
  if schedule == 'constant':
    _check_steps('decay_steps', decay_steps, 0)
  else:
    _check_steps('decay_steps', decay_steps, 1, f' for schedule {schedule!r}')
  if not (isinstance(decay_rate, (int, float)) and not isinstance(decay_rate, bool)
          and 0 < decay_rate <= 1):
    raise ValueError(f'decay_rate must be in (0, 1], got {decay_rate!r}')
  if schedule == 'cosine':
    main = optax.cosine_decay_schedule(learning_rate, decay_steps=decay_steps)
  elif schedule == 'step':
    main = optax.exponential_decay(learning_rate, transition_steps=decay_steps,
                                  decay_rate=decay_rate, staircase=True)
  elif warmup_steps:
    main = optax.constant_schedule(learning_rate)
  else:
    return learning_rate
  if not warmup_steps:
    return main
  return optax.join_schedules(
      [optax.linear_schedule(0.0, learning_rate, warmup_steps), main], [warmup_steps])


def make_optimizer(name: str = 'adam', learning_rate: float = 1e-4, schedule: str = 'constant',
                   warmup_steps: int = 0, decay_steps: int = 0, decay_rate: float = 0.1,
                   clip_norm: float = 0.0) -> optax.GradientTransformation:
  """An optax optimiser from plain settings (module docstring).

  Args:
    name: one of ``OPTIMIZERS``.
    learning_rate, schedule, warmup_steps, decay_steps, decay_rate: the learning rate per
      update (``learning_rate_schedule``).
    clip_norm: > 0: gradients are scaled down to at most this global L2 norm before the
      optimiser sees them (``optax.clip_by_global_norm``); 0: no clipping.

  Returns:
    ``optax.adam(learning_rate)`` itself with the defaults of every other argument.

  Raises:
    ValueError: naming the bad argument.
  """
  if name not in OPTIMIZERS:
    raise ValueError(f'name must be one of {", ".join(OPTIMIZERS)}, got {name!r}')
  rate = learning_rate_schedule(learning_rate, schedule, warmup_steps, decay_steps, decay_rate)
  _check_number('clip_norm', clip_norm, positive=False)
  optimizer = optax.adam(rate)
  if clip_norm:
    return optax.chain(optax.clip_by_global_norm(clip_norm), optimizer)
  return optimizer
