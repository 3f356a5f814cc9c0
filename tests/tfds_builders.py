"""Tiny TFDS datasets for the data tests, built offline (no download): RGB uint8 records stored
as zlib tensors (encoding PNGs would need TensorFlow)."""

from collections.abc import Callable

import numpy as np
import tensorflow_datasets as tfds


def tiny_rgb_builder(class_name: str, count: int, shape: Callable[[int], tuple[int, int]],
                     seed: int, module: str) -> type:
  """A ``GeneratorBasedBuilder`` subclass registered as snake_case(``class_name``) with one
  'train' split of ``count`` random RGB images, record ``i`` of size ``shape(i)``.

  ``module``: the calling test module's ``__name__``. TFDS looks for a builder's checksums next
  to its module; pytest imports test files as top-level modules, which TFDS skips, whereas this
  file's ``tests.`` namespace package would send it down a path needing ``importlib_resources``.
  """

  def _info(self):
    return tfds.core.DatasetInfo(builder=self, features=tfds.features.FeaturesDict({
        'image': tfds.features.Tensor(shape=(None, None, 3), dtype=np.uint8, encoding='zlib')}))

  def _split_generators(self, dl_manager):
    del dl_manager
    return {'train': self._generate_examples()}

  def _generate_examples(self):
    rng = np.random.default_rng(seed)
    for i in range(count):
      yield i, {'image': rng.integers(0, 256, (*shape(i), 3), dtype=np.uint8)}

  return type(class_name, (tfds.core.GeneratorBasedBuilder,), {
      'VERSION': tfds.core.Version('1.0.0'), '_info': _info,
      '_split_generators': _split_generators, '_generate_examples': _generate_examples,
      '__module__': module})
