"""WORKDIR/REPORT.md of a reproduction: header (command, date, machine, versions), the claims
table generated from the parts' result files, then a section per part with small figures
copied to WORKDIR/reproduction_figures/."""

from __future__ import annotations

import io
import os
import subprocess
import time

import jax
import ml_collections
from etils import epath
from PIL import Image

from experiments import common
from experiments.reproduce import claims, parts

FIGURE_DIR = 'reproduction_figures'
SCALE_NOTES = {
    'tiny': 'tiny: seconds per part; checks the machinery and the report, not the science. '
            'Every number below is from toy sizes.',
    'cpu': 'cpu: scaled down to fit ~45 minutes of a 2-core CPU (details in each section): Fig. 1 '
           'at 256x256 for 500 steps instead of 10,000; Poisson at 64x64 with width 128 for '
           '300-500 steps instead of 256x256, width 256, 10,000 steps (merge 64x64 grey, not '
           '512x512); resizing at a 256x256 ground truth with 500 steps per fit (paper scale '
           '512x512, 5,000); colourisation under the held-out protocol (3 folds by photo over '
           'the six offline natural photos, 2 seeds) on 32x32 crops, width x0.25, 100 epochs '
           '(the report: 256x256, full width, 1000 epochs, 40 images).',
    'paper': 'paper: the paper\'s sizes and step counts (each experiment\'s own `paper` scale).',
}


def git_commit() -> str:
  try:
    out = subprocess.run(['git', 'rev-parse', '--short', 'HEAD'], capture_output=True, text=True,
                         cwd=os.path.dirname(os.path.abspath(__file__)), check=True, timeout=10)
    dirty = subprocess.run(['git', 'status', '--porcelain', '--untracked-files=no'],
                           capture_output=True, text=True, timeout=10,
                           cwd=os.path.dirname(os.path.abspath(__file__))).stdout.strip()
    return out.stdout.strip() + (' (with uncommitted changes)' if dirty else '')
  except (OSError, subprocess.SubprocessError):
    return 'unknown'


def copy_figure(source: str, workdir: str, name: str, max_bytes: int) -> str | None:
  """Copies a PNG into WORKDIR/reproduction_figures/ (downscaled until below ``max_bytes``);
  returns its path relative to the workdir, or None if the source is missing."""
  path = epath.Path(source)
  if not path.exists():
    return None
  image = Image.open(io.BytesIO(path.read_bytes()))
  image.load()
  data = path.read_bytes()
  while len(data) > max_bytes and min(image.size) > 64:
    image = image.resize((image.width * 3 // 4, image.height * 3 // 4), Image.Resampling.LANCZOS)
    buffer = io.BytesIO()
    image.save(buffer, format='PNG', optimize=True)
    data = buffer.getvalue()
  relative = os.path.join(FIGURE_DIR, name)
  target = epath.Path(workdir) / relative
  target.parent.mkdir(parents=True, exist_ok=True)
  target.write_bytes(data)
  return relative


def finished_subruns(workdir: str, part: str) -> str:
  """Which experiments of an unfinished part have finished (their metrics files exist); its
  claims stay untested until the whole part has finished."""
  root = epath.Path(workdir) / part
  done = sorted(str(p.parent.relative_to(root)).replace('.', part) for pattern in (
      '*/metrics.json', 'metrics.json') for p in root.glob(pattern)) if root.exists() else []
  if not done:
    return 'None of its experiments had finished.'
  return (f'Finished so far: {", ".join(done)} (their numbers are in the workdir; the claims '
          'wait for the whole part).')


def claims_rows(workdir: str, scale: str) -> list[claims.Row]:
  """Every claim judged against the result files in ``workdir``."""
  rows = []
  for claim in claims.CLAIMS:
    part = parts.PARTS_BY_NAME[claim.part]
    rows.append(claims.judge(claim, parts.load_metrics(workdir, claim.part),
                                       scale, part.available()))
  return rows


def write(config: ml_collections.ConfigDict, workdir: str, command: str,
          status: dict[str, str]) -> str:
  """Writes WORKDIR/REPORT.md (process 0 only); returns its text."""
  if not common.is_main_process():
    return ''
  rows = claims_rows(workdir, config.scale)
  results = {p.name: parts.load_result(workdir, p.name) for p in parts.PARTS}
  # The commands that produced the finished parts (several when parts ran in separate
  # processes), else this one.
  commands = list(dict.fromkeys(r['command'] for r in results.values()
                                if r and r.get('command'))) or [command]
  counts = {v: sum(r.verdict == v for r in rows) for v in (claims.HOLDS,
                                                           claims.FAILS)}
  lines = [
      '# Reproduction report: SIREN paper and the colourisation report', '',
      *[f'- Command: `{c}`' for c in commands],
      f'- Date (UTC): {time.strftime("%Y-%m-%d %H:%M", time.gmtime())}',
      f'- Machine: {common.machine()}',
      f'- Versions: {common.versions()}; siren_jax commit {git_commit()}',
      f'- Scale: {SCALE_NOTES[config.scale]}',
      '- Image preparation: fit, reconstruct and merge prepare their images as the SIREN '
      'reference code does (PIL bilinear resize, linspace grid) at every scale; their sections '
      'and the resizing section say how each was prepared.', '',
      '## Claims', '',
      f'{counts[claims.HOLDS]} hold, {counts[claims.FAILS]} do not hold, '
      f'{len(rows) - sum(counts.values())} not tested. Generated from the experiments\' '
      'metrics files under the workdir (`<part>/**/metrics.json`, `colorize/heldout.json`) of '
      'the parts whose `result.json` marks them finished; tolerances are fixed in '
      '`experiments/reproduce/claims.py`, written before the results were seen.', '',
      claims.table(rows, config.scale), '',
      '## Parts', '',
      '| part | state | wall time of the finishing run |', '|---|---|---|']
  for part in parts.PARTS:
    result = results[part.name]
    if result is not None:
      state = 'finished' + (' earlier' if status.get(part.name) == 'skipped' else '')
      seconds = f'{result["seconds"] / 60:.1f} min'
    else:
      state = status.get(part.name) or (f'not tested ({part.available()})' if part.available()
                                        else 'did not finish / not run')
      seconds = '-'
    lines.append(f'| {part.name} | {state} | {seconds} |')
  for part in parts.PARTS:
    lines += ['', f'## {part.title}', '']
    result = results[part.name]
    if result is None:
      reason = part.available()
      lines.append(f'Not tested ({reason}).' if reason else
                   'Did not finish in this run. ' + finished_subruns(workdir, part.name))
      if not reason and part.partial is not None:
        try:
          partial = part.partial(os.path.join(workdir, part.name))
        except (KeyError, TypeError, ValueError):
          partial = ''
        if partial:
          lines += ['', 'Numbers of the experiments finished so far (no claim is judged on '
                    'them):', '', partial]
      continue
    part_dir = os.path.join(workdir, part.name)
    metrics = parts.load_metrics(workdir, part.name)
    if metrics is None:
      lines.append('Finished, but its metrics files are missing or incomplete.')
      continue
    try:
      text, figs = part.section(metrics, part_dir)
    except (KeyError, TypeError, ValueError) as e:  # A hand-edited or foreign metrics file.
      lines.append(f'Its metrics files do not have the expected layout ({type(e).__name__}: '
                   f'{e}).')
      continue
    lines.append(text)
    for i, (source, caption) in enumerate(figs):
      relative = copy_figure(source, workdir, f'{part.name}_{i}.png', config.max_figure_bytes)
      if relative:
        lines += ['', f'![{caption}]({relative})', f'*{caption}*']
  lines += ['', '## Accelerators', '']
  if jax.devices()[0].platform == 'cpu':
    lines.append('This report ran on CPU only; no GPU or TPU was available to it. '
                 '`bench/accelerator.sh` runs the `paper` image fit and gradient/Laplacian '
                 'reconstruction and `bench.fit_step` beside PyTorch on a GPU; '
                 '`launch/README.md` runs the whole `paper` reproduction on a Cloud TPU VM.')
  else:
    lines.append(f'Ran on {common.machine()}.')
  text = '\n'.join(lines) + '\n'
  common.write_text(os.path.join(workdir, 'REPORT.md'), text)
  return text
