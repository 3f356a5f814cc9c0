"""siren_jax.param_file: the msgpack container of every parameter file, read back by a plain
msgpack decoder, and what ``read`` gives for missing, foreign and non-map files."""

from __future__ import annotations

import json
import os

import jax
import msgpack
import numpy as np
import pytest

from siren_jax import files, param_file
from tests.fake_gcs import bucket  # noqa: F401 (a fixture)

PARAMS = {'layer_0': {'kernel': np.arange(6, dtype=np.float64).reshape(2, 3) / 8,
                      'bias': np.array([0.5, -1.25, 3.0])}}


def test_saved_file_is_the_documented_msgpack_map(tmp_path):
  path = str(tmp_path / 'sub' / 'x.bin')  # The parent folder is created.
  size = param_file.save(path, file_format='test.kind', version=3, metadata={'a': [1, 'b']},
                         params=PARAMS)
  assert size == os.path.getsize(path)
  with open(path, 'rb') as f:
    raw = msgpack.unpackb(f.read(), raw=False)  # Arrays are flax's ext types: not decoded here.
  assert sorted(raw) == ['format', 'metadata', 'params', 'version']
  assert (raw['format'], raw['version']) == ('test.kind', 3)
  assert json.loads(raw['metadata']) == {'a': [1, 'b']}
  contents, payload = param_file.read(path, 'test')
  with open(path, 'rb') as f:
    assert payload == f.read()
  for key in ('kernel', 'bias'):
    stored = contents['params']['layer_0'][key]
    assert stored.dtype == np.float32  # Every value here is exact in float32.
    np.testing.assert_array_equal(stored, PARAMS['layer_0'][key])


def test_params_are_stored_in_the_dtype_asked_for(tmp_path):
  path = str(tmp_path / 'x.bin')
  param_file.save(path, file_format='k', version=1, metadata={}, params=PARAMS, dtype='float16')
  contents, _ = param_file.read(path, 'test')
  assert contents['params']['layer_0']['bias'].dtype == np.float16


def test_read_tells_missing_files_from_foreign_ones(tmp_path):
  with pytest.raises(FileNotFoundError, match="test-kind file not found: '.*missing.bin'"):
    param_file.read(str(tmp_path / 'missing.bin'), 'test-kind')
  with pytest.raises(FileNotFoundError, match='test-kind file not found'):
    param_file.read(str(tmp_path), 'test-kind')  # A directory is no file.
  for name, data in (('text.bin', b'not msgpack \xff\x00'),
                     ('list.bin', msgpack.packb([1, 2, 3])), ('empty.bin', b'')):
    (tmp_path / name).write_bytes(data)
    assert param_file.read(str(tmp_path / name), 'test') == (None, data)


def test_a_file_in_a_bucket_round_trips_without_local_files(bucket):  # noqa: F811
  root, cwd = bucket
  size = param_file.save('gs://bucket/p/x.bin', file_format='k', version=1, metadata={},
                         params=PARAMS)
  assert size == (root / 'bucket' / 'p' / 'x.bin').stat().st_size
  contents, _ = param_file.read('gs://bucket/p/x.bin', 'test')
  np.testing.assert_array_equal(contents['params']['layer_0']['bias'], PARAMS['layer_0']['bias'])
  assert not os.listdir(cwd)


def test_check_shapes_names_the_first_parameter_missing_extra_or_of_another_shape():
  template = {'a': {'kernel': jax.ShapeDtypeStruct((2, 3), np.float32),
                    'bias': jax.ShapeDtypeStruct((3,), np.float32)}}
  param_file.check_shapes({'a': PARAMS['layer_0']}, template, 'p')  # Matches: no error.
  cases = [
      ({'a': {'kernel': np.zeros((2, 3))}}, "p ['a']['bias'] is missing; the model spec needs one "
                                            'of shape (3,)'),
      ({'a': {**PARAMS['layer_0'], 'extra': np.zeros(1)}}, "p ['a']['extra'] is not in the model "
                                                           'spec'),
      ({'a': {**PARAMS['layer_0'], 'bias': np.zeros(4)}}, "p ['a']['bias'] has shape (4,), the "
                                                          'model spec needs (3,)')]
  for params, message in cases:
    with pytest.raises(ValueError) as error:
      param_file.check_shapes(params, template, 'p')
    assert str(error.value) == message


def test_a_bucket_that_does_not_answer_is_one_value_error_not_a_client_traceback(monkeypatch):
  def refuse(path):
    raise RuntimeError('401 Unauthorized\nmore')  # As a remote client might.

  monkeypatch.setattr(files, 'exists', refuse)
  with pytest.raises(ValueError) as error:
    param_file.read('gs://bucket/x.init', 'test')
  assert str(error.value) == "cannot reach 'gs://bucket/x.init': RuntimeError: 401 Unauthorized"


def test_restore_gives_float32_params_in_the_template_structure(tmp_path):
  path = str(tmp_path / 'x.bin')
  param_file.save(path, file_format='k', version=1, metadata={}, params=PARAMS, dtype='float16')
  contents, _ = param_file.read(path, 'test')
  template = jax.tree.map(lambda a: jax.ShapeDtypeStruct(np.shape(a), np.float32), PARAMS)
  restored = param_file.restore(contents['params'], template)
  assert jax.tree.structure(restored) == jax.tree.structure(template)
  for got, want in zip(jax.tree.leaves(restored), jax.tree.leaves(PARAMS)):
    assert got.dtype == np.float32
    np.testing.assert_array_equal(got, want)  # Eighths and halves: exact in float16.
  with pytest.raises(ValueError, match=r"stored parameter \['layer_0'\]\['bias'\] is missing"):
    param_file.restore({'layer_0': {'kernel': PARAMS['layer_0']['kernel']}}, template)
