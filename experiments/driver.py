"""The one training driver of every experiment: state -> step -> checkpoints -> logs/TensorBoard
-> ``siren_jax.training.train_loop``.

``run`` wires a train state and a loss to the shared loop (checkpoints under
``WORKDIR/checkpoints/<tag>``, progress logs and TensorBoard scalars under ``tag``, data
parallel over all devices); ``train_field`` builds a field model (or T tiles of it, fitted
together) from a config's ``model`` and ``optimizer`` groups and runs it. Fit_image, poisson,
resize, the colourisers and the held-out colourisation protocol all train through here.

Run identity: ``run`` takes a ``fingerprint`` (a JSON-able dict of what defines the run: the
result-changing config fields, the data's content hash, its source) and keeps it in
``checkpoints/<tag>/run.json``, written before the first checkpoint. Resuming checkpoints whose
fingerprint differs is a one-line error naming the differing fields; ``resume=False``
(``--config.resume=False``) deletes the tag's checkpoints, says so, and starts over. Steps,
logging/eval/checkpoint cadence, chunk sizes and output paths are not part of a fingerprint, so
raising ``steps`` resumes and trains on.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import os
import tempfile
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
from absl import logging
from etils import epath

from experiments import common, figures
from siren_jax import checkpoints as ckpt
from siren_jax import (errors, fast_sine, files, fitting, grids, images, init_file, metrics,
                       models, optimizers, preemption, render, sampling, sharding, tiling,
                       training)
from siren_jax.models import fields

EvalFn = Callable[[training.TrainState], dict[str, float]]
# Host-params state -> TensorBoard images {name: (H, W, 1 or 3) in [0, 1]}, at each evaluation.
ImageFn = Callable[[training.TrainState], dict[str, np.ndarray]]
PROFILE_DIR = 'profile'  # WORKDIR/profile/<tag>/: jax.profiler traces (config.profile_steps).
RUN_FILE = 'run.json'  # The fingerprint of the run whose checkpoints sit beside it.
# The library's advice on a diverged run and on checkpoints it cannot resume, in config terms.
DIVERGENCE_ADVICE = ('lower config.optimizer.learning_rate, or set config.nan_policy=skip to drop '
                     'such steps')
RESTORE_ADVICE = 'use a fresh --workdir, or --config.resume=False to delete them and start over'


@dataclasses.dataclass(frozen=True)
class Schedule:
  """Steps of a run; every interval a multiple of ``steps_per_call`` (0: never / only at the
  end for checkpoints)."""
  num_steps: int
  steps_per_call: int = 1
  log_every: int = 0
  eval_every: int = 0
  checkpoint_every: int = 0

  @classmethod
  def from_config(cls, config: ml_collections.ConfigDict) -> Schedule:
    """From a field config's steps, steps_per_call, log_every, eval_every, checkpoint_every."""
    return cls(config.steps, config.steps_per_call, config.log_every, config.eval_every,
               config.checkpoint_every)


def checkpoint_dir(workdir: str, tag: str) -> str:
  """Where ``run`` keeps the checkpoints of run ``tag``."""
  return os.path.join(workdir, 'checkpoints', tag)


def run(state: training.TrainState, loss_fn: training.LossFn, *, workdir: str, tag: str,
        schedule: Schedule, writer: common.ScalarWriter,
        batch: Any = None, batch_fn: Callable[[int], Any] | None = None,
        eval_fn: EvalFn | None = None, param_sharding: str = 'replicate',
        process_local_batches: bool = True,
        progress: Callable[[int], str] | None = None,
        fingerprint: dict[str, Any] | None = None, resume: bool = True,
        nan_policy: str = 'stop', target_psnr: float = 0.0,
        image_fn: ImageFn | None = None, profile_steps: str = '') -> training.LoopResult:
  """Trains ``state`` under ``loss_fn`` to ``schedule.num_steps``, resuming from
  ``workdir/checkpoints/<tag>`` when a checkpoint is there.

  Args:
    state: the initial train state (template for restoring).
    loss_fn: ``(params, batch, apply_fn) -> (loss, metrics)``.
    workdir, tag: checkpoints go to ``workdir/checkpoints/<tag>``; logs and TensorBoard
      scalars are labelled ``tag``.
    schedule: steps and intervals.
    writer: TensorBoard writer (``<tag>/train/*`` and ``<tag>/eval/*`` scalars).
    batch: a fixed global batch (rows along axis 0), placed on the devices once; or
    batch_fn: step -> batch (this process's rows when ``process_local_batches``).
    eval_fn: host-params state -> scalars, at every evaluation.
    param_sharding: 'replicate' or 'shard_kernels' (``siren_jax.sharding``).
    process_local_batches: host batches hold only this process's rows.
    progress: step -> the label of a progress log line (default ``tag``).
    target_psnr: > 0: stop at the first evaluation whose 'psnr' reaches it (time-to-quality).
    fingerprint: what defines the run (module docstring); None: not checked.
    resume: False deletes the tag's checkpoints first (logged) instead of resuming them.
    nan_policy: 'stop' or 'skip' (``siren_jax.training``).
    image_fn: with ``eval_fn``, images for TensorBoard (``<tag>/images/*``) at every evaluation.
    profile_steps: 'A,B' (``parse_profile_steps``): a jax.profiler trace of steps A to B in
      ``WORKDIR/profile/<tag>/``; '' none.

  A preemption notice (``siren_jax.preemption``, installed by the entry point) stops the loop at
  the next step boundary with a checkpoint there (``training.Preempted``). Progress lines carry
  an ETA; the state's parameter count goes into WORKDIR/config.json.

  Raises:
    ValueError: the checkpoints belong to another run or none can be restored;
      training.DivergenceError (a ValueError) when training diverges under nan_policy 'stop',
      prefixed with ``[tag]``. Their advice names the config fields.
  """
  if (batch is None) == (batch_fn is None):
    raise ValueError('give exactly one of batch and batch_fn')
  step_fn = _train_step(loss_fn, schedule.steps_per_call, param_sharding,
                        process_local_batches, nan_policy)
  if batch is not None:
    rows = sharding.process_slice(len(jax.tree.leaves(batch)[0]))
    placed = step_fn.place_batch(  # Once, not every step.
        jax.tree.map(lambda x: x[rows], batch) if process_local_batches else batch)
    batch_fn = lambda step: placed  # noqa: E731

  eta = common.Eta(schedule.num_steps)

  def log_fn(step: int, scalars: dict[str, float]) -> None:
    common.log_progress(progress(step) if progress else tag, step, schedule.num_steps, scalars,
                        eta(step, scalars.get('steps_per_sec')))
    writer.write(step, scalars, prefix=f'{tag}/train/')

  def eval_and_write(state: training.TrainState) -> dict[str, float]:
    scalars = eval_fn(state)
    writer.write(int(state.step), scalars, prefix=f'{tag}/eval/')
    if image_fn is not None:
      writer.write_images(int(state.step), image_fn(state), prefix=f'{tag}/images/')
    return scalars

  profile = parse_profile_steps(profile_steps)
  common.record_parameters(workdir, tag, parameter_count(state.params))
  claim_checkpoints(checkpoint_dir(workdir, tag), fingerprint, resume, schedule.num_steps)
  manager = ckpt.make_manager(checkpoint_dir(workdir, tag))
  trace_dir = tempfile.mkdtemp(prefix='siren_jax_profile_') if profile else None
  try:
    return training.train_loop(
        state, step_fn, batch_fn, num_steps=schedule.num_steps,
        eval_every=schedule.eval_every, eval_fn=eval_and_write if eval_fn else None,
        log_every=schedule.log_every, log_fn=log_fn, checkpoint_manager=manager,
        checkpoint_every=schedule.checkpoint_every,
        stop_fn=_target_reached(target_psnr, tag) if target_psnr > 0 else None,
        preempt_fn=preemption.installed(), profile_steps=profile, profile_dir=trace_dir)
  except training.DivergenceError as e:
    raise training.DivergenceError(f'[{tag}] {e.diagnosis}', e.step, e.loss,
                                   DIVERGENCE_ADVICE) from None
  except ckpt.RestoreError as e:
    raise ckpt.RestoreError(e.diagnosis, RESTORE_ADVICE) from None
  except training.Preempted as e:
    raise training.Preempted(f'[{tag}] {e} in {checkpoint_dir(workdir, tag)}', e.step) from None
  finally:
    manager.close()  # Waits for pending saves: the last good checkpoint is complete on disk.
    if trace_dir is not None:
      copy_tree(trace_dir, os.path.join(workdir, PROFILE_DIR, tag))


def parameter_count(params: Any) -> int:
  """Number of scalars in a parameter pytree."""
  return int(sum(np.size(leaf) for leaf in jax.tree.leaves(params)))


def parse_profile_steps(text: str) -> tuple[int, int] | None:
  """config.profile_steps 'A,B' -> (A, B) with 0 <= A < B; '' -> None. Raises ValueError (one
  line) otherwise."""
  if not text:
    return None
  try:
    first, last = (int(p) for p in str(text).split(','))
    training.check_profile_steps((first, last))
  except ValueError:
    raise ValueError(f'config.profile_steps must be FIRST,LAST with 0 <= FIRST < LAST (the '
                     f'optimiser steps to trace), got {text!r}') from None
  return first, last


def copy_tree(source: str, target: str) -> None:
  """Copies local directory ``source`` into ``target`` (a local path or a URL) through epath,
  then deletes ``source``."""
  files.copy_tree(source, target)
  epath.Path(source).rmtree()
  if common.is_main_process():
    logging.info('Profile trace in %s (TensorBoard: --logdir %s, Profile tab; or open its '
                 '*.trace.json.gz in ui.perfetto.dev).', target, os.path.dirname(target))


@functools.lru_cache(maxsize=8)
def _train_step(loss_fn: training.LossFn, steps_per_call: int, param_sharding: str,
                process_local_batches: bool, nan_policy: str) -> training.TrainStep:
  """One ``training.TrainStep`` per loss and settings: runs that share them (the held-out
  protocol's folds and seeds, whose states share apply_fn and tx) reuse its compiled step."""
  return training.make_train_step(loss_fn, steps_per_call=steps_per_call,
                                  param_sharding=param_sharding,
                                  process_local_batches=process_local_batches,
                                  nan_policy=nan_policy)


# Run identity (fingerprints) and resume=False.

def content_hash(tree: Any) -> str:
  """sha256 (hex) of the dtypes, shapes and bytes of a pytree of arrays (e.g. a batch)."""
  digest = hashlib.sha256()
  for leaf in jax.tree.leaves(jax.device_get(tree)):
    leaf = np.ascontiguousarray(leaf)
    digest.update(f'{leaf.dtype}{leaf.shape}'.encode())
    digest.update(leaf.tobytes())
  return digest.hexdigest()


def stored_fingerprint(workdir: str, tag: str) -> dict[str, Any] | None:
  """The fingerprint of run ``tag`` in ``workdir`` (its run.json); None without one."""
  path = epath.Path(checkpoint_dir(workdir, tag)) / RUN_FILE
  return json.loads(path.read_text()) if path.exists() else None


def _checkpoint_steps(path: epath.Path) -> list[int]:
  return sorted(int(p.name) for p in path.iterdir() if p.name.isdigit()) if path.exists() else []


def _show(value: Any) -> str:
  text = repr(value)
  return text if len(text) <= 40 else text[:37] + '...'


def _differences(stored: dict[str, Any], current: dict[str, Any], prefix: str = '') -> list[str]:
  differences = []
  for key in sorted(set(stored) | set(current)):
    there, here = stored.get(key), current.get(key)
    if isinstance(there, dict) and isinstance(here, dict):
      differences += _differences(there, here, f'{prefix}{key}.')
    elif there != here:
      differences.append(f'{prefix}{key}: {_show(there)} there, {_show(here)} here')
  return differences


def fingerprint_differences(stored: dict[str, Any], current: dict[str, Any]) -> list[str]:
  """'field: X there, Y here' for every field that differs (fields of a group on both sides
  dotted, e.g. 'model.hidden_features'; a group on one side only is one entry; values
  JSON-normalised, as stored)."""
  return _differences(stored, json.loads(json.dumps(current)))


def claim_checkpoints(directory: str, fingerprint: dict[str, Any] | None,
                      resume: bool = True, num_steps: int | None = None) -> None:
  """Makes ``directory`` hold this run's checkpoints before training starts.

  resume=False: deletes whatever is there (logged). Otherwise checkpoints there must carry
  this ``fingerprint`` (ValueError naming the differing fields) and, with ``num_steps``, none
  may be past it (ValueError: resuming one would return a longer run's state and history as
  this run's); checkpoints without a fingerprint (older versions) are resumed with a warning.
  Then writes the fingerprint.
  """
  path = epath.Path(directory)
  steps = _checkpoint_steps(path)
  fingerprinted = bool(steps) and (path / RUN_FILE).exists()
  if not resume:
    if path.exists():
      logging.warning('config.resume=False: deleting %s (checkpoints at steps %s) and starting '
                      'over.', directory, ', '.join(map(str, steps)) or 'none')
      if common.is_main_process():
        path.rmtree()
      _barrier('driver.claim_checkpoints')
  else:
    if fingerprinted:
      stored = json.loads((path / RUN_FILE).read_text())
      differences = fingerprint_differences(stored, fingerprint) if fingerprint else []
      if differences:
        raise ValueError(
            f'{directory} holds checkpoints (steps {", ".join(map(str, steps))}) of a different '
            f'run ({"; ".join(differences)}); {RESTORE_ADVICE}')
    elif steps:
      logging.warning('%s holds checkpoints without a %s (an older version wrote them): '
                      'resuming them without checking that they belong to this run.',
                      directory, RUN_FILE)
    if num_steps is not None and steps and steps[-1] > num_steps:
      raise ValueError(
          f'{directory} holds checkpoints up to step {steps[-1]}, past this run\'s {num_steps} '
          f'steps; train to at least {steps[-1]} steps, {RESTORE_ADVICE}')
    if fingerprinted:
      return  # Its run.json is this run's already.
  if fingerprint is not None and common.is_main_process():
    path.mkdir(parents=True, exist_ok=True)
    common.write_json(str(path / RUN_FILE), fingerprint)


def _barrier(name: str) -> None:
  if jax.process_count() > 1:
    from jax.experimental import multihost_utils  # Only multi-host runs need it.
    multihost_utils.sync_global_devices(name)


# Field models (fit_image, poisson, resize).

def check_model_fields(config: ml_collections.ConfigDict, field: str = 'model.name'
                       ) -> list[str]:
  """One-line errors naming the bad model/optimiser/schedule field of a field config; returns
  the model names in ``config[field]`` (one name, or a comma-separated list: fit_image's
  ``models``)."""
  model_names = common.split_names(config[field])
  if not model_names:
    raise ValueError(f'config.{field} is empty; give one or more of '
                     f'{", ".join(fields.FIELD_MODELS)}')
  for name in model_names:
    if name not in fields.FIELD_MODELS:
      raise ValueError(f'config.{field}: unknown model {name!r}; choose from '
                       f'{", ".join(fields.FIELD_MODELS)}')
  if len(set(model_names)) != len(model_names):
    raise ValueError(f'config.{field} lists a model twice: {config[field]!r}')
  common.check_positive(config, ('steps', 'model.hidden_features', 'model.first_omega0',
                                 'model.hidden_omega0', 'steps_per_call', 'render_chunk_points',
                                 'derivative_chunk_points'))
  common.check_non_negative(config, ('model.hidden_layers', 'model.num_frequencies',
                                     'log_every', 'eval_every', 'checkpoint_every'))
  common.check_choice(config, 'param_sharding', sharding.PARAM_SHARDINGS)
  check_optimizer(config)
  if config.model.compute_dtype not in fields.COMPUTE_DTYPES:
    raise ValueError(f'config.model.compute_dtype must be one of '
                     f'{", ".join(fields.COMPUTE_DTYPES)}, got {config.model.compute_dtype!r}')
  check_run_fields(config)
  if config.batch_pixels < -1:
    raise ValueError(f'config.batch_pixels must be -1 (auto), 0 (full image) or a number of '
                     f'pixels per step, got {config.batch_pixels}')
  if not config.target_psnr >= 0:
    raise ValueError(f'config.target_psnr must be >= 0 (0: no target), got {config.target_psnr}')
  for name in ('log_every', 'eval_every', 'checkpoint_every', 'steps'):
    if config[name] % config.steps_per_call:
      raise ValueError(f'config.{name}={config[name]} must be a multiple of '
                       f'config.steps_per_call={config.steps_per_call}')
  return model_names


def check_optimizer(config: ml_collections.ConfigDict) -> None:
  """One-line errors naming the bad field of ``config.optimizer`` (built once by
  ``optimizers.make_optimizer``, which validates it)."""
  try:
    optimizers.make_optimizer(**config.optimizer)
  except ValueError as e:  # Every message starts with the argument's name.
    raise ValueError(f'config.optimizer.{e}') from None


def check_data_fields(config: ml_collections.ConfigDict) -> None:
  """One-line errors for ``config.data``, the image preparation of a field experiment."""
  for name, choices in (('resize', images.RESIZE_METHODS), ('grid', grids.GRIDS)):
    if config.data[name] not in choices:
      raise ValueError(f'config.data.{name} must be one of {", ".join(choices)}, got '
                       f'{config.data[name]!r}')


def check_run_fields(config: ml_collections.ConfigDict) -> None:
  """One-line errors for the fields every trained experiment shares: nan_policy, resume,
  profile_steps, sine."""
  common.check_choice(config, 'nan_policy', training.NAN_POLICIES)
  if not isinstance(config.resume, bool):
    raise ValueError(f'config.resume must be True or False, got {config.resume!r}')
  parse_profile_steps(config.profile_steps)
  common.check_choice(config, 'sine', fast_sine.SINES)


def check_ssim_size(height: int, width: int) -> None:
  """``metrics.check_ssim_size`` of an image config.image_size sets, advising that field."""
  try:
    metrics.check_ssim_size(height, width)
  except errors.AdvisedError as e:
    raise errors.AdvisedError(e.diagnosis,
                              'set config.image_size or use a larger image') from None


def field_fingerprint(config: ml_collections.ConfigDict, spec: dict[str, Any], batch: Any,
                      loss_fn: training.LossFn, num_tiles: int = 0,
                      source: Any = None) -> dict[str, Any]:
  """What defines a field fit: the model spec, optimiser settings and seed, the loss, the
  tiling, the batch's content hash and the data ``source`` (e.g. the image name or path)."""
  return {'model': spec, 'optimizer': config.optimizer.to_dict(), 'seed': config.seed,
          'loss': f'{loss_fn.__module__}.{loss_fn.__qualname__}', 'num_tiles': num_tiles,
          'data_sha256': content_hash(batch), 'source': source}


def model_spec(config: ml_collections.ConfigDict, name: str, out_features: int,
               image_side: int) -> dict[str, Any]:
  """Field model ``name`` with the rest of ``config.model`` (passed through whole; fit_image's
  ``config.models`` share one) as a serialisable spec (``fields.field_spec``)."""
  return fields.field_spec(**{**config.model, 'name': name}, out_features=out_features,
                           image_side=image_side)


def load_init(config: ml_collections.ConfigDict) -> init_file.LearnedInit | None:
  """The learned init of ``config.init`` (``siren_jax.init_file``); None for '' (the random
  init). FileNotFoundError or a one-line ValueError naming config.init otherwise; entry points
  call it, and ``check_init``, with their other input checks, before writing anything."""
  if not config.init:
    return None
  try:
    return init_file.load(config.init)
  except FileNotFoundError as e:
    raise FileNotFoundError(f'config.init: {e}') from None
  except ValueError as e:
    raise ValueError(f'config.init: {e}') from None


def check_init(config: ml_collections.ConfigDict, init: init_file.LearnedInit,
               spec: dict[str, Any], size: tuple[int, int]) -> None:
  """One-line ValueError naming every field in which ``init`` differs from the fit of ``spec``
  on ``config.data.grid`` it would start; a logged warning when the fit's (height, width)
  ``size`` is not one the init was learned at (``init_file.size_note``)."""
  try:
    init_file.check_matches(init, spec, config.data.grid, config.init)
  except ValueError as e:
    raise ValueError(f'config.init: {e}; configure the fit as the init was learned '
                     f'(config.model, colour mode, config.data.grid) or give an init learned for '
                     f'this fit') from None
  note = init_file.size_note(init, *size)
  if note:
    logging.warning('config.init: %s.', note)


def init_record(config: ml_collections.ConfigDict, init: init_file.LearnedInit | None
                ) -> dict[str, Any] | None:
  """What a fit's outputs (metrics.json, ``.inr`` extra) record of the init it started from;
  None for the random init."""
  if init is None:
    return None
  return {'path': config.init, 'sha256': init.sha256, 'model': init.model['name'],
          'trained_on': init.trained_on}


def field_state(config: ml_collections.ConfigDict, spec: dict[str, Any],
                num_tiles: int = 0, init: init_file.LearnedInit | None = None
                ) -> training.TrainState:
  """Initial state of the spec's model (``num_tiles`` > 0: that many stacked copies): random
  from ``config.seed``, or ``init``'s params (checked by ``check_init``; every tile the same)."""
  model = fields.make_field_model(**spec, sine=config.sine)
  apply_fn = models.apply_fn(model)
  if init is None:
    params = fields.init_params(model, jax.random.PRNGKey(config.seed), num_tiles)
  else:  # New buffers: training donates them, and the init may start further fits.
    params = jax.tree.map(
        lambda a: jnp.repeat(a[None], num_tiles, axis=0) if num_tiles else jnp.array(a),
        init.params)
  return training.TrainState.create(
      apply_fn=tiling.stacked_apply(apply_fn) if num_tiles else apply_fn, params=params,
      tx=optimizers.make_optimizer(**config.optimizer))


def _target_reached(target_psnr: float, tag: str) -> Callable[[dict[str, float]], bool]:
  def stop(record: dict[str, float]) -> bool:
    if record.get('psnr', -float('inf')) >= target_psnr:
      logging.info('[%s] target PSNR %.2f dB reached at step %d.', tag, target_psnr,
                   record['step'])
      return True
    return False

  return stop


def minibatch_rows(config: ml_collections.ConfigDict, batch: Any, num_tiles: int = 0) -> int:
  """Rows of ``batch`` (pixels along axis 0; a tiled batch's rows count ``num_tiles``
  pixels each) sampled per step under ``config.batch_pixels`` (-1 auto, 0 full, N pixels per
  step, see ``sampling``), rounded down to a multiple of the device count; 0 = full batch."""
  leaves = jax.tree.leaves(batch)
  rows = int(np.shape(leaves[0])[0])
  per_row = max(1, num_tiles)
  pixels = sampling.resolve_batch_pixels(config.batch_pixels, rows * per_row, num_tiles)
  if not pixels:
    return 0
  devices = jax.device_count()
  sampled = max(devices, pixels // per_row // devices * devices)
  return 0 if sampled >= rows else sampled


def train_field(config: ml_collections.ConfigDict, workdir: str, *, tag: str,
                spec: dict[str, Any], loss_fn: training.LossFn, batch: Any,
                eval_fn: EvalFn | None, writer: common.ScalarWriter,
                num_tiles: int = 0, source: Any = None,
                image_fn: ImageFn | None = None,
                init: init_file.LearnedInit | None = None) -> training.LoopResult:
  """Fits the spec's model to ``loss_fn`` on the full ``batch`` (rows along axis 0: every
  per-pixel array, e.g. coords, values, gradient targets) for ``config.steps`` steps
  (``num_tiles`` > 0: a tiled fit, see ``siren_jax.tiling``); ``source`` names the data in the
  run's fingerprint (``field_fingerprint``); ``image_fn`` (e.g. ``field_images``) adds
  TensorBoard images at every evaluation. ``init`` (``load_init``, checked by ``check_init``)
  starts it from a learned init instead of the random one; its file's sha256 joins the
  fingerprint, so resuming with another init (or none) is refused.

  With ``config.batch_pixels`` selecting minibatches (``minibatch_rows``), each step trains
  on rows drawn on the device by ``sampling.minibatch_fn`` (a pure function of (seed, step),
  without replacement unless ``config.sample_with_replacement``), one step per call; stops
  early at ``config.target_psnr`` (> 0) when ``eval_fn`` reports 'psnr'.
  """
  schedule = Schedule.from_config(config)
  rows = minibatch_rows(config, batch, num_tiles)
  fingerprint = field_fingerprint(config, spec, batch, loss_fn, num_tiles, source)
  fingerprint['minibatch'] = {'rows': rows, 'with_replacement': bool(
      config.sample_with_replacement)} if rows else None
  if init is not None:  # Only then: fingerprints of random-init runs stay as they were.
    fingerprint['init'] = init.sha256
  batch_fn = None
  if rows:
    logging.info('[%s] minibatches of %d of %d rows per step.', tag, rows,
                 len(jax.tree.leaves(batch)[0]))
    batch_fn = sampling.minibatch_fn(batch, rows, seed=config.seed,
                                     replace=config.sample_with_replacement)
    batch = None
    # Each step needs its own draw; lax.scan over one batch would reuse it.
    schedule = dataclasses.replace(schedule, steps_per_call=1)
  return run(field_state(config, spec, num_tiles, init), loss_fn, workdir=workdir, tag=tag,
             schedule=schedule, writer=writer, batch=batch, batch_fn=batch_fn,
             eval_fn=eval_fn, param_sharding=config.param_sharding,
             process_local_batches=batch_fn is None, fingerprint=fingerprint,
             resume=config.resume, nan_policy=config.nan_policy,
             target_psnr=config.target_psnr, image_fn=image_fn,
             profile_steps=config.profile_steps)


def write_psnr_vs_time(path: str, results: dict[str, training.LoopResult],
                       title: str = '') -> None:
  """Plots each run's evaluation PSNR against its training wall time
  (``LoopResult.train_seconds``) to ``path``."""
  curves = {tag: ([t for t, r in zip(result.train_seconds, result.history) if 'psnr' in r],
                  [r['psnr'] for r in result.history if 'psnr' in r])
            for tag, result in results.items()}
  figures.curves(path, curves, xlabel='training wall time (s)', ylabel='PSNR (dB)',
                 title=title)


def image_fit_eval(config: ml_collections.ConfigDict, image: Any,
                   field: Callable[[Any, Any], jax.Array] | None = None,
                   score: Callable[[Any, Any], Any] = metrics.psnr) -> EvalFn:
  """An eval_fn: PSNR of the rendered field (default the state's own) on the config's grid
  (``config.data.grid``) vs ``image`` (H, W, C), as ``score(rendered, image)`` computes it
  (default ``metrics.psnr``; e.g. ``poisson.fair_psnr`` for a field known up to a constant)."""
  def eval_fn(state: training.TrainState) -> dict[str, float]:
    rendered = render.render(field or state.apply_fn, state.params, *image.shape[:2],
                             max_chunk_points=config.render_chunk_points, max_pixels=None,
                             grid=config.data.grid)
    return {'psnr': float(score(rendered, image))}

  return eval_fn


# TensorBoard shows the fitted image at most this large, and its derivatives on a grid at most
# this large (an autodiff Laplacian of every pixel at every evaluation would cost more than the
# training between evaluations).
TB_IMAGE_SIDE = 512
TB_DERIVATIVE_SIDE = 128


def field_images(config: ml_collections.ConfigDict, height: int, width: int,
                 field: Callable[[Any, Any], jax.Array] | None = None,
                 transform: Callable[[np.ndarray], np.ndarray] | None = None) -> ImageFn:
  """An ImageFn for a field fit: the field rendered for a (height, width) image at most
  TB_IMAGE_SIDE a side (with ``transform``, e.g. matching its constant to a reference, at the
  full size first, then shrunk) and its autodiff |grad| and Laplacian on a grid of at most
  TB_DERIVATIVE_SIDE a side (channels averaged), as in fit_image's figure. ``field`` defaults
  to the state's own apply_fn."""

  def fitted(side: int) -> tuple[int, int]:
    scale = min(1.0, side / max(height, width))
    return max(1, round(height * scale)), max(1, round(width * scale))

  grid_shape = fitted(TB_DERIVATIVE_SIDE)
  coords = grids.make_grid(*grid_shape).reshape(-1, 2)

  def image_fn(state: training.TrainState) -> dict[str, np.ndarray]:
    apply_fn = field or state.apply_fn
    shape = (height, width) if transform is not None else fitted(TB_IMAGE_SIDE)
    fit = render.render(apply_fn, state.params, *shape,
                        max_chunk_points=config.render_chunk_points, max_pixels=None)
    if transform is not None:
      fit = transform(fit)
    # One point at a time, as (1, 2): a tiled field takes (N, 2) batches only.
    point_fn = lambda params, x: apply_fn(params, x[None])[0]  # noqa: E731
    grad, lap = jax.device_get(fitting.derivatives(point_fn, state.params, coords,
                                                   config.derivative_chunk_points))
    channels = fit.shape[-1]
    grad = np.asarray(grad).reshape(*grid_shape, channels, 2).mean(axis=2)
    lap = np.asarray(lap).reshape(*grid_shape, channels).mean(axis=2)
    return {'fit': figures.to_unit(images.shrink(fit, TB_IMAGE_SIDE)),
            'grad_magnitude': images.magnitude_to_rgb(grad),
            'laplacian': images.laplacian_to_rgb(lap)}

  return image_fn
