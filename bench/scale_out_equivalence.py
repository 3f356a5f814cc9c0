"""Largest relative loss difference between 1 and 8 devices (the table in
the README's scale-out section). The models, batches and initial states defined here are also
what tests/multidevice_checks.py checks:

  XLA_FLAGS=--xla_force_host_platform_device_count=8 PYTHONPATH=. \
      python bench/scale_out_equivalence.py
"""

from __future__ import annotations

import functools

import flax.linen as nn
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax

from experiments.colorize import train as colorize_train
from experiments.configs import colorize as colorize_config
from siren_jax import fitting, grids, images, sharding, training
from siren_jax.models import fields

STEPS = 8
COLORIZE_STEPS = 4
BATCH_PER_DEVICE_COUNT = 8  # Colourisation global batch: one image per device on 8 devices.


def fit_model() -> nn.Module:
  return fields.make_field_model('siren', out_features=1, hidden_features=32, hidden_layers=2,
                                 first_omega0=30.0, hidden_omega0=30.0, zero_bias=False,
                                 num_frequencies=0)


def fit_batch() -> dict[str, np.ndarray]:
  coords, values = grids.image_to_samples(images.load_image('camera', mode='grey', size=32))
  return {'coords': np.asarray(coords), 'values': np.asarray(values)}


def fit_state() -> training.TrainState:
  return training.create_train_state(fit_model(), jax.random.PRNGKey(0),
                                     jnp.zeros((1, 2), jnp.float32), optax.adam(1e-4))


@functools.lru_cache
def colorize_setup(model: str) -> tuple[ml_collections.ConfigDict, training.LossFn, list]:
  """The colourisation experiment's config, loss and COLORIZE_STEPS training batches (tiny
  config with a global batch of 8, so each of 8 devices gets one image)."""
  config = colorize_config.get_config(f'{model},tiny')
  config.batch_size = BATCH_PER_DEVICE_COUNT
  pipeline = colorize_train.make_pipeline(config)
  keys = ('grey', colorize_train.target_key(config))
  batches = [{k: pipeline.train_batch(step)[k] for k in keys} for step in range(COLORIZE_STEPS)]
  return config, colorize_train.make_loss_fn(config), batches


@functools.lru_cache
def _colorize_host_state(model: str) -> training.TrainState:
  # Jitted and with the 'rbg' PRNG: the conv net's threefry init takes ~30 s to compile on this
  # CPU, 'rbg' ~4 s. Both runs of a comparison start from this same state.
  config = colorize_setup(model)[0]
  previous = jax.config.jax_default_prng_impl
  jax.config.update('jax_default_prng_impl', 'rbg')
  try:
    return jax.device_get(jax.jit(lambda: colorize_train.make_state(config))())
  finally:
    jax.config.update('jax_default_prng_impl', previous)


def colorize_state(model: str) -> training.TrainState:
  """A fresh copy (the step donates its input) of the experiment's initial state for ``model``."""
  return jax.tree.map(jnp.array, _colorize_host_state(model))


def run_steps(state, batch, loss_fn, mesh, steps=STEPS, param_sharding='replicate'
              ) -> tuple[np.ndarray, training.TrainState]:
  """Losses of ``steps`` steps on ``mesh`` (None: all devices) and the final state.
  ``batch``: one batch for every step, or a list of one per step."""
  step = training.make_train_step(loss_fn, mesh=mesh, param_sharding=param_sharding)
  losses = []
  for i in range(steps):
    state, metrics = step(state, batch[i] if isinstance(batch, list) else batch)
    losses.append(float(metrics['loss']))
  return np.asarray(losses), state


def main() -> None:
  rows = [('SIREN fit', fit_state, fitting.image_loss, fit_batch(), STEPS, 'replicate')]
  for model, param_sharding in (('SRS', 'replicate'), ('FC', 'shard_kernels')):
    _, loss_fn, batches = colorize_setup(model)
    rows.append((f'colorize {model}', lambda m=model: colorize_state(m), loss_fn, batches,
                 COLORIZE_STEPS, param_sharding))
  one_device = sharding.make_mesh(jax.devices()[:1])
  print('| model | param_sharding | steps | loss, first -> last | max rel. diff |')
  for name, make_state, loss_fn, batch, steps, param_sharding in rows:
    one, _ = run_steps(make_state(), batch, loss_fn, one_device, steps)
    many, _ = run_steps(make_state(), batch, loss_fn, sharding.make_mesh(), steps, param_sharding)
    diff = np.max(np.abs(many - one) / np.abs(one))
    print(f'| {name} | {param_sharding} | {steps} | {one[0]:.4f} -> {one[-1]:.4f} | {diff:.1e} |')


if __name__ == '__main__':
  main()
