r"""Seamless cloning (experiments.poisson mode clone) on built-in destination/source/mask
triples: the direct solver's residual and time, SIREN vs direct inside Omega, and PSNR against
cv2.seamlessClone (NORMAL_CLONE, MIXED_CLONE) over OpenCV's solve box, with the OpenCV-like
setup of our solver and where the difference comes from.

  python -m bench.seamless_clone                      # all triples, default SIREN budget
  python -m bench.seamless_clone --triples=coffee --steps=100 --results=

Each triple runs the clone mode's own code (``poisson_train.train_and_evaluate``) in a workdir
under --workdir; the SIREN is fitted for the 'normal' rule (--siren_rules).
"""

from __future__ import annotations

import os
import tempfile

from absl import app, flags

from bench import common
from experiments.poisson import clone
from experiments.poisson import train as poisson_train
from experiments.common import main_with_clean_errors
from experiments.configs import poisson as poisson_configs

# name -> (colour, destination, source, image_scale, mask, mask_height, mask_width)
TRIPLES = {
    'camera_grey': ('grey', 'camera', 'astronaut', 0.5, 'rectangle', 0.3, 0.3),
    'coffee': ('rgb', 'coffee', 'chelsea', 0.25, 'ellipse', 0.7, 0.45),
    'astronaut': ('rgb', 'astronaut', 'rocket', 0.25, 'ellipse', 0.85, 0.25),
}

flags.DEFINE_list('triples', list(TRIPLES), f'Triples to run: {", ".join(TRIPLES)}.')
flags.DEFINE_integer('steps', 300, 'SIREN steps (the clone default).')
flags.DEFINE_integer('hidden_features', 0, 'SIREN width (0: the clone default).')
flags.DEFINE_string('siren_rules', 'normal', 'Rules that get a SIREN fit.')
flags.DEFINE_string('workdir', '', 'Where the runs write ("" = a temporary directory).')
common.define_results_flag()


def run_triple(name: str, workdir: str) -> dict:
  color, dest, source, scale, mask, mask_h, mask_w = TRIPLES[name]
  config = poisson_configs.get_config('clone')
  config.unlock()
  config.update({'colors': color, 'image': dest, 'image_b': source, 'image_scale': scale,
                 'mask': mask, 'mask_height': mask_h, 'mask_width': mask_w,
                 'steps': flags.FLAGS.steps, 'siren_rules': flags.FLAGS.siren_rules,
                 'local_edit': '', 'eval_every': flags.FLAGS.steps,
                 'log_every': flags.FLAGS.steps, 'checkpoint_every': 0})
  if flags.FLAGS.hidden_features:
    config.model.hidden_features = flags.FLAGS.hidden_features
  return poisson_train.train_and_evaluate(config, os.path.join(workdir, name))


@main_with_clean_errors
def main(argv: list[str]) -> None:
  del argv
  unknown = [t for t in flags.FLAGS.triples if t not in TRIPLES]
  if unknown:
    raise ValueError(f'unknown triples {unknown}; choose from {", ".join(TRIPLES)}')
  if clone.cv2 is None:
    raise ValueError('this benchmark compares with OpenCV: pip install opencv-python-headless')
  workdir = flags.FLAGS.workdir or tempfile.mkdtemp(prefix='seamless_clone_')
  rows, steps_rows, notes = [], [], []
  for name in flags.FLAGS.triples:
    output = run_triple(name, workdir)
    dest, source = output['destination_size'], output['source_size']
    sizes = f'{dest[0]}x{dest[1]}x{dest[2]} <- {source[0]}x{source[1]}'
    for rule in ('normal', 'mixed'):
      result = output['results'][rule]
      siren = result.get('siren', {})
      opencv = result['opencv']
      rows.append([
          f'{name} ({TRIPLES[name][4]})', sizes, rule, output['omega_pixels'],
          result['direct']['residual_max'], result['direct']['seconds'],
          siren.get('psnr_inside_vs_direct'), siren.get('seconds'),
          opencv['psnr_box_direct_vs_opencv'], opencv['psnr_box_opencv_like_vs_opencv'],
          opencv['opencv_like_pixels_differing_from_opencv'],
          opencv['opencv_pixels_changed_outside_omega']])
      steps_rows.append([name, rule, *[f'{v:.1f}' for v in
                                       opencv['psnr_box_vs_opencv_adding_its_choices'].values()]])
    notes.append(f'{name}: outputs in {os.path.join(workdir, name)}')
  body = common.table(
      ['triple (mask)', 'dest <- source', 'rule', 'Ω px', 'direct residual (max)',
       'direct s', 'SIREN vs direct in Ω (dB)', 'SIREN s', 'direct vs cv2 (dB, box)',
       'OpenCV-like vs cv2 (dB, box)', 'px ≠ cv2', 'cv2 px changed off Ω'], rows)
  body += '\n\nPSNR (dB, box) against cv2 as OpenCV\'s choices are added to the exact solve:\n\n'
  body += common.table(['triple', 'rule', 'exact', '(+ mixed rule)', '+ box domain',
                        '+ erosion', '+ truncation'],
                       [r if r[1] == 'mixed' else r[:3] + ['-'] + r[3:] for r in steps_rows])
  width = flags.FLAGS.hidden_features or '(clone default)'
  notes = [f'SIREN: {flags.FLAGS.steps} steps, width {width}'
           f', rules {flags.FLAGS.siren_rules}; residual in image units ([-1, 1]); "box" = '
           'the mask\'s bounding box in the destination (OpenCV\'s solve domain; outside it both '
           'equal the destination).', *notes]
  common.report('Seamless cloning vs OpenCV', body, flags.FLAGS.results or None, notes)


if __name__ == '__main__':
  app.run(main)
