"""siren_jax.data (the package): the colourisation pipeline's names from ``photos`` are
importable from it as the same objects, so ``from siren_jax import data; data.Pipeline(...)``
reads as it did when ``data`` was one module."""

import inspect

from siren_jax import data
from siren_jax.data import photos

# What callers used from the single module before it became a package (grep of experiments/
# and bench/ at the time of the move), each by name so a dropped re-export fails here.
USED_BEFORE = ('Pipeline', 'open_source', 'photo_short_side', 'photo_views', 'split_groups',
               'split_indices', 'to_model_arrays', 'NATURAL_PHOTOS', 'PHOTOS', 'SPLITS',
               'IMAGE_EXTENSIONS')


def test_all_names_are_the_objects_in_photos():
  assert len(data.__all__) == len(set(data.__all__))
  for name in data.__all__:
    assert getattr(data, name) is getattr(photos, name), name


def test_the_names_callers_used_are_still_there():
  missing = [name for name in USED_BEFORE if name not in data.__all__]
  assert not missing, missing


def test_every_public_function_and_class_of_photos_is_exported():
  own = {name for name, value in vars(photos).items() if not name.startswith('_') and (
      inspect.isfunction(value) or inspect.isclass(value)) and value.__module__ == photos.__name__}
  assert own <= set(data.__all__), own - set(data.__all__)
