"""Colourising from hints through the experiment code and the entry point
(experiments.colorize_photo --hints, experiments.colorize_hints)."""

import json
import os
import subprocess
import sys

import imageio.v3 as iio
import numpy as np
import pytest
import skimage.color
import skimage.data
from absl import logging

from tests.fake_gcs import bucket  # noqa: F401 (a fixture)
from tests.helpers import REPO_ROOT, subprocess_env
from experiments.colorize import hint_colorize, hints_eval
from experiments.configs import colorize as colorize_config
from experiments.configs import common as config_common
from siren_jax import files as siren_files
from siren_jax import images
from siren_jax.colorize import colour, levin
from siren_jax.colorize import hints as hints_lib
from siren_jax.data import corpus


def _config(**hints):
  config = colorize_config.get_config()
  config.hints.update(hints)
  return config


@pytest.fixture()
def files(tmp_path):
  """A 24x36 grey photo, its colour original, strokes and points for it, and bad hint files."""
  rng = np.random.default_rng(0)
  colour_photo = rng.integers(0, 256, (24, 36, 3), dtype=np.uint8)
  colour_photo[:, :18] = [180, 60, 40]
  iio.imwrite(tmp_path / 'colour.png', colour_photo)
  iio.imwrite(tmp_path / 'grey.png', colour_photo.mean(-1).astype(np.uint8))
  strokes = np.zeros((24, 36, 4), np.uint8)
  strokes[5, 2:10] = [200, 40, 30, 255]
  strokes[18, 24:32] = [40, 60, 200, 255]
  iio.imwrite(tmp_path / 'strokes.png', strokes)
  iio.imwrite(tmp_path / 'wrong_size.png', strokes[:20])
  iio.imwrite(tmp_path / 'empty.png', np.zeros((24, 36, 4), np.uint8))
  (tmp_path / 'points.json').write_text(json.dumps(
      [{'x': 3, 'y': 5, 'color': '#c82820'}, {'x': 30, 'y': 18, 'color': [40, 60, 200]}]))
  (tmp_path / 'outside.json').write_text(json.dumps([{'x': 36, 'y': 5, 'color': '#c82820'}]))
  (tmp_path / 'empty.json').write_text('[]')
  return tmp_path


def test_bad_hint_configs_are_one_line_errors():
  with pytest.raises(ValueError, match='config.hints.method must be one of levin, siren'):
    hint_colorize.check_config(_config(method='zhang').hints)
  with pytest.raises(ValueError, match=r'config.hints.overlap must be in \[0, tile / 2\]'):
    hint_colorize.check_config(_config(tile=64, overlap=40).hints)
  with pytest.raises(ValueError, match='config.hints.form must be one of levin, gradient'):
    hint_colorize.check_config(_config(form='mean').hints)
  with pytest.raises(ValueError, match='config.hints.settings: bad setting'):
    hints_eval.parse_settings('points:ten', 'settings')
  with pytest.raises(ValueError, match='config.hints.photos'):
    hints_eval.photo_names('astronaut,nowhere.png')


def test_hint_evaluation_photos_from_a_folder_in_a_bucket(bucket):
  root, cwd = bucket
  png = iio.imwrite('<bytes>', np.zeros((4, 4, 3), np.uint8), extension='.png')
  for name in ('photos/test/b.png', 'photos/test/a.jpg', 'photos/test/notes.txt',
               'photos/train/c.png', 'one.png'):
    siren_files.write_bytes(f'gs://bucket/{name}', png)
  # A test/ subfolder: its image files only.
  assert hints_eval.photo_names('folder:gs://bucket/photos') == [
      'gs://bucket/photos/test/a.jpg', 'gs://bucket/photos/test/b.png']
  assert hints_eval.photo_names('astronaut,gs://bucket/one.png') == [
      'astronaut', 'gs://bucket/one.png']
  with pytest.raises(ValueError, match='not gs://bucket/none.png'):
    hints_eval.photo_names('gs://bucket/none.png')
  assert not os.listdir(cwd)


def test_a_misspelt_nested_field_is_named_with_a_suggestion():
  config = colorize_config.get_config()
  message = config_common.unknown_field_message
  assert message(config, 'hints.metod') == (
      "unknown config field 'hints.metod' (did you mean 'hints.method'?)")
  assert message(config, 'hints.model.width').startswith(
      "unknown config field 'hints.model.width'")
  assert message(config, 'hints.steps') is None
  assert message(config, 'seeed') == "unknown config field 'seeed' (did you mean 'seed'?)"


def test_levin_file_path_matches_the_library_solve(files):
  rgb = hint_colorize.colorize_file(_config(), str(files / 'grey.png'), str(files / 'strokes.png'),
                                    str(files / 'out.png'))
  written = iio.imread(files / 'out.png')
  assert written.shape == (24, 36, 3)
  lightness = hint_colorize.read_lightness(str(files / 'grey.png'))
  expected = colour.scaled_lab_to_rgb(lightness, levin.solve(
      lightness, hints_lib.load(str(files / 'strokes.png'), 24, 36)))
  np.testing.assert_allclose(rgb, expected, atol=1e-6)


def test_a_colour_photo_warns_and_only_its_lightness_is_used(files, caplog):
  with caplog.at_level(logging.WARNING, logger='absl'):
    lightness = hint_colorize.read_lightness(str(files / 'colour.png'))
  assert 'is a colour photo' in caplog.text
  expected = skimage.color.rgb2lab(iio.imread(files / 'colour.png') / 255.0)[..., :1] / 50 - 1
  np.testing.assert_allclose(lightness, expected, atol=1e-4)
  caplog.clear()
  with caplog.at_level(logging.WARNING, logger='absl'):
    hint_colorize.read_lightness(str(files / 'grey.png'))
  assert 'colour photo' not in caplog.text


def test_siren_path_renders_a_large_photo_from_a_smaller_fit(files):
  photo = np.kron(iio.imread(files / 'grey.png'), np.ones((2, 2), np.uint8))  # 48x72.
  iio.imwrite(files / 'big.png', photo)
  (files / 'big_points.json').write_text(json.dumps(
      [{'x': 6, 'y': 10, 'color': '#c82820'}, {'x': 60, 'y': 36, 'color': [40, 60, 200]}]))
  config = _config(method='siren', fit_side=24, steps=25)
  lightness = hint_colorize.read_lightness(str(files / 'big.png'))
  hints = hints_lib.load(str(files / 'big_points.json'), 48, 72)
  ab, info = hint_colorize.colorize_ab(config.hints, lightness, hints)
  assert ab.shape == (48, 72, 2) and info['fit_size'] == [24, 36]
  np.testing.assert_array_equal(ab[hints.rows, hints.cols], hints.ab)


def _photo_cli(*args):
  return subprocess.run([sys.executable, '-m', 'experiments.colorize_photo', *args],
                        cwd=REPO_ROOT, capture_output=True, text=True, timeout=300,
                        env=subprocess_env())


@pytest.mark.slow
@pytest.mark.parametrize('hints, message', [
    ('wrong_size.png', "is 36x20 but the photo is 36x24; draw the hints on a layer of the "
                       "photo's size"),
    ('outside.json', r'1 hint(s) outside the 36x24 photo, the first at (x, y) = (36, 5)'),
    ('empty.json', 'holds no hints: the colourisation would be grey'),
    ('empty.png', 'holds no hints: the colourisation would be grey'),
])
def test_entry_point_refuses_bad_hints_in_one_line_and_writes_nothing(files, hints, message):
  process = _photo_cli(f'--input={files}/grey.png', f'--hints={files}/{hints}',
                       f'--output={files}/out.png')
  assert process.returncode == 2
  lines = process.stderr.strip().splitlines()
  assert lines[-1].startswith('error: ') and message in lines[-1]
  assert sum(line.startswith('error: ') for line in lines) == 1
  assert not (files / 'out.png').exists()


@pytest.mark.slow
def test_entry_point_names_a_misspelt_nested_config_field(files):
  process = _photo_cli(f'--input={files}/grey.png', f'--hints={files}/points.json',
                       f'--output={files}/out.png', '--config.hints.metod=siren')
  assert process.returncode == 2
  assert process.stderr.strip().splitlines() == [
      "error: unknown config field 'hints.metod' (did you mean 'hints.method'?)"]


@pytest.mark.slow
def test_entry_point_colourises_a_colour_photo_with_a_warning(files):
  process = _photo_cli(f'--input={files}/colour.png', f'--hints={files}/points.json',
                       f'--output={files}/out.png', '--config.hints.method=levin')
  assert process.returncode == 0, process.stderr
  assert 'is a colour photo' in process.stderr and 'error:' not in process.stderr
  assert iio.imread(files / 'out.png').shape == (24, 36, 3)


@pytest.mark.slow
def test_evaluation_writes_tables_and_figure(tmp_path):
  config = _config(photos='astronaut,coffee', eval_side=32, seeds=3, steps=25,
                   settings='points:1,points:10,strokes:2', siren_settings='points:10',
                   figure_photos=1)
  output = hints_eval.run(config, str(tmp_path))
  for name in ('config.json', 'hints.json', 'hints.md', 'hints.png'):
    assert (tmp_path / name).exists(), name
  levin_10 = output['summary']['levin']['points:10']
  assert levin_10['rgb_psnr']['n'] == 6  # 2 photos x 3 seeds.
  assert set(output['summary']['siren']) == {'points:10'}
  # The grey baseline, by scikit-image: Lab (L, 0, 0) of the 32x32 photo back to RGB.
  truth = np.clip(images.resize(skimage.data.astronaut() / 255.0, (32, 32)), 0, 1)
  lab = skimage.color.rgb2lab(truth)
  lab[..., 1:] = 0
  grey = skimage.color.lab2rgb(lab)
  expected = 10 * np.log10(1 / np.mean((np.clip(grey, 0, 1) - truth) ** 2))
  assert abs(output['grey']['astronaut']['rgb_psnr'] - expected) < 0.01
  assert '| SIREN (gradient form) | points:10 |' in (tmp_path / 'hints.md').read_text()


def test_hint_evaluation_photos_from_a_built_corpus(tmp_path):
  folder = tmp_path / 'photos'
  folder.mkdir()
  rng = np.random.default_rng(0)
  arrays = {f'p{i}.png': rng.integers(0, 256, (12, 16, 3), np.uint8) for i in range(6)}
  for name, array in arrays.items():
    iio.imwrite(folder / name, array)
  data_dir = str(tmp_path / 'data')
  corpus.fetch_and_build(data_dir, folder=str(folder), log=lambda line: None)
  test = corpus.open_split('test', data_dir, 'folder')
  names = hints_eval.photo_names('corpus/folder', data_dir)  # The test split by default.
  assert names == [f'corpus/folder:test#{photo}' for photo in dict.fromkeys(test.groups)]
  assert hints_eval.photo_names('corpus/folder:validation', data_dir) == [
      f'corpus/folder:validation#{g}' for g in corpus.open_split('validation', data_dir,
                                                                 'folder').groups]
  # The views are the stored pixels (PNG: lossless), as L and ab by scikit-image.
  view = hints_eval.photo_views(names[0], 256, data_dir)[0]
  truth = arrays[os.path.basename(test.names[0])] / 255.0
  lab = skimage.color.rgb2lab(truth)
  np.testing.assert_allclose(view['ab'], lab[..., 1:] / 128, atol=1e-3)
  np.testing.assert_allclose(view['L'][..., 0], lab[..., 0] / 50 - 1, atol=1e-3)
  with pytest.raises(ValueError, match='bad corpus dataset'):
    hints_eval.photo_names('corpus:nosuchsplit', data_dir)


def test_a_photo_folder_in_a_bucket_that_does_not_answer_is_one_value_error(monkeypatch):
  def refuse(path):
    raise RuntimeError('401 Unauthorized')  # As a remote client might.

  monkeypatch.setattr(siren_files, 'exists', refuse)
  with pytest.raises(ValueError, match="cannot reach 'gs://bucket/photos': RuntimeError: 401"):
    hints_eval.photo_names('folder:gs://bucket/photos')
