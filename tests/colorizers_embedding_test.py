"""colorizers: the thumbnail embedding (values by hand) and the fusion setting -> embedding."""

import jax
import numpy as np
import pytest

from siren_jax.colorize import colorizers


def test_thumbnail_embedding_is_block_means_then_mean_and_std():
  # A 16 x 8 image pools to 8 x 8 blocks of 2 x 1 pixels: block (i, j) averages rows 2i, 2i + 1
  # of column j. With pixel (r, c) = r + 100 c, that mean is 2i + 0.5 + 100 j.
  r, c = np.meshgrid(np.arange(16.0), np.arange(8.0), indexing='ij')
  grey = (r + 100 * c).astype(np.float32)[None, :, :, None]
  embedding = np.asarray(colorizers.thumbnail_embedding(grey))
  assert embedding.shape == (1, 8 * 8 + 2)
  i, j = np.meshgrid(np.arange(8.0), np.arange(8.0), indexing='ij')
  np.testing.assert_allclose(embedding[0, :64], (2 * i + 0.5 + 100 * j).ravel(), rtol=1e-6)
  # Mean of r + 100 c over the image: 7.5 + 350; the two are independent, so the variance is
  # Var(r) + 100^2 Var(c) = (16^2 - 1) / 12 + 1e4 (8^2 - 1) / 12.
  np.testing.assert_allclose(embedding[0, 64], 357.5, rtol=1e-6)
  np.testing.assert_allclose(embedding[0, 65], np.sqrt(255 / 12 + 1e4 * 63 / 12), rtol=1e-5)


@pytest.mark.parametrize('shape', [(1, 12, 16, 1), (1, 16, 12, 1), (1, 12, 12, 1)])
def test_thumbnail_embedding_needs_both_sides_divisible_by_8(shape):
  with pytest.raises(ValueError, match='divisible by 8'):
    colorizers.thumbnail_embedding(np.zeros(shape, np.float32))


def test_fusion_settings_name_their_embedding():
  assert colorizers.fusion_embedding('') is None  # No fusion.
  assert colorizers.fusion_embedding('global') is None  # Built into the model.
  fn, dim = colorizers.fusion_embedding('thumbnail')
  assert fn is colorizers.thumbnail_embedding and dim == 66
  with pytest.raises(ValueError, match='unknown embedding'):
    colorizers.fusion_embedding('inception')


def test_fusion_layer_is_a_1x1_conv():
  # Wallner's full version (docs/facts.md): the embedding repeated over the 32 x 32 encoder output
  # is concatenated and fused by a 1 x 1 conv, i.e. per position, no spatial mixing.
  model = colorizers.Colorizer(schedule='FR', width_scale=0.125, fusion_features=66)
  grey = np.zeros((1, 16, 16, 1), np.float32)
  inputs = {'grey': grey, 'embedding': colorizers.thumbnail_embedding(grey)}
  shapes = jax.eval_shape(model.init, jax.random.PRNGKey(0), inputs)
  kernels = [leaf.shape for path, leaf in jax.tree_util.tree_flatten_with_path(shapes)[0]
             if 'fusion' in jax.tree_util.keystr(path) and 'kernel' in jax.tree_util.keystr(path)]
  assert kernels and all(shape[:2] == (1, 1) for shape in kernels)
