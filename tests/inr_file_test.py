"""siren_jax.inr_file: a fitted image saved as one file, reloaded and re-rendered at any size."""

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
