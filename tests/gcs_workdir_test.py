"""gs:// workdirs: every entry point writes all its outputs into the bucket and nothing to local
disk (a fake bucket, tests/fake_gcs.py); TensorBoard event files through etils.epath; a gs://
workdir without the gcs extra, or an unwritable workdir, is one line. The library's own file
access: files_test.py."""

from __future__ import annotations

import json
import os
import struct
import subprocess
import sys

import numpy as np
import pytest
from tensorboardX.proto import event_pb2

from experiments import common, fit_image_lib, resize_lib
from experiments.colorize import compare as colorize_compare
from experiments.colorize import heldout as colorize_heldout
from experiments.colorize import photo as colorize_photo
from experiments.colorize import train as colorize_train
from experiments.configs import colorize as colorize_config
from experiments.configs import fit_image as fit_image_config
from experiments.configs import poisson as poisson_config
from experiments.configs import reproduce as reproduce_config
from experiments.configs import resize as resize_config
from experiments.configs import sr as sr_config
from experiments.poisson import train as poisson_train
from experiments.reproduce import run as reproduce_run
from experiments.sr import evaluate as sr_evaluate
from experiments.sr import train as sr_train
from siren_jax import files, images, inr_file
from tests.helpers import SMALL_SIREN, stripes, subprocess_env
from tests.fake_gcs import HAS_GCSFS, bucket, fake_gcs  # noqa: F401 (bucket: a fixture)

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RUN = 'gs://bucket/run'
def _listing(directory) -> set[str]:
  return {os.path.relpath(os.path.join(d, n), directory)
          for d, _, names in os.walk(directory) for n in names}


def _events(path) -> list[event_pb2.Event]:
  """The records of a TensorBoard event file (TFRecord framing: u64 length, u32 CRC, data,
  u32 CRC), decoded as Event protos."""
  data, events, offset = path.read_bytes(), [], 0
  while offset < len(data):
    (length,) = struct.unpack('<Q', data[offset:offset + 8])
    events.append(event_pb2.Event.FromString(data[offset + 12:offset + 12 + length]))
    offset += 12 + length + 4
  return events


def test_event_files_in_a_bucket_are_rewritten_on_flush_and_roll_over_into_ordered_parts(bucket):
  root, _ = bucket
  event_file = common._EpathEventFile(f'{RUN}/tb/events.out.tfevents.1.host')  # pylint: disable=protected-access
  event_file.PART_BYTES = 10
  for record in (b'abcd', b'efgh', b'ijkl', b'mn'):
    event_file.write(record)
    event_file.flush()
  event_file.write(b'op')
  event_file.close()
  tb = root / 'bucket' / 'run' / 'tb'
  # Parts close at the first flush past 10 bytes: 'abcdefghijkl' (12), then 'mnop'.
  assert [(p.name, p.read_bytes()) for p in sorted(tb.iterdir())] == [
      ('events.out.tfevents.1.host', b'abcdefghijkl'),
      ('events.out.tfevents.1.host.0001', b'mnop')]


def test_tensorboard_scalars_and_images_in_a_bucket_decode_back(bucket, monkeypatch):
  root, cwd = bucket
  monkeypatch.setattr(common._EpathEventFile, 'PART_BYTES', 200)  # pylint: disable=protected-access
  writer = common.ScalarWriter(f'{RUN}/tb')
  for step in range(20):
    writer.write(step, {'loss': step / 10}, prefix='siren/train/')
  writer.write_images(20, {'fit': np.ones((4, 6, 3), np.float32)}, prefix='siren/images/')
  writer.close()
  parts = sorted((root / 'bucket' / 'run' / 'tb').iterdir())
  assert parts and all('tfevents' in p.name for p in parts)
  events = [e for p in parts for e in _events(p)]
  scalars = [(e.step, v.tag, v.simple_value) for e in events for v in e.summary.value
             if v.HasField('simple_value')]
  assert scalars == [(s, 'siren/train/loss', pytest.approx(s / 10)) for s in range(20)]
  (image,) = [v.image for e in events for v in e.summary.value if v.HasField('image')]
  assert (image.height, image.width, image.colorspace) == (4, 6, 3)
  assert not os.listdir(cwd)


# Every entry point, tiny, with a gs:// workdir.

def _fit_image():
  config = fit_image_config.get_config('tiny')
  config.models = 'siren'
  fit_image_lib.train_and_evaluate(config, RUN)
  return {'config.json', 'metrics.json', 'figure.png', 'psnr.png', 'psnr_vs_time.png',
          'siren.png', 'siren.inr', 'checkpoints/siren/run.json', 'checkpoints/siren/20/'}


def _poisson():
  poisson_train.train_and_evaluate(poisson_config.get_config('grad,tiny'), RUN)
  return {'config.json', 'metrics.json', 'figure.png', 'grad_grey_siren.png',
          'grad_grey_direct.png', 'checkpoints/grad/10/'}


def _clone():
  poisson_train.train_and_evaluate(poisson_config.get_config('clone,tiny'), RUN)
  return {'config.json', 'metrics.json', 'figure.png', 'clone_mixed.inr'}


def _resize():
  config = resize_config.get_config('tiny')
  resize_lib.train_and_evaluate(config, RUN)
  return {'config.json', 'metrics.json', 'comparison.png', 'siren_x2.inr'}


def _upscale():
  images.save_png('gs://bucket/in/small.png', images.load_image('astronaut', size=(12, 20)))
  config = resize_config.get_config('upscale,tiny')
  config.update({'input': 'gs://bucket/in/small.png', 'factor': 2, 'steps': 10,
                 'output': f'{RUN}/big.png'})
  resize_lib.train_and_evaluate(config, RUN)
  return {'config.json', 'metrics.json', 'big.png', 'fitted.inr'}


def _colorize():
  config = colorize_config.get_config('SRS,tiny')
  config.epochs = 1
  colorize_train.train_and_evaluate(config, RUN)
  images.save_png('gs://bucket/in/grey.png', np.linspace(-1, 1, 21 * 30).reshape(21, 30))
  colorize_photo.colorize_file(config, RUN, 'gs://bucket/in/grey.png', f'{RUN}/colour.png')
  return {'config.json', 'metrics.json', 'loss.png', 'figure_test.png',
          'colour.png', 'checkpoints/SRS/run.json'}


def _colorize_compare():
  config = colorize_config.get_config('tiny')
  config.update({'epochs': 1, 'compare_models': 'FR,SRS'})
  colorize_compare.compare(config, RUN)
  return {'config.json', 'compare.json', 'compare.md', 'compare.png', 'SRS/metrics.json'}


def _colorize_heldout():
  config = colorize_config.get_config('tiny')
  config.update({'photo_side': 48, 'epochs': 1, 'heldout_seeds': 1})
  colorize_heldout.run(config, RUN)
  return {'config.json', 'heldout.json', 'heldout.md', 'heldout.png'}


def _sr():
  for k, (h, w) in enumerate(((96, 120), (100, 90))):
    images.save_png(f'gs://bucket/photos/p{k}.png', stripes(h, w).astype(np.float32) / 127.5 - 1)
  photos = {d: 'folder:gs://bucket/photos' for d in ('dataset', 'val_dataset', 'test_dataset')}
  config = sr_config.get_config('tiny')
  config.update(photos)
  sr_train.train(config, RUN)
  config = sr_config.get_config('evaluate,tiny')
  config.update({**photos, 'model_file': f'{RUN}/model.sr'})
  sr_evaluate.evaluate(config, f'{RUN}/eval')
  return {'config.json', 'metrics.json', 'model.sr', 'checkpoints/', 'eval/config.json',
          'eval/metrics.json', 'eval/table.md'}


def _reproduce():
  config = reproduce_config.get_config('tiny')
  config.parts = 'fit'  # The others are the entry points above.
  reproduce_run.train_and_evaluate(config, RUN)
  return {'config.json', 'REPORT.md', 'fit/metrics.json', 'fit/config.json',
          'reproduction_figures/'}


@pytest.mark.slow
@pytest.mark.parametrize('entry_point', [
    _fit_image, _poisson, _clone, _resize, _upscale, _colorize, _colorize_compare,
    _colorize_heldout, _sr, _reproduce], ids=lambda f: f.__name__.strip('_'))
def test_every_entry_point_writes_all_its_outputs_to_a_gs_workdir_and_nothing_locally(
    bucket, entry_point):
  root, cwd = bucket
  expected = entry_point()
  written = _listing(root / 'bucket' / 'run')
  missing = [name for name in expected if not (
      any(w.startswith(name) for w in written) if name.endswith('/') else name in written)]
  assert not missing, sorted(written)
  if entry_point is not _colorize_heldout:  # It keeps no checkpoints nor TensorBoard files.
    assert any('tb/events.out.tfevents' in w for w in written), sorted(written)
  with open(root / 'bucket' / 'run' / 'config.json') as f:
    assert json.load(f)['devices']['num_processes'] == 1
  assert not os.listdir(cwd), os.listdir(cwd)


# Bad workdirs, from the command line.

def _the_error_line(stderr: str) -> str:
  """The last line of stderr, the only 'error:' line (the logs before it: the config)."""
  lines = stderr.strip().splitlines()
  assert [line for line in lines if line.startswith('error:')] == lines[-1:], stderr[-2000:]
  assert 'Traceback' not in stderr
  return lines[-1]


def _fit_image_command(workdir: str, cwd) -> subprocess.CompletedProcess:
  return subprocess.run(
      [sys.executable, '-m', 'experiments.fit_image', '--config=fit_image.py:tiny',
       '--config.models=siren', f'--workdir={workdir}'],
      cwd=cwd, capture_output=True, text=True, timeout=300, env=subprocess_env())


@pytest.mark.skipif(HAS_GCSFS, reason='gcsfs is installed: gs:// is reachable')
def test_a_gs_workdir_without_the_gcs_extra_is_one_line_exit_2_and_writes_nothing(tmp_path):
  result = _fit_image_command('gs://bucket/run', tmp_path)
  assert result.returncode == 2, result.stderr[-2000:]
  line = _the_error_line(result.stderr)
  assert line.startswith("error: 'gs://bucket/run' needs a filesystem package"), line
  assert line.endswith("pip install 'siren_jax[gcs]'"), line
  assert not os.listdir(tmp_path)


def test_an_unwritable_workdir_is_one_line_exit_2(tmp_path):
  blocker = tmp_path / 'file'
  blocker.write_text('not a directory')
  result = _fit_image_command(str(blocker / 'run'), tmp_path)
  assert result.returncode == 2, result.stderr[-2000:]
  line = _the_error_line(result.stderr)
  assert line.startswith(f"error: cannot write to --workdir '{blocker / 'run'}'"), line
  assert sorted(os.listdir(tmp_path)) == ['file']
