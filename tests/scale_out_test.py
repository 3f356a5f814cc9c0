"""Scale-out: sharded steps on 8 simulated devices, and a two-process run
(sharding_test.py tests the helpers on one device).

The multi-device checks run in subprocesses (``XLA_FLAGS`` must be set before JAX starts), so
this process, like the rest of the suite, keeps one CPU device; checkpoints they write are
restored here, on that one device.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys

import jax
import numpy as np
import pytest

from experiments import common
from siren_jax import checkpoints, fitting, grids, images, metrics, render, training
from tests import multiprocess_checks
from tests import multidevice_checks as checks
from tests.helpers import REPO_ROOT, subprocess_env

TIMEOUT_S = 300


def _env(num_devices: int, **extra: str) -> dict[str, str]:
  env = subprocess_env(**extra)
  env['XLA_FLAGS'] = f'--xla_force_host_platform_device_count={num_devices}'
  return env


def _free_port() -> int:
  with socket.socket() as s:
    s.bind(('127.0.0.1', 0))
    return s.getsockname()[1]


@pytest.fixture(scope='module')
def subprocess_runs(tmp_path_factory):
  """Starts, at once (they spend much of their time starting up and waiting on each other):
  tests/multidevice_checks.py on 8 simulated devices, and fit_image (tiny, siren, 4 steps) as
  2 processes x 1 CPU device with a coordinator on localhost. Yields the Popen handles and
  their output directories; the two fixtures below wait for them."""
  eight_dir = tmp_path_factory.mktemp('eight_devices')
  two_dir = str(tmp_path_factory.mktemp('two_processes'))
  eight = subprocess.Popen(
      [sys.executable, '-m', 'pytest', '-q', '-p', 'no:cacheprovider', '-n', '0',
       os.path.join(REPO_ROOT, 'tests', 'multidevice_checks.py')],
      cwd=REPO_ROOT, env=_env(8, **{checks.CHECKPOINT_DIR_ENV: str(eight_dir)}),
      stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
  port = _free_port()
  two = [subprocess.Popen(
      [sys.executable, '-m', 'experiments.fit_image',
       '--config=experiments/configs/fit_image.py:tiny', f'--workdir={two_dir}',
       '--config.models=siren', '--config.steps=4', '--config.eval_every=2',
       '--config.log_every=2', '--config.checkpoint_every=4', '--distributed',
       f'--coordinator_address=127.0.0.1:{port}', '--num_processes=2', f'--process_id={i}'],
      cwd=REPO_ROOT, env=_env(1), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
      for i in range(2)]
  yield {'eight': (eight, eight_dir), 'two': (two, two_dir)}
  _kill_unfinished([eight, *two])


def _wait(proc: subprocess.Popen) -> str:
  return proc.communicate(timeout=TIMEOUT_S)[0]


def _kill_unfinished(procs: list[subprocess.Popen]) -> None:
  for p in procs:
    if p.poll() is None:
      p.kill()
      p.wait()


@pytest.fixture(scope='module')
def eight_device_run(subprocess_runs):
  """(return code, output, output directory) of the 8-device checks."""
  proc, directory = subprocess_runs['eight']
  output = _wait(proc)
  return proc.returncode, output, directory


@pytest.fixture(scope='module')
def two_process_run(subprocess_runs):
  """(return codes, logs, workdir) of the two-process fit_image run."""
  procs, workdir = subprocess_runs['two']
  logs = [_wait(p) for p in procs]
  return [p.returncode for p in procs], logs, workdir


@pytest.mark.slow
def test_multidevice_checks_pass_on_8_simulated_devices(eight_device_run):
  returncode, output, _ = eight_device_run
  assert returncode == 0, output[-3000:]
  num_checks = sum(name.startswith('test_') for name in dir(checks))
  assert f'{num_checks} passed' in output, output[-3000:]


@pytest.mark.slow
def test_checkpoint_written_on_8_devices_restores_on_1_device(eight_device_run):
  returncode, output, directory = eight_device_run
  assert returncode == 0, output[-3000:]
  assert jax.device_count() == 1
  with open(directory / 'expected.json') as f:
    expected = json.load(f)
  manager = checkpoints.make_manager(str(directory / 'checkpoints'))
  state, _ = checkpoints.restore_latest(manager, checks.fit_state())
  manager.close()
  assert int(state.step) == checks.STEPS
  jax.tree.map(lambda got, want: np.testing.assert_array_equal(np.asarray(got), np.asarray(want)),
               state.params, expected['params'])
  # The optimiser state came back too: training goes on as it did on 8 devices.
  losses, _ = checks.run_steps(state, checks.fit_batch(), fitting.image_loss, None, steps=3)
  np.testing.assert_allclose(losses, expected['next_losses'], rtol=1e-5)


@pytest.mark.slow
def test_two_processes_fit_an_image_and_write_one_checkpoint(two_process_run):
  codes, logs, workdir = two_process_run
  assert codes == [0, 0], '\n'.join(log[-2000:] for log in logs)
  for i, log in enumerate(logs):
    assert f'Process {i} of 2; 1 local and 2 global devices' in log
  assert '[siren] step 4/4' in logs[0] and '[siren] step 4/4' not in logs[1]  # Process 0 logs.
  # One checkpoint (step 4) next to the run's fingerprint (run.json).
  assert sorted(os.listdir(os.path.join(workdir, 'checkpoints', 'siren'))) == ['4', 'run.json']
  with open(os.path.join(workdir, 'metrics.json')) as f:
    output = json.load(f)
  assert (output['num_processes'], output['num_devices']) == (2, 2)
  assert output['models']['siren']['steps'] == 4


@pytest.mark.slow
def test_two_process_checkpoint_restores_on_1_device_with_the_reported_psnr(two_process_run):
  codes, _, workdir = two_process_run
  assert codes == [0, 0]
  with open(os.path.join(workdir, 'metrics.json')) as f:
    output = json.load(f)
  from experiments import driver  # The model exactly as fit_image built it.
  from experiments.configs import fit_image as fit_config
  config = fit_config.get_config('tiny')
  image = images.load_image(config.image, mode=config.mode, size=config.image_size)
  template = driver.field_state(config, driver.model_spec(config, 'siren', 1, config.image_size))
  manager = checkpoints.make_manager(os.path.join(workdir, 'checkpoints', 'siren'))
  state, record = checkpoints.restore_latest(manager, template)
  manager.close()
  fit = render.render(state.apply_fn, state.params, *image.shape[:2])
  assert float(metrics.psnr(fit, image)) == pytest.approx(output['models']['siren']['psnr'],
                                                          abs=1e-4)
  assert [r['step'] for r in record['history']] == [0, 2, 4]


@pytest.mark.slow
def test_sharding_helpers_across_two_processes():
  """tests/multiprocess_checks.py as 2 processes x 2 CPU devices: global and process-local
  batches, to_host gathering the other process's rows, a state replicated over both."""
  port = _free_port()
  procs = [subprocess.Popen(
      [sys.executable, os.path.join(REPO_ROOT, 'tests', 'multiprocess_checks.py'),
       f'127.0.0.1:{port}', str(i)],
      cwd=REPO_ROOT, env=_env(multiprocess_checks.DEVICES_PER_PROCESS), stdout=subprocess.PIPE,
      stderr=subprocess.STDOUT, text=True)
      for i in range(multiprocess_checks.NUM_PROCESSES)]
  try:
    logs = [_wait(p) for p in procs]
  finally:
    _kill_unfinished(procs)
  assert [p.returncode for p in procs] == [0, 0], '\n'.join(log[-2000:] for log in logs)
  assert all(log.rstrip().endswith('ok') for log in logs), logs


def test_train_step_on_its_default_mesh_matches_a_hand_written_jitted_step():
  coords, values = grids.image_to_samples(images.load_image('camera', mode='grey', size=16))
  batch = {'coords': coords, 'values': values}

  @jax.jit
  def plain_step(state, batch):  # The textbook step, with no mesh or placement.
    (loss, _), grads = jax.value_and_grad(fitting.image_loss, has_aux=True)(
        state.params, batch, state.apply_fn)
    return state.apply_gradients(grads=grads), loss

  state = checks.fit_state()
  plain = []
  for _ in range(3):
    state, loss = plain_step(state, batch)
    plain.append(float(loss))
  meshed, state = checks.run_steps(checks.fit_state(), batch, fitting.image_loss, None, steps=3)
  np.testing.assert_array_equal(meshed, plain)
  assert isinstance(training.make_train_step(fitting.image_loss), training.TrainStep)
  assert int(state.step) == 3


def test_coordinator_flags_without_distributed_are_an_error():
  with pytest.raises(ValueError, match='need --distributed'):
    common.initialize_distributed(False, coordinator_address='127.0.0.1:1234')
  common.initialize_distributed(False)  # Nothing to do.
  assert jax.process_count() == 1
