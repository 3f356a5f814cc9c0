"""Largest relative loss difference between 1 and 8 devices (the table in
the README's scale-out section), with the models, batches and initial states of
tests/multidevice_checks.py:

  XLA_FLAGS=--xla_force_host_platform_device_count=8 PYTHONPATH=. \
      python bench/scale_out_equivalence.py
"""

import numpy as np

from siren_jax import fitting, sharding
from tests import multidevice_checks as checks


def main() -> None:
  rows = [('SIREN fit', checks.fit_state, fitting.image_loss, checks.fit_batch(), checks.STEPS,
           'replicate')]
  for model, param_sharding in (('SRS', 'replicate'), ('FC', 'shard_kernels')):
    _, loss_fn, batches = checks.colorize_setup(model)
    rows.append((f'colorize {model}', lambda m=model: checks.colorize_state(m), loss_fn, batches,
                 checks.COLORIZE_STEPS, param_sharding))
  print('| model | param_sharding | steps | loss, first -> last | max rel. diff |')
  for name, make_state, loss_fn, batch, steps, param_sharding in rows:
    one, _ = checks.run_steps(make_state(), batch, loss_fn, checks.one_device_mesh(), steps=steps)
    eight, _ = checks.run_steps(make_state(), batch, loss_fn, sharding.make_mesh(), steps=steps,
                                param_sharding=param_sharding)
    diff = np.max(np.abs(eight - one) / np.abs(one))
    print(f'| {name} | {param_sharding} | {steps} | {one[0]:.4f} -> {one[-1]:.4f} | {diff:.1e} |')


if __name__ == '__main__':
  main()
