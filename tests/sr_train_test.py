"""Learned resizing's training (experiments.sr.train): a model trained a few steps on one pattern beats bicubic on a held-out crop of it;
the entry point trains, resumes and evaluates at the tiny scale."""

import json
import os
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from experiments.resize_lib import classical_resize
from siren_jax import images, metrics
from siren_jax.sr import liif, patches, upscale
from tests.helpers import stripes, subprocess_env

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_a_few_steps_on_one_pattern_beat_bicubic_on_a_held_out_crop():
  photo = stripes(200, 200)
  spec = liif.Spec(encoder_features=16, encoder_blocks=1, decoder_hidden=32, decoder_layers=2)
  stream = patches.Patches([photo[:120]], batch_size=4, input_size=16, queries=256,
                           scale=(2, 3))
  model = liif.LIIF(spec)
  params = liif.init_params(spec, jax.random.PRNGKey(0))
  tx = optax.adam(2e-3)
  opt = tx.init(params)

  @jax.jit
  def step(params, opt, batch):
    def loss(p):
      pred = model.apply({'params': p}, batch['lr'], batch['coords'], batch['cell'])
      return jnp.mean(jnp.abs(pred - batch['rgb']))
    grads = jax.grad(loss)(params)
    updates, opt = tx.update(grads, opt)
    return optax.apply_updates(params, updates), opt

  for i in range(150):
    params, opt = step(params, opt, stream.batch(i))
  truth = photo[136:200, 136:200].astype(np.float32) / 127.5 - 1  # Never cropped in training.
  low = classical_resize(truth, 32, 32, 'bicubic')
  learned = upscale.upscale(spec, params, low, 64, 64, tile_size=0)
  bicubic = classical_resize(low, 64, 64, 'bicubic')
  inner = (slice(2, -2), slice(2, -2))
  gain = float(metrics.psnr(np.clip(learned, -1, 1)[inner], truth[inner]) -
               metrics.psnr(bicubic[inner], truth[inner]))
  assert gain > 1.0, gain


def _run(workdir, *overrides, variant='tiny'):
  return subprocess.run(
      [sys.executable, '-m', 'experiments.sr', f'--config=experiments/configs/sr.py:{variant}',
       f'--workdir={workdir}', *overrides],
      cwd=REPO_ROOT, capture_output=True, text=True, timeout=600, env=subprocess_env())


@pytest.mark.slow
def test_entry_point_trains_resumes_and_evaluates_on_a_folder(tmp_path):
  folder = tmp_path / 'photos'
  folder.mkdir()
  for k, (h, w) in enumerate(((96, 120), (100, 90))):
    images.save_png(str(folder / f'p{k}.png'), stripes(h, w).astype(np.float32) / 127.5 - 1)
  data = [f'--config.dataset=folder:{folder}', f'--config.val_dataset=folder:{folder}',
          f'--config.test_dataset=folder:{folder}']
  proc = _run(tmp_path / 'run', *data)
  assert proc.returncode == 0, proc.stderr[-2000:]
  with open(tmp_path / 'run' / 'metrics.json') as f:
    trained = json.load(f)
  assert trained['steps'] == 4 and 'psnr_x2' in trained['history'][-1]
  proc = _run(tmp_path / 'run', *data, '--config.steps=6')
  assert proc.returncode == 0, proc.stderr[-2000:]
  with open(tmp_path / 'run' / 'metrics.json') as f:
    assert json.load(f)['resumed_from_step'] == 4
  proc = _run(tmp_path / 'eval', *data, f'--config.model_file={tmp_path / "run" / "model.sr"}',
              variant='evaluate,tiny')
  assert proc.returncode == 0, proc.stderr[-2000:]
  with open(tmp_path / 'eval' / 'metrics.json') as f:
    evaluated = json.load(f)
  assert set(evaluated['summary']) == {'x2', 'x3'}
  assert set(evaluated['photos']) == {'p0.png', 'p1.png'}
  assert (tmp_path / 'eval' / 'table.md').read_text().startswith('| scale |')


def test_training_on_a_test_split_is_refused(tmp_path):
  proc = _run(tmp_path, '--config.dataset=corpus:test')
  assert proc.returncode == 2
  assert proc.stderr.strip().splitlines()[-1] == (
      "error: config.dataset='corpus:test' is a test split: never train on it")
