"""Preemption (docs/failures.md): SIGTERM stops a run at the next step boundary with a checkpoint
there, the entry point logs one line and exits 75, and the same command resumes bit-identically
-- in the loop (this process), in fit_image (a subprocess), and across two processes, which
agree on the step."""

from __future__ import annotations

import os
import random
import re
import signal
import socket
import subprocess
import sys
import threading
import time

import jax
import numpy as np
import optax
import pytest

from experiments import driver
from experiments.configs import fit_image as fit_config
from siren_jax import checkpoints, fitting, grids, images, layers, preemption, training
from tests.helpers import subprocess_env

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
STEPS = 20


def _state():
  model = layers.Siren(out_features=1, hidden_features=16, hidden_layers=1)
  return training.create_train_state(model, jax.random.PRNGKey(0), np.zeros((1, 2), np.float32),
                                     optax.adam(1e-3))


def _batch():
  coords, values = grids.image_to_samples(images.load_image('camera', size=8))
  return {'coords': coords, 'values': values}


def _loop(directory, batch_fn, preempt_fn=None):
  manager = checkpoints.make_manager(str(directory))
  try:
    return training.train_loop(
        _state(), training.make_train_step(fitting.image_loss), batch_fn, num_steps=STEPS,
        eval_every=10, eval_fn=lambda s: {'step_seen': float(s.step)},
        checkpoint_manager=manager, checkpoint_every=5, preempt_fn=preempt_fn)
  finally:
    manager.close()


def _steps(directory):
  return sorted(int(d) for d in os.listdir(directory) if d.isdigit())


@pytest.fixture
def watch():
  """A Preemption whose SIGTERM handler is this process's for the test."""
  watch = preemption.Preemption(multihost=False)
  previous = watch.handle_signals()
  yield watch
  for sig, handler in previous.items():
    signal.signal(sig, handler)


@pytest.fixture(scope='module')
def uninterrupted(tmp_path_factory):
  batch = _batch()
  return _loop(tmp_path_factory.mktemp('uninterrupted'), lambda step: batch)


def _assert_same_run(result, expected):
  assert int(result.state.step) == STEPS and result.history == expected.history
  jax.tree.map(np.testing.assert_array_equal, result.params, expected.params)


def test_sigterm_mid_run_saves_at_the_next_boundary_and_the_rerun_resumes_bit_identically(
    tmp_path, watch, uninterrupted):
  batch = _batch()

  def batch_fn(step):
    if step == 7:  # While step 8's batch is made: the signal lands between two steps.
      os.kill(os.getpid(), signal.SIGTERM)
    return batch

  with pytest.raises(training.Preempted, match='preempted at step 8: saved a checkpoint at '
                                              'step 8') as stop:
    _loop(tmp_path, batch_fn, watch)
  assert stop.value.step == 8 and watch.notice == 'SIGTERM'
  assert _steps(tmp_path) == [5, 8]
  resumed = _loop(tmp_path, lambda step: batch, preemption.Preemption(multihost=False))
  assert resumed.resumed_from == 8
  _assert_same_run(resumed, uninterrupted)


def test_sigterm_during_the_first_checkpoint_write_still_resumes(tmp_path, watch, monkeypatch,
                                                                 uninterrupted):
  batch = _batch()
  real_save = checkpoints.save
  saves = []

  def save_then_signal(manager, step, *args, **kwargs):
    real_save(manager, step, *args, **kwargs)  # Asynchronous: the write is still going on.
    if not saves:
      os.kill(os.getpid(), signal.SIGTERM)
    saves.append(step)

  monkeypatch.setattr(training.checkpoints, 'save', save_then_signal)
  # The boundary right after that save stops: it waits for the write to finish, no new save.
  with pytest.raises(training.Preempted, match='at step 5: saved a checkpoint at step 5') as stop:
    _loop(tmp_path, lambda step: batch, watch)
  assert saves == [5] and stop.value.step == 5
  monkeypatch.setattr(training.checkpoints, 'save', real_save)
  assert _steps(tmp_path) == [5]
  manager = checkpoints.make_manager(str(tmp_path))
  assert int(checkpoints.restore_latest(manager, _state())[0].step) == 5
  manager.close()
  resumed = _loop(tmp_path, lambda step: batch, preemption.Preemption(multihost=False))
  assert resumed.resumed_from == 5
  _assert_same_run(resumed, uninterrupted)


def test_a_notice_before_the_first_step_saves_nothing(tmp_path):
  watch = preemption.Preemption(multihost=False)
  watch.request()
  batch = _batch()
  with pytest.raises(training.Preempted, match='preempted at step 0: nothing to save yet') as stop:
    _loop(tmp_path, lambda step: batch, watch)
  assert stop.value.step is None and _steps(tmp_path) == []


def test_a_second_sigterm_ends_the_process_at_once():
  # A signal sent to the process may reach another thread (JAX's); Python runs the handler in
  # the main thread a few bytecodes later, so the child waits for the notice, as a loop would.
  code = ('import os, signal, time\n'
          'from siren_jax import preemption\n'
          'watch = preemption.install()\n'
          'os.kill(os.getpid(), signal.SIGTERM)\n'
          'deadline = time.monotonic() + 10\n'
          'while watch.notice is None and time.monotonic() < deadline:\n'
          '  time.sleep(0.01)\n'
          'print(watch.notice, flush=True)\n'
          'os.kill(os.getpid(), signal.SIGTERM)\n'
          'time.sleep(30)\n'
          'print("still running", flush=True)\n')
  result = subprocess.run([sys.executable, '-c', code], cwd=REPO_ROOT, capture_output=True,
                          text=True, timeout=120, env=subprocess_env())
  assert result.returncode == -signal.SIGTERM, result.stderr[-2000:]
  assert result.stdout.split() == ['SIGTERM']


# The entry point, as a user runs it.

FIT_STEPS = 3000  # A few seconds of training in one process.
TWO_PROCESS_STEPS = 800  # Two processes step ~20x slower (every step all-reduces between them).
LOG_EVERY = 50
PREEMPTED = re.compile(r'\[siren\] preempted at step (\d+): saved a checkpoint at step (\d+) in '
                       r'(\S+); exiting with status 75: rerun the same command to resume\.$')


def _fit_command(workdir, *extra: str, steps: int = FIT_STEPS) -> list[str]:
  return [sys.executable, '-m', 'experiments.fit_image', '--config=fit_image.py:tiny',
          '--config.models=siren', f'--config.steps={steps}', '--config.eval_every=200',
          f'--config.log_every={LOG_EVERY}', '--config.checkpoint_every=400',
          f'--workdir={workdir}', *extra]


class _Run:
  """A subprocess whose stderr lines are collected as they come."""

  def __init__(self, command: list[str], env: dict[str, str]):
    self.lines: list[str] = []
    self.process = subprocess.Popen(command, cwd=REPO_ROOT, env=env, stderr=subprocess.PIPE,
                                    stdout=subprocess.DEVNULL, text=True)
    self._reader = threading.Thread(target=self._read, daemon=True)
    self._reader.start()

  def _read(self) -> None:
    for line in self.process.stderr:
      self.lines.append(line.rstrip('\n'))

  def wait_for(self, text: str, timeout: float = 240.0) -> None:
    deadline = time.time() + timeout
    while not any(text in line for line in self.lines):
      assert self.process.poll() is None, '\n'.join(self.lines[-30:])
      assert time.time() < deadline, f'no {text!r} in time'
      time.sleep(0.02)

  def finish(self, timeout: float = 300.0) -> int:
    try:
      code = self.process.wait(timeout=timeout)
    finally:
      if self.process.poll() is None:
        self.process.kill()
        self.process.wait()
    self._reader.join(timeout=10)
    return code

  def log(self) -> str:
    return '\n'.join(self.lines[-40:])


def _final_params(workdir, steps: int = FIT_STEPS):
  config = fit_config.get_config('tiny')
  template = driver.field_state(config, driver.model_spec(config, 'siren', 1,
                                                          config.image_size))
  manager = checkpoints.make_manager(os.path.join(workdir, 'checkpoints', 'siren'))
  try:
    state, record = checkpoints.restore_latest(manager, template)
  finally:
    manager.close()
  assert int(state.step) == steps
  return state.params, record['history']


def _preempted_step(run: _Run) -> int:
  lines = [m for m in (PREEMPTED.search(line) for line in run.lines) if m]
  assert len(lines) == 1, run.log()
  step, saved, _ = lines[0].groups()
  assert step == saved
  return int(step)


@pytest.mark.slow
def test_fit_image_sigterm_at_a_random_step_exits_75_with_one_line_and_resumes_bit_identically(
    tmp_path):
  env = subprocess_env()
  whole = _Run(_fit_command(tmp_path / 'whole'), env)
  cut = _Run(_fit_command(tmp_path / 'cut'), env)
  cut.wait_for(f'[siren] step {LOG_EVERY}/{FIT_STEPS}')
  delay = random.Random().uniform(0.0, 1.0)
  time.sleep(delay)
  cut.process.send_signal(signal.SIGTERM)
  assert cut.finish() == preemption.EXIT_STATUS, cut.log()
  step = _preempted_step(cut)
  assert LOG_EVERY <= step < FIT_STEPS, (step, delay)
  assert 'Traceback' not in cut.log()
  assert str(step) in os.listdir(tmp_path / 'cut' / 'checkpoints' / 'siren')

  again = _Run(_fit_command(tmp_path / 'cut'), env)
  assert again.finish() == 0, again.log()
  assert any(f'Resumed from checkpoint at step {step}.' in line for line in again.lines)
  assert whole.finish() == 0, whole.log()
  params, history = _final_params(tmp_path / 'cut')
  expected_params, expected_history = _final_params(tmp_path / 'whole')
  jax.tree.map(np.testing.assert_array_equal, params, expected_params)
  assert history == expected_history


def _free_port() -> int:
  with socket.socket() as s:
    s.bind(('127.0.0.1', 0))
    return s.getsockname()[1]


def _two_processes(workdir, port: int) -> list[_Run]:
  env = {**subprocess_env(), 'XLA_FLAGS': '--xla_force_host_platform_device_count=1'}
  return [_Run(_fit_command(workdir, '--distributed', f'--coordinator_address=127.0.0.1:{port}',
                            '--num_processes=2', f'--process_id={i}',
                            steps=TWO_PROCESS_STEPS), env) for i in range(2)]


@pytest.mark.slow
def test_two_processes_agree_on_the_preemption_step_and_resume_bit_identically(tmp_path):
  whole = _two_processes(tmp_path / 'whole', _free_port())
  cut = _two_processes(tmp_path / 'cut', _free_port())
  try:
    cut[0].wait_for(f'[siren] step {LOG_EVERY}/{TWO_PROCESS_STEPS}')
    time.sleep(random.Random().uniform(0.0, 1.0))
    cut[1].process.send_signal(signal.SIGTERM)  # One host's notice stops both.
    assert [run.finish() for run in cut] == [preemption.EXIT_STATUS] * 2, cut[1].log()
    steps = [_preempted_step(run) for run in cut]
    assert steps[0] == steps[1] and LOG_EVERY <= steps[0] < TWO_PROCESS_STEPS
    assert str(steps[0]) in os.listdir(tmp_path / 'cut' / 'checkpoints' / 'siren')
    again = _two_processes(tmp_path / 'cut', _free_port())
    assert [run.finish() for run in again] == [0, 0], again[0].log()
    assert [run.finish() for run in whole] == [0, 0], whole[0].log()
  finally:
    for run in (*whole, *cut):
      if run.process.poll() is None:
        run.process.kill()
        run.process.wait()
  params, history = _final_params(tmp_path / 'cut', TWO_PROCESS_STEPS)
  expected_params, expected_history = _final_params(tmp_path / 'whole', TWO_PROCESS_STEPS)
  jax.tree.map(np.testing.assert_array_equal, params, expected_params)
  assert history == expected_history
