"""siren_jax.sr.patches: training patches are a pure function of (seed, step) and built as
documented (PIL's bicubic of a crop, the cell one crop pixel, targets the crop's pixels)."""

import numpy as np

from experiments.resize_lib import classical_resize
from siren_jax.sr import patches
from tests.helpers import stripes


def test_patches_are_pure_and_built_as_documented():
  photo = stripes(120, 150)
  stream = patches.Patches([photo], batch_size=3, input_size=12, queries=50, seed=4)
  a, b = stream.batch(7), stream.batch(7)
  for key in a:
    np.testing.assert_array_equal(a[key], b[key])
  assert not np.array_equal(a['lr'], stream.batch(8)['lr'])
  assert a['lr'].shape == (3, 12, 12, 3) and a['coords'].shape == (3, 50, 2)
  # Without augmentation at scale 2: the input is PIL's bicubic of a 24x24 crop, the cell one
  # crop pixel (2 / 24), and each target is the crop pixel at its coordinate.
  stream = patches.Patches([photo], batch_size=1, input_size=12, queries=50, scale=(2, 2),
                           augment=False)
  batch = stream.batch(0)
  np.testing.assert_allclose(batch['cell'], 2 / 24)
  rows = np.round((batch['coords'][0] + 1) * 12 - 0.5).astype(int)
  crops = [photo[t:t + 24, l:l + 24] for t in range(120 - 23) for l in range(150 - 23)]
  matches = [c for c in crops
             if np.allclose(c[rows[:, 0], rows[:, 1]] / 127.5 - 1, batch['rgb'][0], atol=1e-6)]
  assert matches
  np.testing.assert_allclose(
      batch['lr'][0], classical_resize(matches[0] / 127.5 - 1, 12, 12, 'bicubic'), atol=1e-5)
