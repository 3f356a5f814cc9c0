"""What every experiment config shares: one variant grammar, scale overrides, the optimiser
group and the field fits' model group. Imports only ml_collections (and the import-free
siren_jax.names), so reading a config never imports jax.

Configs nest what belongs together and the experiments pass each group through whole:
``config.model`` (the network: ``fields.field_spec(**config.model, ...)`` for the field fits, the
colouriser's architecture for colorize) and ``config.optimizer``
(``optimizers.make_optimizer(**config.optimizer)``). Command lines reach into a group with a
dotted name: ``--config.model.hidden_features=128``, ``--config.optimizer.learning_rate=3e-4``.

Variant grammar, for every config file: ``--config=experiments/configs/NAME.py:ARGS`` where ARGS
is a comma-separated list of
  * at most one MODE of that experiment (e.g. ``grad`` for poisson, ``SRS`` for colorize),
  * at most one SCALE: ``paper`` (the paper's or report's sizes, for a GPU/TPU) or ``tiny``
    (seconds, for tests) -- without one, the CPU-sized default,
  * ``key=value`` assignments to config fields, applied last (value: a Python literal, else a
    string; a dotted key reaches into a group), e.g. ``poisson.py:grad,tiny,steps=40``,
    ``fit_image.py:tiny,model.hidden_features=16`` or ``fit_image.py:data.resize=reference``.
"""

from __future__ import annotations

import ast
import difflib
from collections.abc import Mapping, Sequence
from typing import Any

import ml_collections

from siren_jax import names

SCALES = ('paper', 'tiny')
FIELD_MODELS = names.FIELD_MODELS
PARAM_SHARDINGS = names.PARAM_SHARDINGS
# Fields that moved into a group (old flat name -> dotted name); an old name, on a command line
# or in a variant, is a one-line error naming the new one.
MOVED = {
    'model': 'model.name',
    **{name: f'model.{name}' for name in (
        # Field models.
        'hidden_features', 'hidden_layers', 'first_omega0', 'hidden_omega0', 'zero_bias',
        'num_frequencies',
        # Colourisers.
        'width_scale', 'sine_init', 'fusion', 'fc_sine_layers', 'fc_first_omega0',
        'fc_hidden_omega0')},
    'learning_rate': 'optimizer.learning_rate',
}
GRIDS = names.GRIDS
RESIZE_METHODS = names.RESIZE_METHODS


def parse_variant(variant: str, *, experiment: str, modes: Sequence[str] = (),
                  default_mode: str = '', scales: Sequence[str] = SCALES
                  ) -> tuple[str, str, dict[str, Any]]:
  """``'MODE,SCALE,key=value,...'`` -> (mode or default_mode, scale or '', {key: value}).

  Raises ValueError naming the bad token and what the experiment accepts.
  """
  mode, scale, assignments = '', '', {}
  for token in (t.strip() for t in (variant or '').split(',')):
    if not token:
      continue
    if '=' in token:
      key, _, text = token.partition('=')
      assignments[key.strip()] = _literal(text.strip())
    elif token in modes and not mode:
      mode = token
    elif token in scales and not scale:
      scale = token
    else:
      accepted = (f'MODE in {", ".join(modes)}, ' if modes else '') + (
          f'SCALE in {", ".join(scales)} and key=value')
      raise ValueError(f'bad {experiment} config variant {variant!r} at {token!r}: give '
                       f'{accepted}, comma-separated')
  return mode or default_mode, scale, assignments


def _literal(text: str) -> Any:
  try:
    return ast.literal_eval(text)
  except (ValueError, SyntaxError):
    return text


def _group_and_key(config: ml_collections.ConfigDict, path: str
                   ) -> tuple[ml_collections.ConfigDict, str] | None:
  """(the group holding the field, its key) of the dotted ``path`` (``'model.name'``), or None
  when there is no such field."""
  *groups, key = path.split('.')
  for name in groups:
    if name not in config or not isinstance(config[name], ml_collections.ConfigDict):
      return None
    config = config[name]
  return (config, key) if key in config else None


def has_field(config: ml_collections.ConfigDict, path: str) -> bool:
  """Whether ``config`` has the field at the dotted ``path`` (e.g. ``'model.hidden_features'``)."""
  return _group_and_key(config, path) is not None


def moved_field_message(config: ml_collections.ConfigDict, path: str) -> str | None:
  """Why the dotted ``path`` cannot be set, if it names a field that moved into a group
  (``MOVED``) or a whole group; None otherwise."""
  new = MOVED.get(path)
  if new and has_field(config, new):
    return f'config.{path} is now config.{new}'
  found = _group_and_key(config, path)
  if found and isinstance(found[0][found[1]], ml_collections.ConfigDict):
    group = found[0][found[1]]
    return (f'config.{path} is a group of fields ({", ".join(group.keys())}); set one, e.g. '
            f'config.{path}.{next(iter(group.keys()))}')
  return None


def unknown_field_message(config: ml_collections.ConfigDict, path: str) -> str | None:
  """'unknown config field ...' with a suggestion, if the dotted ``path`` is not a field of
  ``config``; None if it is."""
  group: Any = config
  prefix = ''
  for name in path.split('.'):
    if not isinstance(group, ml_collections.ConfigDict):
      return f"unknown config field '{path}' (config.{prefix[:-1]} is not a group)"
    if name not in group:
      # At the top, old flat names count too: a misspelt one suggests its new name.
      moved = {old: new for old, new in MOVED.items() if not prefix and has_field(config, new)}
      close = difflib.get_close_matches(name, [*group.keys(), *moved], n=1)
      hint = f" (did you mean '{moved.get(close[0], prefix + close[0])}'?)" if close else ''
      return f"unknown config field '{path}'{hint}"
    group, prefix = group[name], f'{prefix}{name}.'
  return None


def apply_overrides(config: ml_collections.ConfigDict, overrides: Mapping[str, Any],
                    origin: str) -> ml_collections.ConfigDict:
  """Sets each existing field of ``config`` from ``overrides`` (dotted keys reach into groups:
  ``model.hidden_features``); an unknown field, a field that moved into a group or a whole
  group is an error naming ``origin`` (the variant or scale it came from)."""
  for key, value in overrides.items():
    message = moved_field_message(config, key) or unknown_field_message(config, key)
    if message:
      raise ValueError(f'{origin}: {message}')
    group, name = _group_and_key(config, key)
    group[name] = value
  return config


def finish(config: ml_collections.ConfigDict, scale: str,
           scale_overrides: Mapping[str, Mapping[str, Any]],
           assignments: Mapping[str, Any]) -> ml_collections.ConfigDict:
  """Applies the overrides of ``scale`` (from ``scale_overrides``), then the variant's
  ``key=value`` assignments."""
  apply_overrides(config, scale_overrides.get(scale, {}), f'scale {scale!r}')
  return apply_overrides(config, assignments, 'config variant')


def optimizer(learning_rate: float) -> ml_collections.ConfigDict:
  """``config.optimizer``: the arguments of ``siren_jax.optimizers.make_optimizer`` (Adam at a
  constant ``learning_rate`` unless changed; schedules and clipping explained there)."""
  return ml_collections.ConfigDict(dict(
      name='adam',
      learning_rate=learning_rate,
      schedule='constant',  # 'constant', 'cosine' or 'step'.
      warmup_steps=0,  # Linear warm-up from 0 over this many steps.
      decay_steps=0,  # cosine: steps from the peak to 0; step: steps between drops.
      decay_rate=0.1,  # step: the factor of each drop.
      clip_norm=0.0,  # > 0: clip gradients to this global norm.
  ))


def add_field_fit_fields(config: ml_collections.ConfigDict, model: str | None) -> None:
  """The model, optimiser and schedule fields every field fit shares (the paper's defaults).

  ``config.model`` holds ``siren_jax.models.fields.field_spec``'s arguments: the model's
  ``name`` (one of FIELD_MODELS), or none when the experiment lists several in its own field
  (``model=None``: fit_image's ``config.models``, which share the rest of ``config.model``).
  """
  config.model = ml_collections.ConfigDict(dict(
      **({'name': model} if model else {}),
      hidden_features=256,
      hidden_layers=3,
      first_omega0=30.0,  # SIREN only (so are hidden_omega0 and zero_bias).
      hidden_omega0=30.0,
      zero_bias=False,
      num_frequencies=0,  # ReLU+PE only; 0 = Nyquist rule of the reference for the image.
      # 'bfloat16': hidden-layer matmuls from bfloat16 operands, float32 accumulation (mixed
      # precision; siren_jax.layers); 'float32' everything in float32.
      compute_dtype='float32',
  ))
  config.optimizer = optimizer(1e-4)
  # A learned-init file (siren_jax.init_file; local or gs://) every fit of config.model starts
  # from (tiled fits: every tile); '' = the paper's random init from config.seed.
  config.init = ''
  config.seed = 0
  config.steps = 500
  config.steps_per_call = 1  # Optimiser steps per jitted call (lax.scan); intervals divide by it.
  config.log_every = 50
  config.eval_every = 25
  config.checkpoint_every = 100
  # Pixels per step: -1 auto (full image up to 512x512, else 65536; siren_jax.sampling), 0 the
  # full image (the paper), N random pixels drawn on the device from (seed, step).
  config.batch_pixels = -1
  config.sample_with_replacement = False  # False: every pixel once per epoch of steps.
  config.target_psnr = 0.0  # > 0: stop at the first evaluation reaching this PSNR (dB).
  # Points per device block when rendering an image of the field (evaluation, outputs).
  config.render_chunk_points = 65536
  # Points per chunk when taking autodiff gradients/Laplacians over a whole image.
  config.derivative_chunk_points = 16384
  # Data parallel over all devices; 'shard_kernels' also splits large kernels (siren_jax.sharding).
  config.param_sharding = 'replicate'
  add_run_fields(config)


def add_data_fields(config: ml_collections.ConfigDict) -> None:
  """``config.data``: how a field experiment prepares its image (the CPU defaults; the
  ``paper`` scales use ``REFERENCE_DATA``)."""
  config.data = ml_collections.ConfigDict()
  # Resizing (siren_jax.images.RESIZE_METHODS): 'bicubic' (scikit-image, Gaussian
  # anti-aliasing) or 'reference' (the SIREN reference code's: PIL bilinear, as torchvision's
  # Resize).
  config.data.resize = 'bicubic'
  # Where pixel centres sit (siren_jax.grids.GRIDS): 'half_pixel' (cells covering [-1, 1]) or
  # 'linspace' (the reference's linspace(-1, 1, N): centres on the borders).
  config.data.grid = 'half_pixel'


def add_photo_datasets(config: ml_collections.ConfigDict) -> None:
  """The photo sets of an experiment that learns from the corpus: config.dataset (training),
  config.val_dataset, config.test_dataset ('corpus[:SPLIT]', siren_jax.data.corpus, built by
  python -m tools.fetch_photos; or 'folder:/path') and config.data_dir."""
  # Never a split holding the test photos for training.
  config.dataset = 'corpus:train'
  config.val_dataset = 'corpus:validation'
  config.test_dataset = 'corpus:test'
  config.data_dir = ''  # Where the corpus is built; '' = the tensorflow_datasets default.


def add_run_fields(config: ml_collections.ConfigDict) -> None:
  """What every trained experiment does on a non-finite step and with old checkpoints
  (docs/failures.md), which steps it profiles, and which sine it computes."""
  # 'stop': a non-finite loss or update ends the run with an error, saving nothing bad;
  # 'skip': such steps are dropped (params kept) and counted.
  config.nan_policy = 'stop'
  # False: delete this run's checkpoints in the workdir (logged) and start over.
  config.resume = True
  # 'A,B': a jax.profiler trace of optimiser steps A to B, into WORKDIR/profile/ (README).
  config.profile_steps = ''
  # How sine layers compute sin: 'auto' (fast_sine's polynomial on the CPU, jnp.sin on GPU and
  # TPU; bench/RESULTS.md), or 'fast_sine' / 'jnp' on every platform.
  config.sine = 'auto'


# The SIREN reference code's image preparation, for the paper's figures (docs/reproduction.md).
REFERENCE_DATA = {'data.resize': 'reference', 'data.grid': 'linspace'}
# Scale overrides shared by the field experiments (an experiment may add to them).
FIELD_PAPER = {'model.hidden_features': 256, 'steps': 10_000, 'eval_every': 100,
               'log_every': 500, 'checkpoint_every': 1000, 'steps_per_call': 10}
FIELD_TINY = {'model.hidden_features': 32, 'model.hidden_layers': 2, 'steps': 20,
              'eval_every': 10, 'log_every': 10, 'checkpoint_every': 10}
