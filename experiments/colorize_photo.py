r"""Colourises a grey photo of any size with a trained colouriser, writing an RGB PNG.

  python -m experiments.colorize_photo --config=experiments/configs/colorize.py:SRS \
      --workdir=/tmp/srs --input=photo.png --output=photo_colour.png

--config must describe the model trained in --workdir (a different model is an error). Any size
and aspect; colour inputs are reduced to their Lab lightness first. Chroma is predicted at the
scale the model was trained at (the lightness downscaled to the training photos' short side),
in overlapping tiles blended without seams (conv and FC alike), upsampled and recombined with
the full-resolution lightness: the output has the input's size. See docs/colorization.md.
"""

from absl import app, flags
from ml_collections import config_flags

from experiments import colorize_photo_lib, common

FLAGS = flags.FLAGS
flags.DEFINE_string('workdir', None, 'Workdir of a finished experiments.colorize run.')
flags.DEFINE_string('input', None, 'Grey (or colour) image file, any size.')
flags.DEFINE_string('output', None, 'Where to write the colourised PNG.')
config_flags.DEFINE_config_file('config', 'experiments/configs/colorize.py',
                                'The config the workdir was trained with.', lock_config=True)


@common.main_with_clean_errors
def main(argv: list[str]) -> None:
  del argv  # Checked by main_with_clean_errors.
  for name in ('workdir', 'input', 'output'):
    if not FLAGS[name].value:
      raise ValueError(f'--{name} is required')
  colorize_photo_lib.colorize_file(FLAGS.config, FLAGS.workdir, FLAGS.input, FLAGS.output)


if __name__ == '__main__':
  app.run(main)
