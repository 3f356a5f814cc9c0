"""experiments.reproduce.parts: the resize summary over photos (worked by hand)."""

import pytest

from experiments.reproduce import parts


def test_resize_summary_is_mean_and_spread_over_photos():
  def image(siren, bicubic, lanczos):
    methods = {'nearest': {'psnr': 20.0, 'ssim': 0.5}, 'bicubic': {'psnr': bicubic, 'ssim': 0.6},
               'lanczos': {'psnr': lanczos, 'ssim': 0.6}, 'siren': {'psnr': siren, 'ssim': 0.7}}
    return {'factors': {'x4': {'methods': methods}}, 'config': {'model': {'name': 'siren'}}}
  summary = parts.summarise_resize({'a': image(25.0, 24.0, 24.5),
                                              'b': image(22.0, 23.0, 22.5)})['x4']
  # Gains over the best classical filter: a: 25 - 24.5 = 0.5, b: 22 - 23 = -1.0.
  assert summary['gain_over_best']['mean'] == pytest.approx(-0.25)
  assert summary['gain_over_best']['std'] == pytest.approx(1.5 / 2 ** 0.5)  # sample std
  assert summary['wins_over_best'] == 1
  assert summary['gain_over_bicubic']['mean'] == pytest.approx(0.0)  # (1.0 - 1.0) / 2
  assert summary['psnr']['siren']['mean'] == pytest.approx(23.5)
