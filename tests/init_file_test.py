"""siren_jax.init_file: a learned init saved and reloaded bit for bit (local and gs://), one-line
errors for files that are not one, and the spec check that decides which fits it can start."""

from __future__ import annotations

import hashlib
import json
import os

import jax
import numpy as np
import pytest
from flax import serialization

from siren_jax import init_file, inr_file
from siren_jax.models import fields
from tests.fake_gcs import bucket  # noqa: F401 (a fixture)
from tests.helpers import SMALL_SIREN

TRAINED_ON = {'source': 'corpus', 'split': 'train', 'crop': 32, 'algorithm': 'reptile'}


@pytest.fixture(scope='module')
def params():
  return fields.init_params(fields.make_field_model(**SMALL_SIREN), jax.random.PRNGKey(3))


@pytest.fixture
def saved(tmp_path, params) -> str:
  path = str(tmp_path / 'siren.init')
  init_file.save(path, params, model=SMALL_SIREN, trained_on=TRAINED_ON)
  return path


def _assert_same_params(a, b) -> None:
  assert jax.tree.structure(a) == jax.tree.structure(b)
  for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)):
    assert np.asarray(x).dtype == np.float32
    np.testing.assert_array_equal(np.asarray(x), np.asarray(y))


def _one_line_value_error(path: str, match: str) -> str:
  with pytest.raises(ValueError, match=match) as error:
    init_file.load(path)
  assert '\n' not in str(error.value)
  return str(error.value)


def _rewrite(path: str, edit) -> str:
  """A copy of the init at ``path`` with its decoded contents changed by ``edit``."""
  with open(path, 'rb') as f:
    contents = serialization.msgpack_restore(f.read())
  edit(contents)
  edited = path + '.edited'
  with open(edited, 'wb') as f:
    f.write(serialization.msgpack_serialize(contents))
  return edited


def test_saved_init_reloads_bit_for_bit_with_its_description(saved, params):
  loaded = init_file.load(saved)
  _assert_same_params(loaded.params, params)
  assert loaded.model == fields.read_spec(SMALL_SIREN)
  assert loaded.grid == 'half_pixel'
  assert loaded.trained_on == TRAINED_ON
  with open(saved, 'rb') as f:
    assert loaded.sha256 == hashlib.sha256(f.read()).hexdigest()


def test_init_round_trips_through_a_bucket_without_local_files(bucket, params):  # noqa: F811
  root, cwd = bucket
  size = init_file.save('gs://bucket/inits/siren.init', params, model=SMALL_SIREN,
                        grid='linspace', trained_on=TRAINED_ON)
  assert size == (root / 'bucket' / 'inits' / 'siren.init').stat().st_size
  loaded = init_file.load('gs://bucket/inits/siren.init')
  _assert_same_params(loaded.params, params)
  assert (loaded.grid, loaded.trained_on) == ('linspace', TRAINED_ON)
  with pytest.raises(FileNotFoundError, match='gs://bucket/none.init'):
    init_file.load('gs://bucket/none.init')
  assert not os.listdir(cwd)


def test_missing_file_is_file_not_found(tmp_path):
  with pytest.raises(FileNotFoundError, match='learned-init file not found'):
    init_file.load(str(tmp_path / 'missing.init'))
  with pytest.raises(FileNotFoundError, match='learned-init file not found'):
    init_file.load(str(tmp_path))  # A directory is no file either.


def test_foreign_files_are_one_line_errors(tmp_path, params):
  png = tmp_path / 'image.png'
  png.write_bytes(b'\x89PNG\r\n\x1a\n not an init')
  _one_line_value_error(str(png), 'not a siren_jax learned-init file')
  fitted = str(tmp_path / 'fitted.inr')  # A fitted image: msgpack too, of another format.
  inr_file.save(fitted, params, model=SMALL_SIREN, height=32, width=32, channels=1)
  _one_line_value_error(fitted, 'not a siren_jax learned-init file')


def test_newer_version_is_refused_naming_both_versions(saved):
  newer = _rewrite(saved, lambda c: c.update(version=init_file.VERSION + 1))
  message = _one_line_value_error(newer, 'version')
  assert f'version {init_file.VERSION + 1}' in message
  assert f'reads version {init_file.VERSION}' in message


def test_truncated_file_is_a_one_line_error(saved, tmp_path):
  with open(saved, 'rb') as f:
    data = f.read()
  for keep in (len(data) // 2, len(data) - 1):
    cut = tmp_path / f'cut_{keep}.init'
    cut.write_bytes(data[:keep])
    _one_line_value_error(str(cut), 'truncated or corrupt learned-init file')


def test_corrupt_metadata_is_a_one_line_error(saved):
  _one_line_value_error(_rewrite(saved, lambda c: c.update(metadata='{"model": ')),
                        'corrupt learned-init file')
  _one_line_value_error(_rewrite(saved, lambda c: c.update(metadata='{"grid": "half_pixel"}')),
                        'corrupt learned-init file')


def test_metadata_without_a_trained_on_object_is_a_one_line_error(saved):
  # Entry points record trained_on in metrics.json after their fit: checked on load, not then.
  def set_trained_on(value):
    def edit(contents):
      metadata = json.loads(contents['metadata'])
      if value is None:
        del metadata['trained_on']
      else:
        metadata['trained_on'] = value
      contents['metadata'] = json.dumps(metadata)
    return edit

  for value in (None, ['corpus'], 'corpus'):
    _one_line_value_error(_rewrite(saved, set_trained_on(value)),
                          "corrupt learned-init file: metadata 'trained_on' is not a JSON "
                          'object')


def _first_bias(contents) -> tuple[dict, str]:
  return contents['params']['layer_1'], 'bias'


def test_stored_params_that_do_not_fit_the_spec_name_the_parameter(saved):
  def shorten(contents):
    layer, key = _first_bias(contents)
    layer[key] = layer[key][:-1]

  message = _one_line_value_error(_rewrite(saved, shorten), 'corrupt learned-init file')
  # SMALL_SIREN's hidden layers are 32 wide: layer_1's bias needs (32,), the file holds 31.
  assert "['layer_1']['bias'] has shape (31,), the model spec needs (32,)" in message

  def drop(contents):
    del contents['params']['layer_2']['kernel']

  message = _one_line_value_error(_rewrite(saved, drop), 'corrupt learned-init file')
  assert "['layer_2']['kernel'] is missing" in message

  def add(contents):
    contents['params']['layer_9'] = {'kernel': np.zeros((2, 2), np.float32)}

  message = _one_line_value_error(_rewrite(saved, add), 'corrupt learned-init file')
  assert "['layer_9']['kernel'] is not in the model spec" in message


def test_save_refuses_params_of_another_network(tmp_path, params):
  wider = {**SMALL_SIREN, 'hidden_features': 64}
  with pytest.raises(ValueError, match=r"params \['layer_0'\]\['bias'\] has shape \(32,\), the "
                                       r'model spec needs \(64,\)'):
    init_file.save(str(tmp_path / 'x.init'), params, model=wider)
  stacked = jax.tree.map(lambda a: np.stack([a, a]), params)  # Tiles share one init, unstacked.
  with pytest.raises(ValueError, match='has shape'):
    init_file.save(str(tmp_path / 'x.init'), stacked, model=SMALL_SIREN)
  with pytest.raises(ValueError, match='grid'):
    init_file.save(str(tmp_path / 'x.init'), params, model=SMALL_SIREN, grid='corner')
  assert not os.listdir(tmp_path)


def test_spec_differences_name_each_field_that_differs(saved):
  init = init_file.load(saved)
  assert init_file.spec_differences(init, SMALL_SIREN, 'half_pixel') == []
  other = {**SMALL_SIREN, 'hidden_features': 64, 'first_omega0': 10.0}
  assert init_file.spec_differences(init, other, 'linspace') == [
      'first_omega0: init 30.0 != config 10.0', "grid: init 'half_pixel' != config 'linspace'",
      'hidden_features: init 32 != config 64']
  rgb = {**SMALL_SIREN, 'out_features': 3}
  with pytest.raises(ValueError, match=r'for another model: out_features: init 1 != config '
                                       r'3$') as error:
    init_file.check_matches(init, rgb, 'half_pixel', saved)
  assert '\n' not in str(error.value)
  relu = fields.field_spec('relu', out_features=1, image_side=32, hidden_features=32,
                           hidden_layers=2, first_omega0=30.0, hidden_omega0=30.0,
                           zero_bias=False)
  assert "name: init 'siren' != config 'relu'" in init_file.spec_differences(
      init, relu, 'half_pixel')


def test_fields_a_siren_ignores_do_not_stop_an_init_starting_a_larger_image(saved):
  """An init learned on 32-pixel crops starts a fit of a 256x256 image: the spec's
  num_frequencies (the Nyquist rule of the image size, used by ReLU+PE only) and zero_bias (a
  random init's biases) differ and do not count."""
  init = init_file.load(saved)
  larger = fields.field_spec('siren', out_features=1, image_side=256, hidden_features=32,
                             hidden_layers=2, first_omega0=30.0, hidden_omega0=30.0,
                             zero_bias=True)
  assert larger['num_frequencies'] != init.model['num_frequencies']
  assert init_file.spec_differences(init, larger, 'half_pixel') == []


def test_size_note_names_a_fit_at_a_size_the_init_was_not_learned_at(tmp_path, params):
  path = str(tmp_path / 'crops.init')
  init_file.save(path, params, model=SMALL_SIREN, trained_on={'crop_sizes': [32, 48]})
  init = init_file.load(path)
  assert init_file.size_note(init, 32, 32) is None
  assert init_file.size_note(init, 20, 48) is None  # The longer side is a learned crop size.
  note = init_file.size_note(init, 64, 40)
  assert note is not None and '32/48-pixel crops' in note and '64x40' in note
  assert '\n' not in note


def test_size_note_is_silent_when_the_file_does_not_say(saved):
  assert init_file.size_note(init_file.load(saved), 512, 512) is None  # TRAINED_ON: no sizes.
