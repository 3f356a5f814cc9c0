"""The reference code's image preparation (config.data): where each config uses it, and that the
experiments fit, evaluate and save on the grid they were given."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from experiments import driver, fit_image_lib, resize_lib
from experiments.configs import common
from experiments.configs import fit_image as fit_image_config
from experiments.configs import poisson as poisson_config
from experiments.configs import reproduce as reproduce_config
from experiments.configs import resize as resize_config
from siren_jax import fitting, grids, images, inr_file, metrics, render, training
from tests.helpers import subprocess_env

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TODAY = {'resize': 'bicubic', 'grid': 'half_pixel'}
REFERENCE = {'resize': 'reference', 'grid': 'linspace'}


@pytest.mark.parametrize('get_config, variant', [
    (fit_image_config.get_config, ''), (fit_image_config.get_config, 'tiny'),
    (poisson_config.get_config, 'grad'), (poisson_config.get_config, 'merge'),
    (poisson_config.get_config, 'clone'), (resize_config.get_config, 'compare'),
    (resize_config.get_config, 'upscale'),
])
def test_cpu_defaults_keep_todays_preparation(get_config, variant):
  assert get_config(variant).data.to_dict() == TODAY


@pytest.mark.parametrize('get_config, variant, expected', [
    (fit_image_config.get_config, 'paper', REFERENCE),
    (poisson_config.get_config, 'grad,paper', REFERENCE),
    (poisson_config.get_config, 'laplacian,paper', REFERENCE),
    (poisson_config.get_config, 'merge,paper', REFERENCE),
    (poisson_config.get_config, 'blend,paper', REFERENCE),
    # Not the paper's experiments, and their geometry is the half_pixel grid's (box-averaged
    # inputs; the cloning loss): the reference's resizing only.
    (poisson_config.get_config, 'clone,paper', {'resize': 'reference', 'grid': 'half_pixel'}),
    (resize_config.get_config, 'compare,paper', {'resize': 'reference', 'grid': 'half_pixel'}),
])
def test_paper_scales_prepare_images_as_the_reference(get_config, variant, expected):
  assert get_config(variant).data.to_dict() == expected


@pytest.mark.parametrize('scale', reproduce_config.SCALE_NAMES)
def test_reproductions_paper_figure_parts_use_the_reference_preparation(scale):
  config = reproduce_config.get_config(scale)
  experiments = {'fit_variant': fit_image_config.get_config,
                 'grad_variant': poisson_config.get_config,
                 'laplacian_variant': poisson_config.get_config,
                 'merge_variant': poisson_config.get_config,
                 'clone_variant': poisson_config.get_config,
                 'resize_variant': resize_config.get_config}
  for field, get_config in experiments.items():
    data = get_config(config[field]).data.to_dict()
    if field in reproduce_config.PAPER_FIGURE_VARIANTS:
      assert data == REFERENCE, (field, data)
    elif scale != 'paper':
      assert data == TODAY, (field, data)


def test_data_fields_are_set_by_dotted_variant_assignments():
  config = fit_image_config.get_config('tiny,data.grid=linspace')
  assert config.data.to_dict() == {'resize': 'bicubic', 'grid': 'linspace'}
  with pytest.raises(ValueError, match="config variant: unknown config field 'data.method'"):
    fit_image_config.get_config('data.method=reference')
  with pytest.raises(ValueError, match="unknown config field 'image_size.grid'"):
    common.apply_overrides(fit_image_config.get_config(), {'image_size.grid': 1}, 'test')


def test_bad_data_fields_exit_with_one_clear_line(tmp_path):
  result = subprocess.run(
      [sys.executable, '-m', 'experiments.fit_image', '--config=experiments/configs/fit_image.py:'
       'tiny', '--config.data.grid=corners', f'--workdir={tmp_path}'], cwd=REPO_ROOT,
      env=subprocess_env(), capture_output=True, text=True, timeout=240)
  assert result.returncode == 2, result.stderr[-2000:]
  errors = [line for line in result.stderr.splitlines() if line.startswith('error:')]
  assert errors == ["error: config.data.grid must be one of half_pixel, linspace, got "
                    "'corners'"], result.stderr[-2000:]


def test_resize_compare_and_tiled_upscale_refuse_the_linspace_grid(tmp_path):
  config = resize_config.get_config('tiny,data.grid=linspace')
  with pytest.raises(ValueError, match='must be half_pixel for the compare task'):
    resize_lib.train_and_evaluate(config, str(tmp_path))
  config = resize_config.get_config('upscale,tiny,data.grid=linspace,tile_size=8')
  with pytest.raises(ValueError, match='must be half_pixel for a tiled fit'):
    resize_lib.train_and_evaluate(config, str(tmp_path))
  with pytest.raises(ValueError, match='must be half_pixel for clone'):
    from experiments.poisson import clone  # pylint: disable=g-import-not-at-top
    clone.check_config(poisson_config.get_config('clone,tiny,data.grid=linspace'))


@pytest.mark.slow
def test_fit_image_on_the_reference_preparation_evaluates_on_its_grid(tmp_path):
  config = fit_image_config.get_config(
      'tiny,models=siren,data.resize=reference,data.grid=linspace,steps=100,eval_every=100,'
      'log_every=100,checkpoint_every=0,optimizer.learning_rate=1e-3')
  out = fit_image_lib.train_and_evaluate(config, str(tmp_path))
  assert out['config']['data'] == REFERENCE
  # The same fit by hand: the reference-resized image, sampled on the linspace grid, the
  # experiment's model and seed; its field rendered on that grid scores the experiment's PSNR.
  image = images.load_image('camera', mode='grey', size=32, resize_method='reference')
  coords, values = grids.image_to_samples(image, 'linspace')
  state = driver.field_state(config, driver.model_spec(config, 'siren', 1, 32))
  step = training.make_train_step(fitting.image_loss, steps_per_call=config.steps)
  state, _ = step(state, {'coords': coords, 'values': values})
  on_grid = render.render(state.apply_fn, state.params, 32, 32, grid='linspace')
  assert out['models']['siren']['psnr'] == pytest.approx(float(metrics.psnr(on_grid, image)),
                                                         abs=0.01)
  off_grid = render.render(state.apply_fn, state.params, 32, 32)
  assert float(metrics.psnr(off_grid, image)) < out['models']['siren']['psnr'] - 0.5


@pytest.mark.slow
def test_upscale_on_the_linspace_grid_saves_and_rerenders_it(tmp_path):
  source = str(tmp_path / 'small.png')
  images.save_png(source, images.load_image('astronaut', mode='rgb', size=(12, 20)))
  config = resize_config.get_config('upscale,tiny,data.grid=linspace')
  config.update(input=source, steps=30, eval_every=0, log_every=0, checkpoint_every=0,
                factor=2.0, output=str(tmp_path / 'big.png'))
  info = resize_lib.train_and_evaluate(config, str(tmp_path / 'fit'))
  fitted = inr_file.load(info['network'])
  assert fitted.grid == 'linspace'
  image = images.load_image(source)
  coords, values = grids.image_to_samples(image, 'linspace')
  own = float(fitting.image_loss(fitted.params, {'coords': coords, 'values': values},
                                 fitted.field)[1]['psnr'])
  assert info['fit_psnr'] == pytest.approx(own, abs=0.01)
  # Its corner pixels stay the fit's corners at twice the size.
  big = images.load_image(info['output'])
  corners = np.asarray(fitted.field(fitted.params, coords)).reshape(12, 20, 3)
  np.testing.assert_allclose(big[[0, 0, -1, -1], [0, -1, 0, -1]],
                             np.clip(corners[[0, 0, -1, -1], [0, -1, 0, -1]], -1, 1),
                             atol=1 / 255)
  half = render.render(fitted.field, fitted.params, 12, 20)
  assert float(metrics.psnr(half, image)) < own  # The other grid is not the fit's.
  with open(os.path.join(tmp_path, 'fit', 'metrics.json')) as f:
    assert json.load(f)['config']['data']['grid'] == 'linspace'
