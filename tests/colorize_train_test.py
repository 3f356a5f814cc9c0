"""experiments.colorize.train (``python -m experiments.colorize``) end to end on tiny configs:
outputs, resume, a photo colourised by the trained model, global fusion trained through the
experiment config, and one-line config errors."""

import json
import os

import imageio.v3 as iio
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from experiments.colorize import compare as colorize_compare
from experiments.colorize import photo as colorize_photo
from experiments.colorize import train as colorize_train
from experiments.configs import colorize as colorize_config
from tests.helpers import colorize_variant, random_grey


def _grey_photo(path, shape=(21, 30)):
  ramp = np.linspace(0, 255, shape[0] * shape[1]).reshape(shape).astype(np.uint8)
  iio.imwrite(path, ramp)
  return path


@pytest.mark.slow
def test_entry_point_writes_outputs_resumes_and_colourises_a_photo(tmp_path):
  workdir = str(tmp_path / 'srs')
  first = colorize_train.train_and_evaluate(colorize_variant('SRS,tiny', epochs=1), workdir)
  for name in ('figure_train.png', 'figure_val.png', 'figure_test.png', 'loss.png',
               'metrics.json', 'checkpoints/SRS/run.json'):
    assert os.path.exists(os.path.join(workdir, name)), name
  assert first['resumed_from_step'] is None
  for split in ('train', 'val', 'test'):
    assert 5 < first['splits'][split]['psnr'] < 60 and first['splits'][split]['grey_psnr'] > 5

  second = colorize_train.train_and_evaluate(colorize_variant('SRS,tiny', epochs=2), workdir)
  assert second['resumed_from_step'] == first['steps_per_epoch']
  assert [r['epoch'] for r in second['history']] == [0, 1, 2]
  assert second['history'][:2] == first['history']  # The restored history is kept.
  with open(os.path.join(workdir, 'metrics.json')) as f:
    assert json.load(f)['epochs'] == 2

  rgb = colorize_photo.colorize_file(colorize_variant('SRS,tiny'), workdir,
                                         _grey_photo(str(tmp_path / 'grey.png')),
                                         str(tmp_path / 'out.png'))
  assert rgb.shape == (21, 30, 3)
  assert iio.imread(str(tmp_path / 'out.png')).shape == (21, 30, 3)
  with pytest.raises(FileNotFoundError, match='holds no trained colouriser FR'):
    colorize_photo.load_params(colorize_variant('FR,tiny'), workdir)
  wider = {'model': {'width_scale': 0.25}}
  with pytest.raises(ValueError, match="holds a SRS model that differs from this config "
                                       r"\(model.width_scale: 0.125 there, 0.25 here\)"):
    colorize_photo.load_params(colorize_variant('SRS,tiny', **wider), workdir)
  with pytest.raises(ValueError, match='of a different run .*model.width_scale'):
    colorize_train.train_and_evaluate(colorize_variant('SRS,tiny', epochs=1, **wider), workdir)


@pytest.mark.slow
def test_fc_model_trains_and_colourises_a_larger_photo_by_tiles(tmp_path):
  workdir = str(tmp_path / 'fc')
  result = colorize_train.train_and_evaluate(colorize_variant('FC,tiny', epochs=1), workdir)
  assert result['history'][-1]['train_loss'] < result['history'][0]['train_loss']
  rgb = colorize_photo.colorize_file(colorize_variant('FC,tiny'), workdir,
                                         _grey_photo(str(tmp_path / 'grey.png')),
                                         str(tmp_path / 'out.png'))
  assert rgb.shape == (21, 30, 3) and np.abs(rgb).max() <= 1


def test_bad_configs_are_one_line_errors(tmp_path):
  with pytest.raises(ValueError, match='multiple of 8'):
    colorize_train.check_config(colorize_variant('FR,tiny', image_size=20))
  with pytest.raises(ValueError, match='bad colorize config variant'):
    colorize_config.get_config('FR,SRS')
  with pytest.raises(ValueError, match='unknown embedding'):
    colorize_train.check_config(colorize_variant('FR,tiny', model={'fusion': 'inception'}))
  with pytest.raises(ValueError, match='FR, SRS, S130'):
    colorize_compare.compare(colorize_variant('tiny', compare_models='FR,FC'), str(tmp_path))


def test_global_fusion_trains_through_the_experiment_config():
  config = colorize_config.get_config('SRS,tiny')
  config.model.fusion = 'global'
  colorize_train.check_config(config)
  state = colorize_train.make_state(config)
  loss_fn = colorize_train.make_loss_fn(config)
  batch = {'grey': random_grey(batch=4), 'ab': jnp.zeros((4, 16, 16, 2))}
  grads = jax.jit(jax.grad(lambda p: loss_fn(p, batch, state.apply_fn)[0]))(state.params)
  branch_grads = jax.tree.leaves(grads['global_features'])
  assert any(float(jnp.abs(g).max()) > 0 for g in branch_grads)  # Jointly trained.
