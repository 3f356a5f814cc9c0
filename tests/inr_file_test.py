"""siren_jax.inr_file: a fitted image saved as one file, reloaded and re-rendered at any size."""

import json
import os

import jax
import numpy as np
import pytest

from siren_jax import inr_file, models, render, tiling
from siren_jax.models import fields
from tests.helpers import SMALL_SIREN


def test_saved_fitted_image_reloads_and_renders_identically(camera32_fit, tmp_path):
  path = str(tmp_path / 'camera.inr')
  size = inr_file.save(path, camera32_fit.params, model=SMALL_SIREN, height=32,
                       width=32, channels=1, extra={'source': 'camera'})
  assert size == os.path.getsize(path)
  loaded = inr_file.load(path)
  assert (loaded.height, loaded.width, loaded.channels) == (32, 32, 1)
  assert loaded.metadata['source'] == 'camera'
  for h, w in ((32, 32), (50, 75)):
    np.testing.assert_array_equal(loaded.render(h, w),
                                  render.render(camera32_fit.apply_fn, camera32_fit.params, h, w))
  half = str(tmp_path / 'half.inr')
  assert inr_file.save(half, camera32_fit.params, model=SMALL_SIREN, height=32,
                       width=32, channels=1, param_dtype='float16') < 0.6 * size
  np.testing.assert_allclose(inr_file.load(half).render(32, 32), loaded.render(32, 32),
                             atol=0.05)


def test_tiled_fitted_image_round_trips(tmp_path):
  layout = tiling.make_layout(20, 30, 16, 4)
  model = fields.make_field_model(**SMALL_SIREN)
  params = fields.init_params(model, jax.random.PRNGKey(1), layout.num_tiles)
  path = str(tmp_path / 'tiled.inr')
  inr_file.save(path, params, model=SMALL_SIREN, height=20, width=30,
                channels=1, layout=layout, ramp='linear')
  loaded = inr_file.load(path)
  field = tiling.tiled_field(models.apply_fn(model), layout, 'linear')
  np.testing.assert_allclose(loaded.render(33, 41), render.render(field, params, 33, 41),
                             atol=1e-6)


def test_foreign_or_corrupt_files_give_one_line_errors(camera32_fit, tmp_path):
  foreign = tmp_path / 'foreign.inr'
  foreign.write_bytes(b'\x89PNG not a network')
  with pytest.raises(ValueError, match='not a siren_jax fitted-image file'):
    inr_file.load(str(foreign))
  with pytest.raises(FileNotFoundError, match='not found'):
    inr_file.load(str(tmp_path / 'missing.inr'))
  wrong = str(tmp_path / 'wrong.inr')
  narrower = {**SMALL_SIREN, 'hidden_features': 16}
  inr_file.save(wrong, camera32_fit.params, model=narrower, height=32, width=32, channels=1)
  with pytest.raises(ValueError, match='corrupt fitted-image file') as e:
    inr_file.load(wrong)
  assert '\n' not in str(e.value)


def test_one_parameter_of_the_wrong_shape_is_named_in_a_one_line_error(camera32_fit, tmp_path):
  """A file whose model description is right but one stored array has the wrong shape (e.g.
  edited by hand or written by another tool): the error names exactly that parameter."""
  from flax import serialization  # pylint: disable=g-import-not-at-top
  good = str(tmp_path / 'good.inr')
  inr_file.save(good, camera32_fit.params, model=SMALL_SIREN, height=32, width=32, channels=1)
  with open(good, 'rb') as f:
    contents = serialization.msgpack_restore(f.read())
  leaves = jax.tree_util.tree_leaves_with_path(contents['params'])
  path, bias = next((p, leaf) for p, leaf in leaves if 'bias' in jax.tree_util.keystr(p))
  node = contents['params']
  for key in path[:-1]:
    node = node[key.key]
  node[path[-1].key] = np.asarray(bias)[:-1]  # One element short: the only mismatch.
  bad = tmp_path / 'bad.inr'
  bad.write_bytes(serialization.msgpack_serialize(contents))
  with pytest.raises(ValueError, match='corrupt fitted-image file') as e:
    inr_file.load(str(bad))
  message = str(e.value)
  assert '\n' not in message
  assert jax.tree_util.keystr(path) in message, message


@pytest.fixture(scope='module')
def linspace_fit(camera32):
  """SMALL_SIREN fitted 100 steps to ``camera32`` sampled on the linspace grid, and its
  training coordinates."""
  import optax  # pylint: disable=g-import-not-at-top
  from siren_jax import fitting, grids, training  # pylint: disable=g-import-not-at-top
  model = fields.make_field_model(**SMALL_SIREN)
  state = training.create_train_state(model, jax.random.PRNGKey(0), np.zeros((1, 2), np.float32),
                                      optax.adam(1e-3))
  coords, values = grids.image_to_samples(camera32, 'linspace')
  step = training.make_train_step(fitting.image_loss, steps_per_call=100)
  state, _ = step(state, {'coords': coords, 'values': values})
  return state, coords


def test_a_linspace_fit_keeps_its_grid_through_render_and_the_file(camera32, linspace_fit,
                                                                    tmp_path):
  state, coords = linspace_fit
  samples = np.asarray(state.apply_fn(state.params, coords)).reshape(32, 32, 1)
  rendered = render.render(state.apply_fn, state.params, 32, 32, grid='linspace')
  np.testing.assert_allclose(rendered, samples, atol=1e-5)  # Blocks vs one batch: float noise.
  # On the other grid every pixel moves by up to half a pixel: a visibly different image.
  assert np.abs(render.render(state.apply_fn, state.params, 32, 32) - samples).max() > 0.1
  path = str(tmp_path / 'linspace.inr')
  inr_file.save(path, state.params, model=SMALL_SIREN, height=32, width=32, channels=1,
                grid='linspace')
  loaded = inr_file.load(path)
  assert loaded.grid == 'linspace'
  np.testing.assert_array_equal(loaded.render(32, 32), rendered)
  # Any other size: pixel centres on the borders again (corner pixels are the fit's corners).
  big = loaded.render(63, 63)
  np.testing.assert_array_equal(big, render.render(state.apply_fn, state.params, 63, 63,
                                                   grid='linspace'))
  np.testing.assert_allclose(big[::2, ::2], samples, atol=1e-5)  # linspace(-1, 1, 63)[::2].
  # A crop of the box on the same grid gives the fit's own pixels of the box.
  y_range, x_range = render.pixel_box_to_ranges(5, 8, 20, 30, 32, 32, grid='linspace')
  crop = loaded.render(15, 22, y_range=y_range, x_range=x_range)
  np.testing.assert_allclose(crop, samples[5:20, 8:30], atol=1e-5)


def test_version_1_files_read_as_half_pixel_fits(camera32_fit, tmp_path):
  from flax import serialization  # pylint: disable=g-import-not-at-top
  path = str(tmp_path / 'new.inr')
  inr_file.save(path, camera32_fit.params, model=SMALL_SIREN, height=32, width=32, channels=1)
  with open(path, 'rb') as f:
    contents = serialization.msgpack_restore(f.read())
  # What version 1 wrote: no convention name, a description of the only grid there was.
  metadata = json.loads(contents['metadata'])
  metadata['grid'] = 'pixel-centre, image covers [-1, 1]^2, coords (y, x)'
  contents.update(version=1, metadata=json.dumps(metadata))
  old = tmp_path / 'old.inr'
  old.write_bytes(serialization.msgpack_serialize(contents))
  loaded = inr_file.load(str(old))
  assert loaded.grid == 'half_pixel'
  np.testing.assert_array_equal(loaded.render(40, 24), render.render(
      camera32_fit.apply_fn, camera32_fit.params, 40, 24))
  contents['version'] = 3
  old.write_bytes(serialization.msgpack_serialize(contents))
  with pytest.raises(ValueError, match='format version 3; this siren_jax reads versions 1, 2'):
    inr_file.load(str(old))


def test_tiled_fits_are_half_pixel_only(tmp_path):
  layout = tiling.make_layout(20, 30, 16, 4)
  params = fields.init_params(fields.make_field_model(**SMALL_SIREN), jax.random.PRNGKey(1),
                              layout.num_tiles)
  with pytest.raises(ValueError, match="tiled fit is on the half_pixel grid, got "
                     "grid='linspace'"):
    inr_file.save(str(tmp_path / 't.inr'), params, model=SMALL_SIREN, height=20, width=30,
                  channels=1, layout=layout, grid='linspace')
