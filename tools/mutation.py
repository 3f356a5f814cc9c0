"""Mutation testing of siren_jax: plant one small bug at a time, run that module's fast tests.

Not part of CI (a full run takes hours on 2 cores). Usage, from the repository root:

  nice -n 10 python tools/mutation.py                        # every module in MODULE_TESTS
  nice -n 10 python tools/mutation.py layers colour --sample 20 --seed 0
  python tools/mutation.py layers --list                     # show the mutants, run nothing

Each mutant is one of the classic operators (arithmetic and comparison operators swapped, and/or
swapped, ``not``/unary minus dropped, a number changed by one, True/False swapped) applied to one
AST node of one function body (docstrings, annotations and strings are left alone). The mutated
module is written into a scratch copy of the repository, so the working tree is never touched,
and the module's tests (MODULE_TESTS) run there with ``pytest -x``: a failing test, an error or a
timeout kills the mutant; passing tests let it survive. Results stream as one line per mutant
and, with ``--json``, are written to a file for docs/testing.md.

Why our own ~200 lines instead of mutmut / cosmic-ray: mutmut 3 first runs the whole suite to map
tests to functions and executes everything from a ``mutants/`` copy through trampolines, which
is hours here; cosmic-ray needs a session database and a per-module config. This script needs
only the standard library and pytest, and maps each module to its own fast tests by hand.
"""

from __future__ import annotations

import argparse
import ast
import dataclasses
import json
import os
import queue
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

POISSON_TESTS = ['tests/poisson_targets_test.py', 'tests/poisson_solvers_test.py',
                 'tests/properties_test.py::test_compose_gradients_rules_on_random_fields',
                 '-m', 'not slow']

# Module -> the fast tests that should catch a bug in it (slow end-to-end tests excluded).
MODULE_TESTS: dict[str, list[str]] = {
    # The 8-layer pre-activation statistics test takes minutes on a loaded CPU; the init
    # bounds it relies on are pinned by the reference-code tests in the same file.
    'siren_jax/layers.py': ['tests/layers_test.py', '-k', 'not preactivations'],
    'siren_jax/diffops.py': ['tests/diffops_test.py'],
    'siren_jax/grids.py': ['tests/grids_test.py'],
    'siren_jax/colorize/colour.py': ['tests/colorize_colour_test.py',
                            'tests/properties_test.py::test_lab_round_trip_inside_the_gamut'],
    'siren_jax/poisson/targets.py': POISSON_TESTS,
    'siren_jax/poisson/solvers.py': POISSON_TESTS,
    'siren_jax/render.py': ['tests/render_test.py',
                            'tests/properties_test.py::'
                            'test_render_any_size_crop_and_chunk_equals_one_shot_evaluation'],
    # The covering-tile field (what renders a tiled fit) is tested in large_image_test, the
    # grid layouts and blending windows in colorize_photo_colorize_test too.
    'siren_jax/tiling.py': ['tests/tiling_test.py',
                            'tests/properties_test.py::test_tiling_split_covers_the_image_and_pastes_back',
                            'tests/properties_test.py::'
                            'test_abutting_grid_tiles_split_and_map_back_for_any_size',
                            'tests/colorize_photo_colorize_test.py',
                            'tests/large_image_test.py::'
                            'test_covering_tiles_field_equals_the_all_tiles_blend',
                            'tests/large_image_test.py::'
                            'test_each_point_is_evaluated_by_at_most_four_tiles'],
    'siren_jax/data/photos.py': ['tests/data_photos_test.py',
                                 'tests/properties_test.py::test_split_indices_partition_their_input'],
    'siren_jax/data/corpus.py': ['tests/data_corpus_test.py'],
    'siren_jax/data/crops.py': ['tests/data_crops_test.py'],
    # The divergence guard's tests live in failures_test (the rest of that file is entry points).
    'siren_jax/training.py': ['tests/training_test.py',
                              'tests/failures_test.py::'
                              'test_divergence_stops_saves_nothing_bad_and_keeps_the_last_good_checkpoint',
                              'tests/failures_test.py::test_skip_policy_keeps_the_old_state_for_a_bad_step',
                              'tests/failures_test.py::'
                              'test_skip_policy_counts_skipped_steps_and_finishes_with_a_finite_state',
                              'tests/failures_test.py::test_seconds_per_step_is_none_not_nan_when_unmeasured',
                              'tests/failures_test.py::test_a_clean_run_records_no_skipped_steps_and_warns_of_none'],
    'siren_jax/checkpoints.py': ['tests/checkpoints_test.py', 'tests/training_test.py',
                                 'tests/failures_test.py::'
                                 'test_a_damaged_newest_checkpoint_falls_back_to_the_older_one_logged',
                                 'tests/failures_test.py::test_every_checkpoint_damaged_is_a_one_line_error'],
    'siren_jax/finite_differences.py': ['tests/finite_differences_test.py'],
    'siren_jax/metrics.py': ['tests/metrics_test.py'],
    # The baselines are built by name through models.fields.
    'siren_jax/baselines.py': ['tests/baselines_test.py', 'tests/models_fields_test.py'],
    'siren_jax/fast_sine.py': ['tests/fast_sine_test.py'],
    'siren_jax/images.py': ['tests/images_test.py'],
    'siren_jax/inr_file.py': ['tests/inr_file_test.py'],
    # The fake-bucket tests of files; the entry points on a fake bucket are slow and left out.
    'siren_jax/files.py': ['tests/gcs_workdir_test.py', 'tests/images_test.py',
                           'tests/inr_file_test.py'],
    'siren_jax/preemption.py': ['tests/preemption_test.py'],
    'siren_jax/colorize/colorizers.py': [
        'tests/colorize_colorizers_test.py',
        '-m', 'slow or not slow'],  # The FR and S130 training smoke tests are marked slow.
    'siren_jax/models/fields.py': ['tests/models_fields_test.py', 'tests/baselines_test.py'],
    'siren_jax/colorize/colour_metrics.py': ['tests/colorize_colour_metrics_test.py'],
    # Worked by hand in fitting_test; image_loss is also what every fast training test
    # minimises, and derivatives is pinned to closed forms in diffops_test.
    'siren_jax/fitting.py': ['tests/fitting_test.py', 'tests/diffops_test.py',
                             'tests/training_test.py'],
    'siren_jax/nnx_layers.py': ['tests/nnx_layers_test.py'],
    # colorize_photo_test colourises through the experiment's model (fast test only).
    'siren_jax/colorize/photo_colorize.py': ['tests/colorize_photo_colorize_test.py',
                                             'tests/colorize_photo_test.py', '-m', 'not slow'],
    # Only the sampling tests of large_image_test (the rest fit and render large images).
    'siren_jax/sampling.py': ['tests/sampling_test.py', 'tests/large_image_test.py', '-k',
                              'sampling_test or minibatch_rows or every_pixel or sampled_rows '
                              'or minibatch_fn or batch_pixels'],
    'siren_jax/poisson/seamless.py': ['tests/poisson_seamless_test.py', '-m', 'not slow'],
    # The 8-device checks scale_out_test runs in a subprocess, here run directly on 8 simulated
    # devices (MODULE_ENV), the helper tests of sharding_test on one device, and scale_out_test's
    # (slow) two-process checks, which run the module from the same scratch copy.
    'siren_jax/sharding.py': [
        'tests/multidevice_checks.py', 'tests/sharding_test.py',
        'tests/scale_out_test.py::test_sharding_helpers_across_two_processes',
        '-m', 'slow or not slow'],
    'siren_jax/errors.py': ['tests/errors_test.py'],
    'siren_jax/finite.py': ['tests/finite_test.py'],
    'siren_jax/names.py': ['tests/names_test.py'],
    'siren_jax/models/__init__.py': ['tests/models_test.py'],
}

# Modules whose mutants can break the process that runs them (checkpoints #21 and #24 point
# file descriptors 2 or 3 elsewhere while capturing stderr), so every later mutant of an
# in-process run would be judged in a broken process: these always get one process per mutant.
NOT_IN_PROCESS = {'siren_jax/checkpoints.py'}

# Extra environment for a module's test process (set before JAX starts).
MODULE_ENV: dict[str, dict[str, str]] = {
    'siren_jax/sharding.py': {'XLA_FLAGS': '--xla_force_host_platform_device_count=8'},
}

_BINOP_SWAPS = {ast.Add: ast.Sub, ast.Sub: ast.Add, ast.Mult: ast.Div, ast.Div: ast.Mult,
                ast.FloorDiv: ast.Div, ast.Pow: ast.Mult, ast.Mod: ast.FloorDiv,
                ast.MatMult: ast.Mult}
_CMP_SWAPS = {ast.Lt: ast.LtE, ast.LtE: ast.Lt, ast.Gt: ast.GtE, ast.GtE: ast.Gt,
              ast.Eq: ast.NotEq, ast.NotEq: ast.Eq, ast.In: ast.NotIn, ast.NotIn: ast.In,
              ast.Is: ast.IsNot, ast.IsNot: ast.Is}


@dataclasses.dataclass
class Mutant:
  module: str
  index: int  # Position in the module's list of mutation sites.
  line: int
  description: str
  status: str = ''  # killed / survived / timeout
  seconds: float = 0.0


def _docstring_ids(tree: ast.AST) -> set[int]:
  ids = set()
  for node in ast.walk(tree):
    if isinstance(node, (ast.Module, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
      body = node.body
      if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
        ids.add(id(body[0].value))
  return ids


def _annotation_ids(tree: ast.AST) -> set[int]:
  ids = set()
  for node in ast.walk(tree):
    roots = []
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
      roots = [a.annotation for a in node.args.args + node.args.kwonlyargs + node.args.posonlyargs]
      roots.append(node.returns)
    elif isinstance(node, ast.AnnAssign):
      roots = [node.annotation]
    for root in roots:
      if root is not None:
        ids.update(id(n) for n in ast.walk(root))
  return ids


def _sites(tree: ast.AST) -> list[tuple[ast.AST, str, object]]:
  """(node, description, replacement spec) for every mutation this tree allows."""
  skip = _docstring_ids(tree) | _annotation_ids(tree)
  in_function = set()
  for node in ast.walk(tree):
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
      in_function.update(id(n) for n in ast.walk(node))
  sites = []
  for node in ast.walk(tree):
    if id(node) in skip or id(node) not in in_function:
      continue
    if isinstance(node, ast.BinOp) and type(node.op) in _BINOP_SWAPS:
      new = _BINOP_SWAPS[type(node.op)]
      sites.append((node, f'{type(node.op).__name__} -> {new.__name__}', ('binop', new)))
    elif isinstance(node, ast.AugAssign) and type(node.op) in _BINOP_SWAPS:
      new = _BINOP_SWAPS[type(node.op)]
      sites.append((node, f'{type(node.op).__name__}= -> {new.__name__}=', ('binop', new)))
    elif isinstance(node, ast.Compare):
      for i, op in enumerate(node.ops):
        if type(op) in _CMP_SWAPS:
          new = _CMP_SWAPS[type(op)]
          sites.append((node, f'{type(op).__name__} -> {new.__name__}', ('cmp', i, new)))
    elif isinstance(node, ast.BoolOp):
      new = ast.Or if isinstance(node.op, ast.And) else ast.And
      sites.append((node, f'{type(node.op).__name__} -> {new.__name__}', ('boolop', new)))
    elif isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.Not, ast.USub)):
      sites.append((node, f'drop {type(node.op).__name__}', ('unary',)))
    elif isinstance(node, ast.Constant) and type(node.value) in (int, float, bool):
      if isinstance(node.value, bool):
        sites.append((node, f'{node.value} -> {not node.value}', ('const', not node.value)))
      else:
        new = node.value + 1
        sites.append((node, f'{node.value!r} -> {new!r}', ('const', new)))
  return sites


class _Apply(ast.NodeTransformer):
  """Applies one mutation (found by its position in ``_sites`` of a fresh parse)."""

  def __init__(self, target: ast.AST, spec: tuple):
    self.target, self.spec = target, spec

  def generic_visit(self, node):
    node = super().generic_visit(node)
    if node is not self.target:
      return node
    kind = self.spec[0]
    if kind == 'binop':
      node.op = self.spec[1]()
    elif kind == 'cmp':
      node.ops[self.spec[1]] = self.spec[2]()
    elif kind == 'boolop':
      node.op = self.spec[1]()
    elif kind == 'unary':
      return node.operand
    elif kind == 'const':
      node.value = self.spec[1]
    return node


def mutants_of(module: str) -> list[Mutant]:
  with open(os.path.join(ROOT, module)) as f:
    tree = ast.parse(f.read())
  return [Mutant(module, i, getattr(node, 'lineno', 0), description)
          for i, (node, description, _) in enumerate(_sites(tree))]


def mutated_source(module: str, index: int, source: str | None = None) -> str:
  if source is None:
    with open(os.path.join(ROOT, module)) as f:
      source = f.read()
  tree = ast.parse(source)
  node, _, spec = _sites(tree)[index]
  tree = _Apply(node, spec).visit(tree)
  return ast.unparse(ast.fix_missing_locations(tree))


def _test_env(workdir: str, module: str) -> dict[str, str]:
  """The environment of a test process for ``module``: the scratch copy first, CPU only."""
  return {**os.environ, 'PYTHONPATH': workdir, 'JAX_PLATFORMS': 'cpu',
          **MODULE_ENV.get(module, {})}


def _run_tests(workdir: str, module: str, timeout: float) -> tuple[str, float]:
  start = time.time()
  command = [sys.executable, '-m', 'pytest', '-x', '-q', '-n', '0', '-p',
             'no:cacheprovider', '--hypothesis-seed=0', *MODULE_TESTS[module]]
  env = _test_env(workdir, module)
  try:
    process = subprocess.run(command, cwd=workdir, env=env, capture_output=True, text=True,
                             timeout=timeout)
  except subprocess.TimeoutExpired:
    return 'timeout', time.time() - start
  # 0: all passed (survived); 1: a test failed; 2/3/4: collection/internal error (the mutant
  # broke the import): killed too.
  return ('survived' if process.returncode == 0 else 'killed'), time.time() - start


def _worker(module: str, indices: list[int], tests: list[str], timeout: float) -> None:
  """--in-process worker (run inside the scratch copy): imports everything once, then per mutant
  rewrites and reloads ``module``, clears JAX's compilation caches and runs pytest.main. One JSON
  line per mutant on stdout. Saves the ~20-60 s of imports each pytest process costs."""
  import importlib
  import io
  import contextlib

  import jax
  import pytest

  name = module[:-3].replace('/', '.')
  target = os.path.join(os.getcwd(), module)
  with open(target) as f:
    original = f.read()
  imported = importlib.import_module(name)

  class Timeout(Exception):
    pass

  def on_alarm(*unused):
    raise Timeout()

  signal.signal(signal.SIGALRM, on_alarm)
  args = ['-x', '-q', '-p', 'no:cacheprovider', '-n', '0', '--hypothesis-seed=0', *tests]
  with contextlib.redirect_stdout(io.StringIO()):
    baseline_start = time.time()
    baseline = pytest.main(args)
  print(json.dumps({'baseline': int(baseline), 'seconds': time.time() - baseline_start}),
        flush=True)
  if baseline != 0:
    return
  for index in indices:
    start = time.time()
    try:
      with open(target, 'w') as f:
        f.write(mutated_source(module, index, source=original))
      jax.clear_caches()
      signal.alarm(int(timeout))
      try:
        importlib.reload(imported)
        with contextlib.redirect_stdout(io.StringIO()):
          code = pytest.main(args)
        status = 'survived' if code == 0 else 'killed'
      except Timeout:
        status = 'timeout'
      except Exception:  # The mutant broke the import.
        status = 'killed'
      finally:
        signal.alarm(0)
    finally:
      with open(target, 'w') as f:
        f.write(original)
      importlib.reload(imported)
    print(json.dumps({'index': index, 'status': status, 'seconds': time.time() - start}),
          flush=True)
  # The unmutated module must still pass after all that reloading, or the kills are suspect.
  with contextlib.redirect_stdout(io.StringIO()):
    final = pytest.main(args)
  print(json.dumps({'final': int(final)}), flush=True)


def _run_in_process(scratch: str, module: str, mutants: list[Mutant], json_path: str,
                    timeout: float) -> None:
  """Runs ``mutants`` in a worker process, restarting it after a mutant that hangs.

  The worker's SIGALRM cannot interrupt compiled code (a mutant that makes an XLA ``while_loop``
  endless, e.g. ``sampling.py`` #22), so the worker is also watched from here: silent for
  ``timeout`` + 120 s, it is killed, the mutant it was on counts as a timeout (killed), the module
  is restored in the scratch copy and a new worker takes the rest."""
  target = os.path.join(scratch, module)
  with open(target) as f:
    original = f.read()  # The copy taken at the start, whatever the working tree does since.
  pending = list(mutants)
  while pending:
    hung = _run_worker(scratch, module, pending, json_path, timeout,
                       restarted=len(pending) < len(mutants))
    if hung is None:
      break
    hung.status, hung.seconds = 'timeout', timeout + 120
    _report(module, hung, json_path)
    with open(target, 'w') as f:  # The killed worker left its mutant in place.
      f.write(original)
    pending = [m for m in pending if not m.status]
  done = [m for m in mutants if m.status]
  print(f'{module}: {sum(m.status != "survived" for m in done)}/{len(done)} killed', flush=True)


def _report(module: str, m: Mutant, json_path: str) -> None:
  print(f'  {m.status:8s} {module}:{m.line} #{m.index} {m.description} ({m.seconds:.0f} s)',
        flush=True)
  if json_path:
    with open(json_path, 'a') as f:
      f.write(json.dumps(dataclasses.asdict(m)) + '\n')


def _run_worker(scratch: str, module: str, mutants: list[Mutant], json_path: str,
                timeout: float, restarted: bool) -> Mutant | None:
  """One worker over ``mutants``; returns the mutant it hung on (then killed), else None."""
  tests = MODULE_TESTS[module]
  command = [sys.executable, os.path.abspath(__file__), '--worker', module, '--indices',
             ','.join(str(m.index) for m in mutants), '--tests-json', json.dumps(tests),
             '--timeout', str(timeout)]
  env = _test_env(scratch, module)
  by_index = {m.index: m for m in mutants}
  lines: queue.Queue[str | None] = queue.Queue()
  with subprocess.Popen(command, cwd=scratch, env=env, stdout=subprocess.PIPE, text=True) as p:
    def read() -> None:
      assert p.stdout is not None
      for line in p.stdout:
        lines.put(line)
      lines.put(None)
    threading.Thread(target=read, daemon=True).start()
    limit = 1800.0  # The unmutated baseline first: imports and every test once.
    while True:
      try:
        line = lines.get(timeout=limit)
      except queue.Empty:
        p.kill()
        return next(m for m in mutants if not m.status)
      if line is None:
        return None
      if not line.startswith('{'):
        continue
      record = json.loads(line)
      limit = timeout + 120
      if 'final' in record:
        if record['final'] != 0:
          print(f'{module}: WARNING the unmutated tests fail after the in-process run; rerun '
                'this module without --in-process', flush=True)
        continue
      if 'baseline' in record:
        if record['baseline'] != 0:
          print(f'{module}: its tests fail without a mutant; skipped', flush=True)
        else:
          print(f'{module}: {len(mutants)} mutants{" left, worker restarted" if restarted else ""}'
                f', tests take {record["seconds"]:.0f} s (in process)', flush=True)
        continue
      m = by_index[record['index']]
      m.status, m.seconds = record['status'], record['seconds']
      _report(module, m, json_path)


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  parser.add_argument('modules', nargs='*', help='short names (layers, colour, models/fields...)')
  parser.add_argument('--sample', type=int, default=0, help='mutants per module (0 = all)')
  parser.add_argument('--seed', type=int, default=0)
  parser.add_argument('--only', default='', help='comma-separated mutant numbers (#N) to run')
  parser.add_argument('--list', action='store_true', help='print the mutants and exit')
  parser.add_argument('--json', default='', help='append results to this JSON-lines file')
  parser.add_argument('--in-process', action='store_true',
                      help='one pytest process per module, the module reloaded per mutant '
                           '(several times faster; JAX caches are cleared between mutants)')
  parser.add_argument('--worker', default='', help=argparse.SUPPRESS)
  parser.add_argument('--indices', default='', help=argparse.SUPPRESS)
  parser.add_argument('--timeout', type=float, default=600, help='seconds per mutant (in process)')
  parser.add_argument('--tests-json', default='', help=argparse.SUPPRESS)
  args = parser.parse_args()
  if args.worker:
    _worker(args.worker, [int(i) for i in args.indices.split(',')], json.loads(args.tests_json),
            args.timeout)
    return
  modules = [f'siren_jax/{m}.py' for m in args.modules] or list(MODULE_TESTS)
  for module in modules:
    if module not in MODULE_TESTS:
      sys.exit(f'error: no tests mapped for {module}; add it to MODULE_TESTS')

  signal.signal(signal.SIGTERM, lambda *unused: sys.exit(1))  # Still remove the scratch copy.
  scratch = tempfile.mkdtemp(prefix='siren_jax_mutation_')
  for name in ('siren_jax', 'experiments', 'tests', 'bench', 'pytest.ini'):
    source = os.path.join(ROOT, name)
    (shutil.copytree if os.path.isdir(source) else shutil.copy)(
        source, os.path.join(scratch, name))
  try:
    for module in modules:
      mutants = mutants_of(module)
      if args.only:
        chosen = {int(i) for i in args.only.split(',')}
        mutants = [m for m in mutants if m.index in chosen]
      elif args.sample and args.sample < len(mutants):
        mutants = sorted(random.Random(f'{args.seed}:{module}').sample(mutants, args.sample),
                         key=lambda m: m.index)
      if args.list:
        for m in mutants:
          print(f'{module}:{m.line} #{m.index} {m.description}')
        continue
      if args.in_process and module in NOT_IN_PROCESS:
        print(f'{module}: one process per mutant (see NOT_IN_PROCESS)', flush=True)
      elif args.in_process:
        _run_in_process(scratch, module, mutants, args.json, args.timeout)
        continue
      status, baseline = _run_tests(scratch, module, timeout=1800)
      if status != 'survived':
        print(f'{module}: its tests fail without a mutant; skipped', flush=True)
        continue
      print(f'{module}: {len(mutants)} mutants, tests take {baseline:.0f} s', flush=True)
      target = os.path.join(scratch, module)
      with open(target) as f:
        original = f.read()
      try:
        for m in mutants:
          with open(target, 'w') as f:
            f.write(mutated_source(module, m.index))
          m.status, m.seconds = _run_tests(scratch, module, timeout=3 * baseline + 60)
          _report(module, m, args.json)
      finally:
        with open(target, 'w') as f:
          f.write(original)
      killed = sum(m.status != 'survived' for m in mutants)
      print(f'{module}: {killed}/{len(mutants)} killed', flush=True)
  finally:
    shutil.rmtree(scratch, ignore_errors=True)


if __name__ == '__main__':
  main()
