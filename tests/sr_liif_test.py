"""siren_jax.sr.liif: the local ensemble's weights and cell decoding against values worked by
hand on a 2x2 feature map, and a constant image staying constant at any scale."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from siren_jax.sr import liif, upscale


def _linear_probe(spec, hidden_kernel, hidden_bias, out_kernel):
  """ReLU decoder parameters (one hidden layer of 2 units, gate = the feature) chosen by hand;
  the encoder is never called (decode takes the features)."""
  params = liif.init_params(spec, jax.random.PRNGKey(0))
  params['decoder'] = {
      'hidden_0': {'kernel': jnp.asarray(hidden_kernel, jnp.float32),
                   'bias': jnp.asarray(hidden_bias, jnp.float32)},
      'gate': {'kernel': jnp.ones((1, 2), jnp.float32)},
      'out': {'kernel': jnp.asarray(out_kernel, jnp.float32)}}
  return params


def _decode(spec, params, feat, coords, cell):
  image = jnp.zeros((1, *feat.shape[1:3], spec.channels))  # Its bilinear term is 0.
  return liif.LIIF(spec).apply({'params': params}, image, feat, jnp.asarray([coords]),
                               jnp.asarray([cell]), method=liif.LIIF.decode)[0]


def test_local_ensemble_weights_by_hand():
  # 2x2 map: centres at -0.5 and 0.5 on each axis. Query (y, x) = (-0.25, 0.1); relative
  # coordinates (x2, in half-pixel units) and rectangle areas to each centre:
  #   (0,0): (0.5, 1.2) area 0.6;  (0,1): (0.5, -0.8) area 0.4;
  #   (1,0): (-1.5, 1.2) area 1.8; (1,1): (-1.5, -0.8) area 1.2; total 4.0.
  # Each takes the area opposite it: 1.2/4, 1.8/4, 0.4/4, 0.6/4 = 0.3, 0.45, 0.1, 0.15 --
  # bilinear weights (0.75 * 0.4, 0.75 * 0.6, 0.25 * 0.4, 0.25 * 0.6).
  found = liif.neighbours((1, 2, 2, 1), jnp.asarray([[[-0.25, 0.1]]]), local_ensemble=True)
  got = {(int(iy[0, 0]), int(ix[0, 0])): (np.asarray(rel[0, 0]), float(w[0, 0]))
         for iy, ix, rel, w in found}
  expected = {(0, 0): ((0.5, 1.2), 0.3), (0, 1): ((0.5, -0.8), 0.45),
              (1, 0): ((-1.5, 1.2), 0.1), (1, 1): ((-1.5, -0.8), 0.15)}
  assert set(got) == set(expected)
  for key, (rel, weight) in expected.items():
    np.testing.assert_allclose(got[key][0], rel, atol=1e-5)
    assert got[key][1] == pytest.approx(weight, abs=1e-5)


def test_without_ensemble_the_nearest_vector_alone():
  # (-0.25, 0.6) lies in pixel (0, 1) (centre (-0.5, 0.5)): rel = (0.25, 0.1) x 2.
  (iy, ix, rel, weight), = liif.neighbours((1, 2, 2, 1), jnp.asarray([[[-0.25, 0.6]]]),
                                           local_ensemble=False)
  assert (int(iy[0, 0]), int(ix[0, 0])) == (0, 1)
  np.testing.assert_allclose(rel[0, 0], [0.5, 0.2], atol=1e-6)
  assert float(weight[0, 0]) == 1.0


def test_ensemble_of_features_interpolates_them_bilinearly():
  # Hidden units constant 1 (zero kernel, bias 1), gate = feature, out = unit 0: the residual
  # is sum_i w_i f_i = 0.3 * 1 + 0.45 * 2 + 0.1 * 3 + 0.15 * 4 = 2.1 at the query above.
  spec = liif.Spec(channels=1, encoder_features=1, encoder_blocks=0, activation='relu',
                   decoder_hidden=2, decoder_layers=1, feature_unfold=False, cell_decode=False)
  params = _linear_probe(spec, np.zeros((3, 2)), [1.0, 1.0], [[1.0], [0.0]])
  feat = jnp.asarray([[[1.0], [2.0]], [[3.0], [4.0]]])[None]
  out = _decode(spec, params, feat, [[-0.25, 0.1]], [[0.1, 0.1]])
  assert float(out[0, 0]) == pytest.approx(2.1, abs=1e-5)
  nearest = liif.Spec(**{**spec.to_dict(), 'local_ensemble': False})
  assert float(_decode(nearest, params, feat, [[-0.25, 0.1]], [[0.1, 0.1]])[0, 0]) == \
      pytest.approx(2.0, abs=1e-6)  # Pixel (0, 1) alone.


def test_cell_decoding_feeds_the_cell_in_feature_pixels():
  # Decoder input (f, rel_y, rel_x, cell_y * h, cell_x * w); hidden unit 0 reads cell_y * h,
  # unit 1 cell_x * w; out = f * (unit0 + 10 unit1). On a 4x4 map of f = 2 with cell
  # (0.25, 0.125): cell * (h, w) = (1.0, 0.5), so the residual is 2 * (1 + 10 * 0.5) = 12.
  spec = liif.Spec(channels=1, encoder_features=1, encoder_blocks=0, activation='relu',
                   decoder_hidden=2, decoder_layers=1, feature_unfold=False,
                   local_ensemble=False, cell_decode=True)
  kernel = np.zeros((5, 2))
  kernel[3, 0] = kernel[4, 1] = 1.0
  params = _linear_probe(spec, kernel, [0.0, 0.0], [[1.0], [10.0]])
  feat = jnp.full((1, 4, 4, 1), 2.0)
  out = _decode(spec, params, feat, [[0.3, -0.7], [0.0, 0.9]], [[0.25, 0.125], [0.5, 0.0]])
  np.testing.assert_allclose(out[:, 0], [12.0, 2 * (2.0 + 0.0)], atol=1e-5)


def test_unfold_concatenates_the_3x3_neighbourhood_with_zeros_outside():
  feat = jnp.arange(1.0, 10.0).reshape(1, 3, 3, 1)
  unfolded = liif.unfold3x3(feat)
  np.testing.assert_array_equal(unfolded[0, 1, 1], np.arange(1.0, 10.0))  # Centre: all.
  np.testing.assert_array_equal(unfolded[0, 0, 0], [0, 0, 0, 0, 1, 2, 0, 4, 5])


@pytest.mark.parametrize('activation', liif.ACTIVATIONS)
def test_constant_image_resizes_to_the_same_constant_at_any_scale(activation):
  spec = liif.Spec(encoder_features=8, encoder_blocks=1, activation=activation,
                   decoder_hidden=16, decoder_layers=2)
  params = liif.init_params(spec, jax.random.PRNGKey(3))
  params = jax.tree.map(lambda a: a * 3.0, params)  # Far from a trained model's weights.
  image = np.full((20, 23, 3), [0.3, -0.6, 0.9], np.float32)
  for (height, width), tile in (((47, 31), 8), ((160, 184), 0), ((11, 12), 0)):
    out = upscale.upscale(spec, params, image, height, width, tile_size=tile)
    np.testing.assert_allclose(out, np.broadcast_to(image[0, 0], out.shape), atol=1e-5)


def test_spec_rejects_unknown_activation_and_fields():
  with pytest.raises(ValueError, match='activation'):
    liif.Spec(activation='tanh')
  with pytest.raises(ValueError, match='unknown model fields wide'):
    liif.Spec.from_dict({'wide': 1})
