r"""Colourises a grey photo of any size, writing an RGB PNG of its size: with a trained
colouriser, or from a few colour hints with no trained model.

  python -m experiments.colorize_photo --config=experiments/configs/colorize.py:SRS \
      --workdir=/tmp/srs --input=photo.png --output=photo_colour.png
  python -m experiments.colorize_photo --input=photo.png --hints=strokes.png \
      --output=photo_colour.png [--config.hints.method=siren]

Trained model: --config must describe the model trained in --workdir (a different model is an
error). Any size and aspect; colour inputs are reduced to their Lab lightness first. Chroma is
predicted at the scale the model was trained at (the lightness downscaled to the training photos'
short side), in overlapping tiles blended without seams (conv and FC alike), upsampled and
recombined with the full-resolution lightness.

Hints (--hints: an RGBA PNG of strokes drawn over the photo, transparent elsewhere, or a JSON list
of {"x", "y", "color"} points): Levin et al.'s colourisation by optimisation, solved directly
(``config.hints.method=levin``, the default) or by a SIREN fitted to the same problem
(``siren``); no --workdir needed. See docs/colorization.md.
"""

from absl import flags

from experiments import common
from experiments.colorize import hint_colorize
from experiments.colorize import photo as colorize_photo

flags.DEFINE_string('input', None, 'Grey (or colour) image file, any size.')
flags.DEFINE_string('output', None, 'Where to write the colourised PNG.')
flags.DEFINE_string('hints', None, 'Colour hints: an RGBA PNG of strokes of the photo\'s size, '
                    'or a .json list of {"x", "y", "color"} points; no trained model needed.')


def colorize(config, workdir: str) -> None:
  for name in ('input', 'output'):
    if not flags.FLAGS[name].value:
      raise ValueError(f'--{name} is required')
  if flags.FLAGS.hints:
    hint_colorize.colorize_file(config, flags.FLAGS.input, flags.FLAGS.hints, flags.FLAGS.output)
    return
  colorize_photo.colorize_file(config, workdir, flags.FLAGS.input, flags.FLAGS.output)


if __name__ == '__main__':
  common.run(colorize, default_config='experiments/configs/colorize.py',
             workdir_help='Workdir of a finished experiments.colorize run (not needed with '
                          '--hints).')
