"""The parts of the reproduction: each runs existing experiments in-process into its own
sub-workdir (WORKDIR/<name>/), and extracts the numbers the claims and the report read from
those experiments' own metrics files (so the claims table always follows the files).

To add a part (e.g. for a new experiment), append a ``Part`` to ``PARTS`` (fields below); claims
name their part in experiments/reproduce/claims.py.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import io
import json
import os
from collections.abc import Callable
from typing import Any

import ml_collections
import numpy as np
from etils import epath

from experiments import common, figures
from experiments.configs import colorize as colorize_config
from experiments.configs import fit_image as fit_image_config
from experiments.configs import poisson as poisson_config
from experiments.configs import resize as resize_config

Metrics = dict[str, Any]
Figure = tuple[str, str]  # (path, caption)


@dataclasses.dataclass(frozen=True)
class Part:
  """One reproduction part.

  Attributes:
    name: its sub-workdir and the name claims use.
    title: the report section's title.
    run: (reproduce config, part workdir) -> None; runs the experiments (skipping finished ones).
    metrics: (reproduce settings as a dict, part workdir) -> the numbers the claims and the
      section read, extracted from the experiments' own metrics files (None if one is missing).
    section: (metrics, part workdir) -> (Markdown, [(figure path, caption)]).
    available: '' when the part can run, else why not (e.g. 'not merged yet').
    partial: part workdir -> Markdown of the experiments finished so far, for the report of a
      part that has not finished (its claims stay untested); None: list them by name only.
  """
  name: str
  title: str
  run: Callable[[ml_collections.ConfigDict, str], None]
  metrics: Callable[[dict, str], Metrics | None]
  section: Callable[[Metrics, str], tuple[str, list[Figure]]]
  available: Callable[[], str] = lambda: ''
  partial: Callable[[str], str] | None = None


def metrics_file(name: str) -> Callable[[dict, str], Metrics | None]:
  """A part's metrics: one experiment's result file in the part's workdir."""
  return lambda settings, workdir: read_json(os.path.join(workdir, name))


def read_json(path: str) -> Any | None:
  """The parsed JSON file at ``path``, or None if it is missing or incomplete (a kill while
  writing leaves it unparsable)."""
  path_ = epath.Path(path)
  if not path_.exists():
    return None
  try:
    return json.loads(path_.read_text())
  except (json.JSONDecodeError, UnicodeDecodeError):
    return None


def run_once(train_and_evaluate: Callable[[ml_collections.ConfigDict, str], Any],
             config: ml_collections.ConfigDict, workdir: str, result_file: str = 'metrics.json'
             ) -> Any:
  """Runs one experiment unless ``workdir`` already holds its complete result file (then reads
  it); an interrupted one resumes from its checkpoints."""
  done = read_json(os.path.join(workdir, result_file))
  if done is not None:
    return done
  train_and_evaluate(config, workdir)
  return read_json(os.path.join(workdir, result_file))


def _fmt(value: Any, spec: str = '.2f') -> str:
  return '-' if value is None else format(value, spec)


def _steps_line(config: dict) -> str:
  model, optimizer = config.get('model', {}), config.get('optimizer', {})
  data = config.get('data') or {}
  return (f'{config.get("image_size")}x{config.get("image_size")}, width '
          f'{model.get("hidden_features")} x {model.get("hidden_layers")} hidden layers, '
          f'{config.get("steps")} steps, lr {optimizer.get("learning_rate")}, image resized by '
          f'{data.get("resize", "bicubic")} on the {data.get("grid", "half_pixel")} grid')


# --- Fig. 1: image fitting. ------------------------------------------------------------------

def run_fit(config: ml_collections.ConfigDict, workdir: str) -> None:
  from experiments import fit_image_lib  # Lazy: importing jax-heavy libs only when run.
  run_once(fit_image_lib.train_and_evaluate, fit_image_config.get_config(
      config.fit_variant), workdir)


def fit_section(metrics: Metrics, workdir: str) -> tuple[str, list[Figure]]:
  lines = [f'{metrics["image"]}, {_steps_line(metrics["config"])}, full image per step, '
           f'{metrics["config"]["models"]}. PSNR/SSIM of the final fit.', '',
           '| model | PSNR (dB) | SSIM | s/step |', '|---|---|---|---|']
  for name, m in metrics['models'].items():
    lines.append(f'| {name} | {m["psnr"]:.2f} | {m["ssim"]:.3f} | '
                 f'{_fmt(m["seconds_per_step"], ".3f")} |')
  return '\n'.join(lines), [
      (os.path.join(workdir, 'psnr.png'), 'PSNR vs step (paper Fig. 1 curves)'),
      (os.path.join(workdir, 'figure.png'),
       'Fits with the autodiff |grad| and Laplacian of each network (paper Fig. 1 panels)')]


# --- Table 1 / Sec. 4.1: reconstruction from the gradient and from the Laplacian. ------------

def run_reconstruct(config: ml_collections.ConfigDict, workdir: str) -> None:
  from experiments.poisson import train as poisson_train
  for kind, variant in (('grad', config.grad_variant), ('laplacian', config.laplacian_variant)):
    for model in common.split_names(config.poisson_models):
      run_config = poisson_config.get_config(variant)
      run_config.model.name = model
      run_once(poisson_train.train_and_evaluate, run_config, os.path.join(workdir, f'{kind}_{model}'))
  metrics = reconstruct_metrics(config.to_dict(), workdir)
  curves = {f'{kind} {model}': ([r['step'] for r in metrics[kind][model]['psnr_history']],
                                 [r['psnr'] for r in metrics[kind][model]['psnr_history']])
            for kind in ('grad', 'laplacian') for model in metrics[kind]['models']}
  if common.is_main_process():
    figures.curves(os.path.join(workdir, 'psnr.png'), curves, xlabel='step',
                   ylabel='PSNR vs ground truth (dB)', title='from gradient / Laplacian')


def reconstruct_metrics(settings: dict, workdir: str) -> Metrics | None:
  """{'grad' | 'laplacian': {'models': [...], MODEL: summary, 'direct': ..., 'direct_stencil':
  ..., 'config': ...}} from the runs' metrics.json files (None if one is missing)."""
  result: Metrics = {}
  for kind in ('grad', 'laplacian'):
    models = common.split_names(settings['poisson_models'])
    result[kind] = {'models': models}
    for model in models:
      metrics = read_json(os.path.join(workdir, f'{kind}_{model}', 'metrics.json'))
      if metrics is None:
        return None
      color = metrics['config']['colors']
      result[kind][model] = metrics['results'][color][model]
      result[kind]['direct'] = metrics['results'][color]['direct']
      result[kind]['direct_stencil'] = metrics['results'][color]['direct_stencil']
      result[kind]['config'] = metrics['config']
  return result


def reconstruct_partial(workdir: str) -> str:
  lines = ['| run | PSNR (dB) | direct solver (dB) | steps |', '|---|---|---|---|']
  for path in sorted(epath.Path(workdir).glob('*/metrics.json')):
    metrics = read_json(str(path))
    if metrics is None:
      continue
    color, model = metrics['config']['colors'], metrics['config']['model']['name']
    run = metrics['results'][color]
    lines.append(f'| {path.parent.name} | {run[model]["psnr"]:.2f} | {run["direct"]["psnr"]:.2f} '
                 f'| {run[model]["steps"]} |')
  return '\n'.join(lines) if len(lines) > 2 else ''


def reconstruct_section(metrics: Metrics, workdir: str) -> tuple[str, list[Figure]]:
  lines = ['| supervised by | setting | ' + ' | '.join(metrics['grad']['models']) +
           ' | direct solver (ceiling) | direct, stencil inverse |',
           '|---' * (len(metrics['grad']['models']) + 4) + '|']
  for kind in ('grad', 'laplacian'):
    m = metrics[kind]
    cells = ' | '.join(f'{m[model]["psnr"]:.2f}' for model in m['models'])
    lines.append(f'| {kind} | {_steps_line(m["config"])} | {cells} | {m["direct"]["psnr"]:.2f} | '
                 f'{m["direct_stencil"]["psnr"]:.2f} |')
  lines += ['', 'PSNR (dB) vs the ground truth, constant matched by the mean (README, Poisson '
            'fairness). SIREN from the Laplacian with the best plane matched as well: '
            f'{_fmt(metrics["laplacian"].get("siren", {}).get("psnr_affine_matched"))} dB.']
  figs = [(os.path.join(workdir, 'psnr.png'), 'PSNR vs step, every model and target')]
  for kind in ('grad', 'laplacian'):
    figs.append((os.path.join(workdir, f'{kind}_siren', 'figure.png'),
                 f'SIREN from the {kind}: target, fit, autodiff derivatives, direct solver'))
  return '\n'.join(lines), figs


# --- The composite of two images (merge) and seamless cloning. -------------------------------

def run_merge(config: ml_collections.ConfigDict, workdir: str) -> None:
  from experiments.poisson import train as poisson_train
  run_once(poisson_train.train_and_evaluate, poisson_config.get_config(
      config.merge_variant), workdir)


def merge_section(metrics: Metrics, workdir: str) -> tuple[str, list[Figure]]:
  lines = [f'{metrics["image"]} (A) and {metrics["image_b"]} (B), '
           f'{_steps_line(metrics["config"])}.', '',
           '| colours | rule | SIREN PSNR vs direct solution (dB) |', '|---|---|---|']
  for color, rules in metrics['results'].items():
    for rule, m in rules.items():
      lines.append(f'| {color} | {rule} | {m["psnr_vs_direct"]:.2f} |')
  return '\n'.join(lines), [(os.path.join(workdir, 'figure.png'),
                             'Top: A, B, SIREN fits; bottom: mask, pixel average, direct')]


def clone_available() -> str:
  if 'clone' not in poisson_config.MODES or importlib.util.find_spec(
      'experiments.poisson.clone') is None:
    return 'not merged yet'
  return ''


def run_clone(config: ml_collections.ConfigDict, workdir: str) -> None:
  from experiments.poisson import train as poisson_train
  run_once(poisson_train.train_and_evaluate, poisson_config.get_config(
      config.clone_variant), workdir)


def clone_section(metrics: Metrics, workdir: str) -> tuple[str, list[Figure]]:
  text = '```\n' + json.dumps(metrics.get('results', {}), indent=1, default=str)[:3000] + '\n```'
  return text, [(os.path.join(workdir, 'figure.png'), 'Seamless cloning')]


# --- Resizing over every built-in natural photo. ---------------------------------------------

def photo_source(name: str, workdir: str) -> str:
  """A name load_image accepts: built-ins as they are; 'stereo_motorcycle' (a stereo pair)
  as its left view, written once as a PNG under ``workdir``."""
  if name != 'stereo_motorcycle':
    return name
  path = epath.Path(workdir) / 'inputs' / 'stereo_motorcycle_left.png'
  if not path.exists() and common.is_main_process():
    import skimage.data
    from PIL import Image
    buffer = io.BytesIO()
    Image.fromarray(skimage.data.stereo_motorcycle()[0]).save(buffer, format='PNG')
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(buffer.getvalue())
  return str(path)


def _spread(values: list[float]) -> dict[str, float]:
  """``common.mean_std`` of ``values`` plus their 'min' and 'max'."""
  return {**common.mean_std(values), 'min': float(np.min(values)), 'max': float(np.max(values))}


def summarise_resize(per_image: dict[str, dict]) -> dict[str, dict]:
  """Per factor: each method's PSNR/SSIM as mean +- sample std over the photos, and SIREN's
  gain over the best classical filter and over bicubic (per photo, then summarised)."""
  summary: dict[str, dict] = {}
  for factor in next(iter(per_image.values()))['factors']:
    methods = {name: m['factors'][factor]['methods'] for name, m in per_image.items()}
    model = per_image[next(iter(per_image))]['config']['model']['name']
    names = list(next(iter(methods.values())))
    classical = [n for n in names if n != model]
    summary[factor] = {
        'psnr': {n: _spread([methods[i][n]['psnr'] for i in methods]) for n in names},
        'ssim': {n: _spread([methods[i][n]['ssim'] for i in methods]) for n in names},
        'gain_over_best': _spread([methods[i][model]['psnr'] - max(
            methods[i][n]['psnr'] for n in classical) for i in methods]),
        'gain_over_bicubic': _spread([methods[i][model]['psnr'] - methods[i]['bicubic']['psnr']
                                      for i in methods]),
        'wins_over_best': sum(methods[i][model]['psnr'] > max(
            methods[i][n]['psnr'] for n in classical) for i in methods),
    }
  return summary


def run_resize(config: ml_collections.ConfigDict, workdir: str) -> None:
  from experiments import resize_lib
  for name in common.split_names(config.resize_images):
    run_config = resize_config.get_config(config.resize_variant)
    run_config.image = photo_source(name, workdir)
    run_config.mode = config.resize_mode
    run_once(resize_lib.train_and_evaluate, run_config, os.path.join(workdir, name))
  metrics = resize_metrics(config.to_dict(), workdir)
  if common.is_main_process() and metrics is not None:
    _resize_figure(os.path.join(workdir, 'resize_summary.png'), metrics['summary'])


def resize_metrics(settings: dict, workdir: str) -> Metrics | None:
  """{'images': {photo: {'factors', 'config'}}, 'summary': summarise_resize(...)} from each
  photo's metrics.json (None if one is missing)."""
  per_image = {}
  for name in common.split_names(settings['resize_images']):
    metrics = read_json(os.path.join(workdir, name, 'metrics.json'))
    if metrics is None:
      return None
    per_image[name] = {'factors': metrics['factors'], 'config': metrics['config']}
  return {'images': per_image, 'summary': summarise_resize(per_image)}


def _resize_figure(path: str, summary: dict[str, dict]) -> None:
  import matplotlib.pyplot as plt
  fig, axes = plt.subplots(1, len(summary), figsize=(3.6 * len(summary), 3.0), squeeze=False)
  for axis, (factor, s) in zip(axes[0], summary.items()):
    names = list(s['psnr'])
    means = [s['psnr'][n]['mean'] for n in names]
    stds = [s['psnr'][n]['std'] for n in names]
    axis.bar(names, means, yerr=stds, capsize=3, color='#8ab')
    axis.set_ylim(min(means) - 3, max(means) + 2)
    axis.set_title(f'{factor}: PSNR, mean +- std over {s["psnr"][names[0]]["n"]} photos',
                   fontsize=8)
    axis.tick_params(labelsize=7)
  fig.tight_layout()
  figures.save(fig, path, dpi=80)


def resize_partial(workdir: str) -> str:
  lines = ['| photo | factor | SIREN PSNR (dB) | best classical (dB) | bicubic (dB) |',
           '|---|---|---|---|---|']
  for path in sorted(epath.Path(workdir).glob('*/metrics.json')):
    metrics = read_json(str(path))
    if metrics is None:
      continue
    model = metrics['config']['model']['name']
    for factor, result in metrics['factors'].items():
      methods = result['methods']
      best = max((m for m in methods if m != model), key=lambda m: methods[m]['psnr'])
      lines.append(f'| {path.parent.name} | {factor} | {methods[model]["psnr"]:.2f} | '
                   f'{methods[best]["psnr"]:.2f} ({best}) | {methods["bicubic"]["psnr"]:.2f} |')
  return '\n'.join(lines) if len(lines) > 2 else ''


def resize_section(metrics: Metrics, workdir: str) -> tuple[str, list[Figure]]:
  config = next(iter(metrics['images'].values()))['config']
  resize = (config.get('data') or {}).get('resize', 'bicubic')
  lines = [f'Photos: {", ".join(metrics["images"])} (grey, resized by {resize} to '
           f'{config["image_size"]}x{config["image_size"]} ground truth, aspect not kept; '
           f'stereo_motorcycle: left view), box-downsampled by each factor; SIREN width '
           f'{config["model"]["hidden_features"]}, {config["steps"]} steps per fit.', '',
           '| factor | method | PSNR (dB), mean +- std | SSIM, mean +- std |', '|---|---|---|---|']
  for factor, s in metrics['summary'].items():
    for name in s['psnr']:
      p, q = s['psnr'][name], s['ssim'][name]
      lines.append(f'| {factor} | {name} | {p["mean"]:.2f} +- {p["std"]:.2f} | '
                   f'{q["mean"]:.3f} +- {q["std"]:.3f} |')
  lines += ['', '| factor | SIREN minus best classical (dB), mean +- std [min, max] | wins | '
            'SIREN minus bicubic (dB) |', '|---|---|---|---|']
  for factor, s in metrics['summary'].items():
    g, b = s['gain_over_best'], s['gain_over_bicubic']
    lines.append(f'| {factor} | {g["mean"]:+.2f} +- {g["std"]:.2f} [{g["min"]:+.2f}, '
                 f'{g["max"]:+.2f}] | {s["wins_over_best"]}/{g["n"]} | {b["mean"]:+.2f} +- '
                 f'{b["std"]:.2f} |')
  first = next(iter(metrics['images']))
  return '\n'.join(lines), [
      (os.path.join(workdir, 'resize_summary.png'), 'PSNR per method, mean +- std over photos'),
      (os.path.join(workdir, first, 'comparison.png'), f'Zoomed crops, {first}')]


# --- Colourisation: FR / SRS / S130 under the held-out protocol. ----------------------------

def run_colorize(config: ml_collections.ConfigDict, workdir: str) -> None:
  """experiments.colorize_heldout (k-fold by photo, several seeds, grey and histogram
  baselines) for the models of ``config.colorize_models``."""
  from experiments.colorize import heldout as colorize_heldout
  heldout = colorize_config.get_config(config.colorize_variant)
  heldout.heldout_models = config.colorize_models
  run_once(colorize_heldout.run, heldout, workdir, result_file='heldout.json')


def colorize_section(metrics: Metrics, workdir: str) -> tuple[str, list[Figure]]:
  table = epath.Path(os.path.join(workdir, 'heldout.md'))
  run = metrics['config']
  folds = '; '.join(', '.join(f) for f in metrics['folds'])
  text = (f'Held-out protocol (docs/colorization.md): {len(metrics["folds"])} folds by photo '
          f'({folds}); each model trained on the other folds\' photos, {run["heldout_seeds"]} '
          f'seed(s), {run["image_size"]}x{run["image_size"]} crops, width x'
          f'{run["model"]["width_scale"]:g}, {run["epochs"]} epochs; evaluated on the held-out '
          f'photos (short side {run["heldout_eval_side"]}). Mean ± std over folds x seeds.\n\n' +
          (table.read_text() if table.exists() else ''))
  return text, [(os.path.join(workdir, 'heldout.png'),
                 'One held-out photo per fold: grey input, each model, histogram baseline, truth')]


PARTS: tuple[Part, ...] = (
    Part('fit', 'Image fitting (paper Fig. 1)', run_fit, metrics_file('metrics.json'),
         fit_section),
    Part('reconstruct', 'Reconstruction from gradient and Laplacian (paper Table 1, Sec. 4.1)',
         run_reconstruct, reconstruct_metrics, reconstruct_section, partial=reconstruct_partial),
    Part('merge', 'Gradient-domain composite of two images (paper Sec. 4.1)', run_merge,
         metrics_file('metrics.json'), merge_section),
    Part('clone', 'Seamless cloning', run_clone, metrics_file('metrics.json'),
         clone_section, clone_available),
    Part('resize', 'Resizing: SIREN vs classical filters over every built-in photo', run_resize,
         resize_metrics, resize_section, partial=resize_partial),
    Part('colorize', 'Colourisation: FR vs SRS vs S130 on held-out photos (the report)',
         run_colorize, metrics_file('heldout.json'), colorize_section),
)
PARTS_BY_NAME = {p.name: p for p in PARTS}


# Result files of finished parts.

RESULT_FILE = 'result.json'  # A part's completion record, written when it has finished.


def load_result(workdir: str, part: str) -> dict[str, Any] | None:
  """WORKDIR/<part>/result.json (the part's completion record: settings, time, command) if
  complete, else None."""
  return read_json(os.path.join(workdir, part, RESULT_FILE))


def load_metrics(workdir: str, part: str) -> dict[str, Any] | None:
  """The numbers of a finished part, read from its experiments' metrics files; None if the part
  has not finished."""
  result = load_result(workdir, part)
  if result is None:
    return None
  return PARTS_BY_NAME[part].metrics(result['settings'], os.path.join(workdir, part))
