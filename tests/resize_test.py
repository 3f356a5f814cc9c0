"""Tests of resizing through the coordinate grid: rendering, tiled fitting, fitted-image files and
the resize experiment's entry point."""

import json
import os
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from experiments import resize_lib
from experiments.configs import resize as resize_config
from siren_jax import fitting, grids, images, inr_file, metrics, render, tiling, training
from siren_jax.models import fields

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MODEL = {'name': 'siren', 'out_features': 1, 'hidden_features': 32, 'hidden_layers': 2}


def _fit(image: np.ndarray, steps: int, learning_rate: float = 1e-3) -> training.TrainState:
  model = fields.make_field_model(**MODEL)
  state = training.create_train_state(model, jax.random.PRNGKey(0), jnp.zeros((1, 2)),
                                      optax.adam(learning_rate))
  coords, values = grids.image_to_samples(image)
  step = training.make_train_step(fitting.image_loss, steps_per_call=steps)
  state, _ = step(state, {'coords': coords, 'values': values})
  return state


@pytest.fixture(scope='module')
def image():
  return images.load_image('camera', mode='grey', size=32)


@pytest.fixture(scope='module')
def fitted(image):
  return _fit(image, steps=100)


def test_render_on_training_grid_reproduces_the_fit(image, fitted):
  h, w, _ = image.shape
  coords, values = grids.image_to_samples(image)
  own = np.asarray(fitted.apply_fn(fitted.params, coords)).reshape(h, w, 1)
  rendered = render.render(fitted.apply_fn, fitted.params, h, w)
  np.testing.assert_allclose(rendered, own, atol=1e-5)
  fit_psnr = float(fitting.image_loss(fitted.params, {'coords': coords, 'values': values},
                                      fitted.apply_fn)[1]['psnr'])
  assert float(metrics.psnr(rendered, image)) == pytest.approx(fit_psnr, abs=0.05)
  assert fit_psnr > 20.0  # The fit learned the image, so the comparison means something.


@pytest.mark.parametrize('size', [(37, 23), (64, 64), (5, 70)])
def test_chunked_render_equals_one_shot_render(fitted, size):
  h, w = size
  one_shot = np.asarray(fitted.apply_fn(fitted.params, grids.make_grid(h, w).reshape(-1, 2)))
  for max_chunk_points in (7, 100, h * w):
    chunked = render.render(fitted.apply_fn, fitted.params, h, w,
                            max_chunk_points=max_chunk_points)
    np.testing.assert_allclose(chunked, one_shot.reshape(h, w, 1), atol=1e-5)


def test_crop_equals_region_of_full_render(fitted):
  full = render.render(fitted.apply_fn, fitted.params, 96, 64)
  y_range, x_range = render.pixel_box_to_ranges(30, 10, 70, 35, 96, 64)
  crop = render.render(fitted.apply_fn, fitted.params, 40, 25, y_range=y_range, x_range=x_range,
                       max_chunk_points=64)
  np.testing.assert_allclose(crop, full[30:70, 10:35], atol=1e-4)
  # A 2x zoom of the crop lands every other output pixel between the coarse centres: its 2x2
  # block means approximate the coarse crop (the field is smooth at this scale).
  zoom = render.render(fitted.apply_fn, fitted.params, 80, 50, y_range=y_range, x_range=x_range)
  assert np.abs(zoom.reshape(40, 2, 25, 2).mean(axis=(1, 3)) - crop[..., 0]).mean() < 0.05


def test_large_render_evaluates_only_bounded_chunks():
  seen = []

  def field(params, coords):
    seen.append(coords.shape[0])  # Runs at trace time only: records the block size.
    return coords @ params

  params = jnp.array([[1.0], [2.0]])
  out = render.render(field, params, 4096, 4096, max_chunk_points=65536)
  assert out.shape == (4096, 4096, 1)
  assert seen and max(seen) <= 65536
  ys = grids.pixel_centers(4096)
  rows = np.array([0, 2000, 4095])
  np.testing.assert_allclose(out[rows, 17, 0], np.asarray(ys)[rows] + 2 * ys[17], atol=1e-6)


@pytest.mark.parametrize('kwargs, expected', [
    ({'factor': 4}, (128, 64)), ({'factor': 0.5}, (16, 8)), ({'out_height': 100}, (100, 50)),
    ({'out_width': 10}, (20, 10)), ({'out_height': 7, 'out_width': 300}, (7, 300))])
def test_target_size_keeps_aspect_unless_both_sides_given(kwargs, expected):
  assert render.target_size(32, 16, **kwargs) == expected


@pytest.mark.parametrize('kwargs, message', [
    ({'factor': 0}, 'scale factor must be a positive number'),
    ({'factor': -2.0}, 'scale factor must be a positive number'),
    ({'out_height': -5}, 'out_height must be an integer >= 0'),
    ({'factor': 1000.0}, 'exceeds the limit'),
    ({'out_height': 10, 'out_width': 10, 'max_pixels': 99}, 'exceeds the limit')])
def test_bad_sizes_raise_one_line_errors(kwargs, message):
  with pytest.raises(ValueError, match=message) as e:
    render.target_size(32, 16, **kwargs)
  assert '\n' not in str(e.value)


def test_render_rejects_zero_size(fitted):
  with pytest.raises(ValueError, match='output width must be a positive integer'):
    render.render(fitted.apply_fn, fitted.params, 10, 0)


@pytest.mark.parametrize('ramp', tiling.RAMPS)
@pytest.mark.parametrize('size, tile, overlap', [(100, 24, 6), (37, 16, 3), (40, 20, 0)])
def test_blend_weights_sum_to_one_and_vanish_outside_tiles(ramp, size, tile, overlap):
  layout = tiling.make_layout(size, size + 5, tile, overlap)
  coords = grids.make_grid(size, size + 5).reshape(-1, 2)
  weights = np.asarray(tiling.blend_weights(coords, layout, ramp))
  np.testing.assert_allclose(weights.sum(axis=0), 1.0, atol=1e-6)
  assert weights.min() >= 0.0
  inside = np.zeros((layout.num_tiles, size, size + 5), bool)
  for t, (y, x) in enumerate((y, x) for y in layout.y_starts for x in layout.x_starts):
    inside[t, y:y + layout.tile_height, x:x + layout.tile_width] = True
  assert np.all(weights.reshape(inside.shape)[~inside] == 0.0)


def test_layout_covers_the_image_with_the_requested_overlap():
  layout = tiling.make_layout(100, 61, 24, 6)
  for starts, tile, size in ((layout.y_starts, 24, 100), (layout.x_starts, 24, 61)):
    assert starts[0] == 0 and starts[-1] + tile == size
    assert all(b - a <= tile - 6 for a, b in zip(starts, starts[1:]))


def test_tiled_fit_on_the_tile_grid_matches_each_tile_and_has_no_seam():
  image = images.load_image('camera', mode='grey', size=48)
  layout = tiling.make_layout(48, 48, 32, 16)  # 2 x 2 tiles; tile edges at rows/columns 16, 32.
  model = fields.make_field_model(**MODEL)
  # Few steps on purpose: an imperfect fit (~23 dB) is where tile-edge errors would show; a
  # hard cut at the tile edges instead of blending gives a seam ratio ~1.5 below.
  result = tiling.fit_tiles(model, image, layout, key=jax.random.PRNGKey(0),
                            optimizer=optax.adam(1e-3), num_steps=25, steps_per_call=25)
  params = result.state.params
  apply_one = lambda p, x: model.apply({'params': p}, x)  # noqa: E731
  full = render.render(tiling.tiled_field(apply_one, layout), params, 48, 48)
  assert float(metrics.psnr(full, image)) > 20.0
  # Each tile alone reproduces its own pixels (the blend of a pixel in one tile is that tile).
  tile0 = apply_one(jax.tree.map(lambda a: a[0], params), grids.make_grid(32, 32).reshape(-1, 2))
  np.testing.assert_allclose(full[:8, :8], np.asarray(tile0).reshape(32, 32, 1)[:8, :8],
                             atol=1e-5)
  # Pixels within 2 of a tile edge inside the image fit no worse than the rest...
  error = np.abs(full - image)[..., 0]
  near = np.zeros((48, 48), bool)
  for edge in (16, 32):
    near[edge - 2:edge + 2, :] = near[:, edge - 2:edge + 2] = True
  assert error[near].mean() < 1.3 * error[~near].mean()
  # ... and the steps between neighbouring pixels across a tile edge are as faithful as
  # elsewhere (a seam is a wrong step).
  for axis in (0, 1):
    step_error = np.abs(np.diff(full[..., 0], axis=axis) - np.diff(image[..., 0], axis=axis))
    step_error = np.moveaxis(step_error, axis, 0)
    across = np.zeros(47, bool)
    across[[15, 31]] = True
    assert step_error[across].mean() < 1.3 * step_error[~across].mean()


def test_batched_tile_fit_equals_independent_fits():
  image = images.load_image('camera', mode='grey', size=(16, 24))
  layout = tiling.make_layout(16, 24, 16, 4)  # 1 x 2 tiles.
  model = fields.make_field_model(**MODEL)
  key = jax.random.PRNGKey(3)
  result = tiling.fit_tiles(model, image, layout, key=key, optimizer=optax.adam(1e-3),
                            num_steps=5, steps_per_call=5)
  tiles = tiling.split(image, layout)
  # Equal up to Adam's epsilon, which the batched loss's 1/T gradient scale makes matter a
  # little (~2e-5 here); fits from other keys or tiles differ by ~lr * steps = 5e-3.
  for t, tile_key in enumerate(jax.random.split(key, layout.num_tiles)):
    state = training.create_train_state(model, tile_key, jnp.zeros((1, 2)), optax.adam(1e-3))
    coords, values = grids.image_to_samples(tiles[t])
    state, _ = training.make_train_step(fitting.image_loss, steps_per_call=5)(
        state, {'coords': coords, 'values': values})
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a[t], b, rtol=1e-3, atol=1e-4),
                 result.state.params, state.params)


def test_saved_fitted_image_reloads_and_renders_identically(fitted, tmp_path):
  path = str(tmp_path / 'camera.inr')
  size = inr_file.save(path, fitted.params, model=inr_file.model_kwargs(**MODEL), height=32,
                       width=32, channels=1, extra={'source': 'camera'})
  assert size == os.path.getsize(path)
  loaded = inr_file.load(path)
  assert (loaded.height, loaded.width, loaded.channels) == (32, 32, 1)
  assert loaded.metadata['source'] == 'camera'
  for h, w in ((32, 32), (50, 75)):
    np.testing.assert_array_equal(loaded.render(h, w),
                                  render.render(fitted.apply_fn, fitted.params, h, w))
  half = str(tmp_path / 'half.inr')
  assert inr_file.save(half, fitted.params, model=inr_file.model_kwargs(**MODEL), height=32,
                       width=32, channels=1, param_dtype='float16') < 0.6 * size
  np.testing.assert_allclose(inr_file.load(half).render(32, 32), loaded.render(32, 32),
                             atol=0.05)


def test_tiled_fitted_image_round_trips(tmp_path):
  layout = tiling.make_layout(20, 30, 16, 4)
  model = fields.make_field_model(**MODEL)
  state = tiling.create_tiled_state(model, jax.random.PRNGKey(1), layout.num_tiles,
                                    optax.adam(1e-3))
  path = str(tmp_path / 'tiled.inr')
  inr_file.save(path, state.params, model=inr_file.model_kwargs(**MODEL), height=20, width=30,
                channels=1, layout=layout, ramp='linear')
  loaded = inr_file.load(path)
  field = tiling.tiled_field(lambda p, x: model.apply({'params': p}, x), layout, 'linear')
  np.testing.assert_allclose(loaded.render(33, 41), render.render(field, state.params, 33, 41),
                             atol=1e-6)


def test_foreign_or_corrupt_files_give_one_line_errors(fitted, tmp_path):
  foreign = tmp_path / 'foreign.inr'
  foreign.write_bytes(b'\x89PNG not a network')
  with pytest.raises(ValueError, match='not a siren_jax fitted-image file'):
    inr_file.load(str(foreign))
  with pytest.raises(FileNotFoundError, match='not found'):
    inr_file.load(str(tmp_path / 'missing.inr'))
  wrong = str(tmp_path / 'wrong.inr')
  narrower = inr_file.model_kwargs(**{**MODEL, 'hidden_features': 16})
  inr_file.save(wrong, fitted.params, model=narrower, height=32, width=32, channels=1)
  with pytest.raises(ValueError, match='corrupt fitted-image file') as e:
    inr_file.load(wrong)
  assert '\n' not in str(e.value)


def _run_entry_point(workdir, *overrides):
  return subprocess.run(
      [sys.executable, '-m', 'experiments.resize',
       '--config=experiments/configs/resize.py:tiny', f'--workdir={workdir}', *overrides],
      cwd=REPO_ROOT, capture_output=True, text=True, timeout=300,
      env={**os.environ, 'PYTHONPATH': REPO_ROOT, 'JAX_PLATFORMS': 'cpu'})


def test_compare_entry_point_writes_figure_metrics_and_networks(tmp_path):
  proc = _run_entry_point(tmp_path)
  assert proc.returncode == 0, proc.stderr[-2000:]
  assert os.path.getsize(tmp_path / 'comparison.png') > 0
  with open(tmp_path / 'metrics.json') as f:
    output = json.load(f)
  assert set(output['factors']) == {'x4', 'x2'}
  for name, result in output['factors'].items():
    assert set(result['methods']) == {'nearest', 'bilinear', 'bicubic', 'lanczos', 'siren'}
    assert result['low_res'][0] * int(name[1:]) == 32
    # The stored network re-renders the fitted low-res image the run measured.
    fitted = inr_file.load(str(tmp_path / result['network_file']))
    truth = images.load_image('camera', mode='grey', size=32)
    low = resize_lib.box_downsample(truth, int(name[1:]))
    rendered = fitted.render(fitted.height, fitted.width)
    assert float(metrics.psnr(rendered, low)) == pytest.approx(result['fit_psnr_on_low_res'],
                                                               abs=1e-3)


def test_box_downsample_averages_blocks_and_upsamplers_keep_constants():
  image = np.arange(4 * 6 * 2, dtype=np.float32).reshape(4, 6, 2)
  low = resize_lib.box_downsample(image, 2)
  np.testing.assert_allclose(low[1, 2], image[2:4, 4:6].mean(axis=(0, 1)))
  constant = np.full((5, 7, 1), 0.25, np.float32)
  for method in resize_lib.CLASSICAL:
    np.testing.assert_allclose(resize_lib.classical_resize(constant, 15, 21, method), 0.25,
                               atol=1e-5)
  # Half-pixel convention: bilinear x2 of a linear ramp is the ramp sampled at the new centres.
  ramp = grids.make_grid(8, 8)[..., 1:]
  up = resize_lib.classical_resize(np.asarray(ramp), 16, 16, 'bilinear')
  np.testing.assert_allclose(up[4:12, 4:12], np.asarray(grids.make_grid(16, 16)[4:12, 4:12, 1:]),
                             atol=1e-5)


def _upscale_config(**overrides):
  config = resize_config.get_config('tiny')
  config.task = 'upscale'
  config.mode = ''
  config.steps = 10
  config.eval_every = config.log_every = config.checkpoint_every = 0  # One save, at the end.
  config.update(overrides)
  return config


@pytest.fixture(scope='module')
def small_png(tmp_path_factory):
  path = str(tmp_path_factory.mktemp('input') / 'small.png')
  images.save_png(path, images.load_image('astronaut', mode='rgb', size=(12, 20)))
  return path


@pytest.mark.parametrize('tile_size', [0, 8])
def test_upscale_writes_png_and_network_that_rerenders(small_png, tmp_path, tile_size):
  output = str(tmp_path / 'big.png')
  info = resize_lib.train_and_evaluate(
      _upscale_config(input=small_png, factor=2.5, output=output, tile_size=tile_size,
                      tile_overlap=2), str(tmp_path / 'fit'))
  assert info['output_size'] == [30, 50]
  big = images.load_image(output)
  assert big.shape == (30, 50, 3)
  # A second run re-renders the saved network at another size without fitting.
  again = str(tmp_path / 'again.png')
  info = resize_lib.train_and_evaluate(
      _upscale_config(input=info['network'], out_width=40, output=again), str(tmp_path / 'rr'))
  assert info['output_size'] == [24, 40]
  expected = inr_file.load(info['network']).render(24, 40)
  np.testing.assert_allclose(images.load_image(again), np.clip(expected, -1, 1), atol=2.5 / 255)


@pytest.mark.parametrize('overrides, error, message', [
    ({'factor': 0.0}, ValueError, 'scale factor must be a positive number'),
    ({'factor': -3.0}, ValueError, 'scale factor must be a positive number'),
    ({'out_height': -1}, ValueError, 'out_height must be an integer >= 0'),
    ({'factor': 100.0, 'max_pixels': 10_000}, ValueError, 'exceeds the limit of 10,000'),
    ({'max_pixels': 100}, ValueError, 'exceeds the limit of 100'),
    ({'input': '/nonexistent/photo.png'}, FileNotFoundError, 'image not found'),
    ({'input': ''}, ValueError, 'config.input is empty'),
    ({'task': 'compare', 'factors': '3'}, ValueError, 'not divisible by factor 3'),
    ({'task': 'compare', 'factors': '0'}, ValueError, 'not an integer factor'),
])
def test_bad_upscale_settings_raise_one_line_errors(small_png, tmp_path, overrides, error,
                                                    message):
  with pytest.raises(error, match=message) as e:
    resize_lib.train_and_evaluate(_upscale_config(**{'input': small_png, **overrides}),
                                  str(tmp_path))
  assert '\n' not in str(e.value)


def test_unreadable_input_is_a_clean_cli_error(tmp_path):
  bad = tmp_path / 'broken.png'
  bad.write_text('not an image')
  proc = _run_entry_point(tmp_path / 'w', '--config.task=upscale', f'--config.input={bad}')
  assert proc.returncode == 2
  assert proc.stderr.strip().splitlines()[-1].startswith('error: cannot read image')
