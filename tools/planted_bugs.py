"""Plants each realistic bug that once passed every relevant test (docs/testing.md) in a scratch
copy of the repository and runs the tests written to catch it; every line must say KILLED. Not
part of CI.

  nice -n 10 python tools/planted_bugs.py        # all of them (a few minutes)
  python tools/planted_bugs.py 4 5               # only bugs #4 and #5
"""

import os
import shlex
import shutil
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# (file, original text, planted bug, pytest arguments: the tests that must fail).
BUGS = [
 ('siren_jax/layers.py', "return nn.Dense(self.out_features, kernel_init=siren_hidden_init(self.hidden_omega0),\n                    bias_init", "return nn.Dense(self.out_features,\n                    bias_init", 'tests/layers_test.py -k "not preactivations"'),
 ('siren_jax/layers.py', "bias = self.param('bias', _bias_init(fan_in, self.zero_bias)", "bias = self.param('bias', _bias_init(self.features, self.zero_bias)", 'tests/layers_test.py -k "not preactivations"'),
 ('siren_jax/layers.py', "if not self.outermost_linear:", "if False:", 'tests/layers_test.py -k "not preactivations"'),
 ('siren_jax/baselines.py', "jnp.stack([jnp.sin(angles), jnp.cos(angles)]", "jnp.stack([jnp.sin(angles), jnp.sin(angles)]", 'tests/baselines_test.py'),
 ('siren_jax/colorize/colour.py', "AB_SCALE = 128.0", "AB_SCALE = 127.0", 'tests/colorize_colour_test.py'),
 ('siren_jax/data/photos.py', "default_rng([self.seed, epoch])", "default_rng([self.seed, int(step)])", 'tests/data_photos_test.py'),
 ('siren_jax/data/photos.py', "return crop[:, ::-1] if flip else crop", "return crop[::-1] if flip else crop", 'tests/data_photos_test.py'),
 ('siren_jax/finite_differences.py', "axis=0, mode=mode) / h_y**2 +", "axis=0, mode=mode) / h_x**2 +", 'tests/finite_differences_test.py'),
 ('siren_jax/finite_differences.py', "axis=1, mode=mode) / h_x**2)", "axis=1, mode=mode) / h_y**2)", 'tests/finite_differences_test.py'),
 ('siren_jax/render.py', "rows = max(1, min(height, max_chunk_points // cols))", "rows = max(1, min(height, -(-max_chunk_points // cols)))", 'tests/render_test.py tests/properties_test.py'),
 ('siren_jax/poisson/solvers.py', "where = np.ones(field.shape[:2], bool) if mask is None else check_mask(mask, field.shape)", "where = np.ones(field.shape[:2], bool)", 'tests/poisson_solvers_test.py'),
 ('siren_jax/metrics.py', "data_range=2.0, channel_axis=-1", "data_range=1.0, channel_axis=-1", 'tests/metrics_test.py'),
 ('experiments/colorize/compare.py', "(reference_epochs[k] / reached[k]", "(reached[k] / reference_epochs[k]", 'tests/colorize_compare_test.py'),
]


def main() -> None:
  only = sys.argv[1:]
  scratch = tempfile.mkdtemp(prefix='siren_jax_planted_')
  for name in ('siren_jax', 'experiments', 'tests', 'pytest.ini'):
    source = os.path.join(ROOT, name)
    (shutil.copytree if os.path.isdir(source) else shutil.copy)(source, os.path.join(scratch, name))
  survived = 0
  try:
    for i, (path, old, new, tests) in enumerate(BUGS):
      if only and str(i) not in only:
        continue
      full = os.path.join(scratch, path)
      with open(full) as f:
        original = f.read()
      if original.count(old) != 1:
        sys.exit(f'error: bug #{i}: the original text is no longer in {path}; update BUGS')
      with open(full, 'w') as f:
        f.write(original.replace(old, new))
      try:
        result = subprocess.run([sys.executable, '-m', 'pytest', '-q', '-x', '-n', '0',
                                 *shlex.split(tests)], cwd=scratch, capture_output=True, text=True,
                                env={**os.environ, 'PYTHONPATH': scratch, 'JAX_PLATFORMS': 'cpu'})
      finally:
        with open(full, 'w') as f:
          f.write(original)
      killed = result.returncode != 0
      survived += not killed
      print(f'{i:2d} {"KILLED" if killed else "SURVIVED"} {path}: {new.splitlines()[0][:70]!r}',
            flush=True)
  finally:
    shutil.rmtree(scratch, ignore_errors=True)
  sys.exit(1 if survived else 0)


if __name__ == '__main__':
  main()
