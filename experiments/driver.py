"""The one training driver of every experiment: state -> step -> checkpoints -> logs/TensorBoard
-> ``siren_jax.training.train_loop``.

``run`` wires a train state and a loss to the shared loop (checkpoints under
``WORKDIR/checkpoints/<tag>``, progress logs and TensorBoard scalars under ``tag``, data
parallel over all devices); ``train_field`` builds a field model (or T tiles of it, fitted
together) from a config's model fields and runs it. Fit_image, poisson, resize and the
colourisers all train through here.

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
import hashlib
import json
import os
from collections.abc import Callable
from typing import Any

import jax
import ml_collections
import numpy as np
import optax
from absl import logging
from etils import epath

from experiments import common, figures
from siren_jax import checkpoints as ckpt
from siren_jax import grids, images, metrics, models, render, sampling, sharding, tiling, training
from siren_jax.models import fields

EvalFn = Callable[[training.TrainState], dict[str, float]]
RUN_FILE = 'run.json'  # The fingerprint of the run whose checkpoints sit beside it.


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
        nan_policy: str = 'stop', target_psnr: float = 0.0) -> training.LoopResult:
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

  Raises:
    ValueError: the checkpoints belong to another run; training.DivergenceError (a
      ValueError) when training diverges under nan_policy 'stop', prefixed with ``[tag]``.
  """
  if (batch is None) == (batch_fn is None):
    raise ValueError('give exactly one of batch and batch_fn')
  step_fn = training.make_train_step(loss_fn, steps_per_call=schedule.steps_per_call,
                                     param_sharding=param_sharding,
                                     process_local_batches=process_local_batches,
                                     nan_policy=nan_policy)
  if batch is not None:
    rows = sharding.process_slice(len(jax.tree.leaves(batch)[0]))
    placed = step_fn.place_batch(  # Once, not every step.
        jax.tree.map(lambda x: x[rows], batch) if process_local_batches else batch)
    batch_fn = lambda step: placed  # noqa: E731

  def log_fn(step: int, scalars: dict[str, float]) -> None:
    common.log_progress(progress(step) if progress else tag, step, schedule.num_steps, scalars)
    writer.write(step, scalars, prefix=f'{tag}/train/')

  def eval_and_write(state: training.TrainState) -> dict[str, float]:
    scalars = eval_fn(state)
    writer.write(int(state.step), scalars, prefix=f'{tag}/eval/')
    return scalars

  claim_checkpoints(checkpoint_dir(workdir, tag), fingerprint, resume)
  manager = ckpt.make_manager(checkpoint_dir(workdir, tag))
  try:
    return training.train_loop(
        state, step_fn, batch_fn, num_steps=schedule.num_steps,
        eval_every=schedule.eval_every, eval_fn=eval_and_write if eval_fn else None,
        log_every=schedule.log_every, log_fn=log_fn, checkpoint_manager=manager,
        checkpoint_every=schedule.checkpoint_every,
        stop_fn=_target_reached(target_psnr, tag) if target_psnr > 0 else None)
  except training.DivergenceError as e:
    raise training.DivergenceError(f'[{tag}] {e}', e.step, e.loss) from None
  finally:
    manager.close()  # Waits for pending saves: the last good checkpoint is complete on disk.


# Run identity (fingerprints) and resume=False.

def content_hash(tree: Any) -> str:
  """sha256 (hex) of the dtypes, shapes and bytes of a pytree of arrays (e.g. a batch)."""
  digest = hashlib.sha256()
  for leaf in jax.tree.leaves(jax.device_get(tree)):
    leaf = np.ascontiguousarray(leaf)
    digest.update(f'{leaf.dtype}{leaf.shape}'.encode())
    digest.update(leaf.tobytes())
  return digest.hexdigest()


def _checkpoint_steps(path: epath.Path) -> list[int]:
  return sorted(int(p.name) for p in path.iterdir() if p.name.isdigit()) if path.exists() else []


def _show(value: Any) -> str:
  text = repr(value)
  return text if len(text) <= 40 else text[:37] + '...'


def _flatten(tree: dict[str, Any], prefix: str = '') -> dict[str, Any]:
  flat = {}
  for key, value in tree.items():
    if isinstance(value, dict):
      flat.update(_flatten(value, f'{prefix}{key}.'))
    else:
      flat[f'{prefix}{key}'] = value
  return flat


def fingerprint_differences(stored: dict[str, Any], current: dict[str, Any]) -> list[str]:
  """'field: X there, Y here' for every field that differs (nested fields dotted, e.g.
  'model.hidden_features'; values JSON-normalised, as stored)."""
  stored, current = _flatten(stored), _flatten(json.loads(json.dumps(current)))
  return [f'{k}: {_show(stored.get(k))} there, {_show(current.get(k))} here'
          for k in sorted(set(stored) | set(current)) if stored.get(k) != current.get(k)]


def claim_checkpoints(directory: str, fingerprint: dict[str, Any] | None,
                      resume: bool = True) -> None:
  """Makes ``directory`` hold this run's checkpoints before training starts.

  resume=False: deletes whatever is there (logged). Otherwise checkpoints there must carry
  this ``fingerprint`` (ValueError naming the differing fields); checkpoints without a
  fingerprint (older versions) are resumed with a warning. Then writes the fingerprint.
  """
  path = epath.Path(directory)
  steps = _checkpoint_steps(path)
  if not resume:
    if path.exists():
      logging.warning('config.resume=False: deleting %s (checkpoints at steps %s) and starting '
                      'over.', directory, ', '.join(map(str, steps)) or 'none')
      if common.is_main_process():
        path.rmtree()
      _barrier('driver.claim_checkpoints')
  elif steps and (path / RUN_FILE).exists():
    stored = json.loads((path / RUN_FILE).read_text())
    differences = fingerprint_differences(stored, fingerprint) if fingerprint else []
    if differences:
      raise ValueError(
          f'{directory} holds checkpoints (steps {", ".join(map(str, steps))}) of a different '
          f'run ({"; ".join(differences)}); use a fresh --workdir, or --config.resume=False to '
          f'delete them and start over')
    return
  elif steps:
    logging.warning('%s holds checkpoints without a %s (an older version wrote them): resuming '
                    'them without checking that they belong to this run.', directory, RUN_FILE)
  if fingerprint is not None and common.is_main_process():
    path.mkdir(parents=True, exist_ok=True)
    common.write_json(str(path / RUN_FILE), fingerprint)


def _barrier(name: str) -> None:
  if jax.process_count() > 1:
    from jax.experimental import multihost_utils  # Only multi-host runs need it.
    multihost_utils.sync_global_devices(name)


# Field models (fit_image, poisson, resize).

def check_model_fields(config: ml_collections.ConfigDict, field: str = 'model') -> list[str]:
  """One-line errors naming the bad model/optimiser/schedule field of a field config; returns
  the model names in ``config[field]`` (one name, or a comma-separated list)."""
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
  common.check_positive(config, ('steps', 'hidden_features', 'learning_rate', 'first_omega0',
                                 'hidden_omega0', 'steps_per_call', 'render_chunk_points',
                                 'derivative_chunk_points'))
  common.check_non_negative(config, ('hidden_layers', 'num_frequencies', 'log_every',
                                     'eval_every', 'checkpoint_every'))
  common.check_choice(config, 'param_sharding', sharding.PARAM_SHARDINGS)
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


def check_data_fields(config: ml_collections.ConfigDict) -> None:
  """One-line errors for ``config.data``, the image preparation of a field experiment."""
  for name, choices in (('resize', images.RESIZE_METHODS), ('grid', grids.GRIDS)):
    if config.data[name] not in choices:
      raise ValueError(f'config.data.{name} must be one of {", ".join(choices)}, got '
                       f'{config.data[name]!r}')


def check_run_fields(config: ml_collections.ConfigDict) -> None:
  """One-line errors for the fields every trained experiment shares: nan_policy, resume."""
  common.check_choice(config, 'nan_policy', training.NAN_POLICIES)
  if not isinstance(config.resume, bool):
    raise ValueError(f'config.resume must be True or False, got {config.resume!r}')


def field_fingerprint(config: ml_collections.ConfigDict, spec: dict[str, Any], batch: Any,
                      loss_fn: training.LossFn, num_tiles: int = 0,
                      source: Any = None) -> dict[str, Any]:
  """What defines a field fit: the model spec, optimiser and seed, the loss, the tiling, the
  batch's content hash and the data ``source`` (e.g. the image name or path)."""
  return {'model': spec, 'learning_rate': config.learning_rate, 'seed': config.seed,
          'loss': f'{loss_fn.__module__}.{loss_fn.__qualname__}', 'num_tiles': num_tiles,
          'data_sha256': content_hash(batch), 'source': source}


def model_spec(config: ml_collections.ConfigDict, name: str, out_features: int,
               image_side: int) -> dict[str, Any]:
  """The config's field model ``name`` as a serialisable spec (``fields.field_spec``)."""
  return fields.field_spec(name, out_features=out_features, image_side=image_side,
                           **{k: config[k] for k in fields.HYPERPARAMETERS})


def field_state(config: ml_collections.ConfigDict, spec: dict[str, Any],
                num_tiles: int = 0) -> training.TrainState:
  """Initial state of the spec's model (``num_tiles`` > 0: that many stacked copies)."""
  model = fields.make_field_model(**spec)
  apply_fn = models.apply_fn(model)
  return training.TrainState.create(
      apply_fn=tiling.stacked_apply(apply_fn) if num_tiles else apply_fn,
      params=fields.init_params(model, jax.random.PRNGKey(config.seed), num_tiles),
      tx=optax.adam(config.learning_rate))


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
                num_tiles: int = 0, source: Any = None) -> training.LoopResult:
  """Fits the spec's model to ``loss_fn`` on the full ``batch`` (rows along axis 0: every
  per-pixel array, e.g. coords, values, gradient targets) for ``config.steps`` steps
  (``num_tiles`` > 0: a tiled fit, see ``siren_jax.tiling``); ``source`` names the data in the
  run's fingerprint (``field_fingerprint``).

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
  batch_fn = None
  if rows:
    logging.info('[%s] minibatches of %d of %d rows per step.', tag, rows,
                 len(jax.tree.leaves(batch)[0]))
    batch_fn = sampling.minibatch_fn(batch, rows, seed=config.seed,
                                     replace=config.sample_with_replacement)
    batch = None
    # Each step needs its own draw; lax.scan over one batch would reuse it.
    schedule = dataclasses.replace(schedule, steps_per_call=1)
  return run(field_state(config, spec, num_tiles), loss_fn, workdir=workdir, tag=tag,
             schedule=schedule, writer=writer, batch=batch, batch_fn=batch_fn,
             eval_fn=eval_fn, param_sharding=config.param_sharding,
             process_local_batches=batch_fn is None, fingerprint=fingerprint,
             resume=config.resume, nan_policy=config.nan_policy,
             target_psnr=config.target_psnr)


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
                   field: Callable[[Any, Any], jax.Array] | None = None) -> EvalFn:
  """An eval_fn: PSNR of the rendered field (default the state's own) on the config's grid
  (``config.data.grid``) vs ``image`` (H, W, C)."""
  def eval_fn(state: training.TrainState) -> dict[str, float]:
    rendered = render.render(field or state.apply_fn, state.params, *image.shape[:2],
                             max_chunk_points=config.render_chunk_points, max_pixels=None,
                             grid=config.data.grid)
    return {'psnr': float(metrics.psnr(rendered, image))}

  return eval_fn

