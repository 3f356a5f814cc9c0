r"""Colourises a grey photo of any size with a trained colouriser, writing an RGB PNG.

  python -m experiments.colorize_photo --config=experiments/configs/colorize.py:SRS \
      --workdir=/tmp/srs --input=photo.png --output=photo_colour.png

--config must describe the model trained in --workdir (a different model is an error). Any size
and aspect; colour inputs are reduced to their Lab lightness first. Chroma is predicted at the
scale the model was trained at (the lightness downscaled to the training photos' short side),
in overlapping tiles blended without seams (conv and FC alike), upsampled and recombined with
the full-resolution lightness: the output has the input's size. See docs/colorization.md.
"""

from absl import flags

from experiments import common
from experiments.colorize import photo as colorize_photo

flags.DEFINE_string('input', None, 'Grey (or colour) image file, any size.')
flags.DEFINE_string('output', None, 'Where to write the colourised PNG.')


def colorize(config, workdir: str) -> None:
  for name in ('input', 'output'):
    if not flags.FLAGS[name].value:
      raise ValueError(f'--{name} is required')
  colorize_photo.colorize_file(config, workdir, flags.FLAGS.input, flags.FLAGS.output)


if __name__ == '__main__':
  common.run(colorize, default_config='experiments/configs/colorize.py',
             workdir_help='Workdir of a finished experiments.colorize run.')
