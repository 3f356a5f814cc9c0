"""siren_jax.sr.model_file: a trained learned-resize model round-trips, and other files (a fitted
image's .inr, a newer version, a missing file) are refused."""

import os

import jax
import numpy as np
import pytest
from flax import serialization

from siren_jax import inr_file
from siren_jax.sr import model_file
from tests.fake_gcs import bucket  # noqa: F401 (a fixture)
from tests.helpers import TINY_SR_SPEC as SPEC


def test_model_file_round_trips_and_refuses_other_files(tmp_path, sr_params, sr_model_path):
  loaded = model_file.load(sr_model_path)
  assert loaded.spec == SPEC and loaded.metadata['steps'] == 0
  for a, b in zip(jax.tree.leaves(loaded.params), jax.tree.leaves(sr_params)):
    np.testing.assert_array_equal(a, b)
  inr = str(tmp_path / 'fitted.inr')
  with open(inr, 'wb') as f:
    f.write(serialization.msgpack_serialize({'format': inr_file.FORMAT, 'version': 1}))
  with pytest.raises(ValueError, match='not a siren_jax learned-resize model file .it is a '
                                       'fitted-image'):
    model_file.load(inr)
  newer = str(tmp_path / 'newer.sr')
  with open(newer, 'wb') as f:
    f.write(serialization.msgpack_serialize({'format': model_file.FORMAT, 'version': 99}))
  with pytest.raises(ValueError, match='version 99'):
    model_file.load(newer)
  with pytest.raises(FileNotFoundError):
    model_file.load(str(tmp_path / 'missing.sr'))


def test_model_file_saves_to_and_loads_from_a_bucket_touching_no_local_disk(bucket, sr_params):
  root, cwd = bucket
  size = model_file.save('gs://bucket/models/run/model.sr', sr_params, SPEC, extra={'steps': 3})
  assert size == (root / 'bucket' / 'models' / 'run' / 'model.sr').stat().st_size
  loaded = model_file.load('gs://bucket/models/run/model.sr')
  assert loaded.spec == SPEC and loaded.metadata['steps'] == 3
  for a, b in zip(jax.tree.leaves(loaded.params), jax.tree.leaves(sr_params)):
    np.testing.assert_array_equal(a, b)
  with pytest.raises(FileNotFoundError, match='gs://bucket/models/none.sr'):
    model_file.load('gs://bucket/models/none.sr')
  with pytest.raises(FileNotFoundError, match='gs://bucket/models/run'):
    model_file.load('gs://bucket/models/run')  # A directory.
  assert not os.listdir(cwd)
