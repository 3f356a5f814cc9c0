#!/usr/bin/env bash
# One short accelerator check for siren_jax on a GPU machine (run from the repository root):
#   1. install jax[cuda13] with the test and bench extras (PyTorch for the side-by-side),
#   2. run bench.fit_step: siren_jax's fit step beside PyTorch's on the same GPU, in float32 and
#      with bfloat16 matmuls (speed and the PSNR cost of bfloat16),
#   3. run the fast test suite on the accelerator (JAX_PLATFORMS=cuda; tests/conftest.py
#      otherwise pins the CPU), in parallel workers that share the GPU,
#   4. run the paper-scale image fit (Fig. 1) through experiments.reproduce and print its claims.
# Each stage has a time cap, so a short lease still returns the earlier stages' numbers.
# Environment: OUT (results folder, default /tmp/siren_accelerator), SKIP_INSTALL=1 (packages
# already there, e.g. on a machine without internet), PYTHON (default python), TEST_WORKERS
# (pytest-xdist workers, default 8), TEST_SECONDS / FIT_STEP_SECONDS / REPRODUCE_SECONDS (caps,
# default 200 / 150 / 200), PARTS (reproduction parts, default fit), REPRODUCE_ARGS (extra flags,
# e.g. --config.fit_variant=paper,steps=2000 for a shorter run).
set -uo pipefail
OUT="${OUT:-/tmp/siren_accelerator}"
PY="${PYTHON:-python}"
PARTS="${PARTS:-fit}"
mkdir -p "$OUT"

if [[ "${SKIP_INSTALL:-0}" != 1 ]]; then
  "$PY" -m pip install -q -e '.[test,bench]' -U 'jax[cuda13]' || exit 1
fi
"$PY" -c 'import jax, flax, optax, orbax.checkpoint as ocp, torch
print("jax", jax.__version__, "flax", flax.__version__, "optax", optax.__version__,
      "torch", torch.__version__); print("devices:", jax.devices())'
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true

echo '== bench.fit_step: siren_jax vs PyTorch, same GPU =='
timeout "${FIT_STEP_SECONDS:-150}" "$PY" -m bench.fit_step --size=256 --width=256 --steps=200 \
  --matmul_precisions=default,bfloat16 --results="$OUT/fit_step.md" 2>&1 | grep -v '^[IW]'
cat "$OUT/fit_step.md" 2>/dev/null

echo '== tests (not slow) on the accelerator =='
start=$(date +%s)
# SIGINT, not SIGTERM, at the cap: pytest then still prints its summary of what ran.
JAX_PLATFORMS=cuda XLA_PYTHON_CLIENT_PREALLOCATE=false \
  timeout -s INT -k 20 "${TEST_SECONDS:-200}" "$PY" -m pytest -q -m 'not slow' \
  -n "${TEST_WORKERS:-8}" -rfE --durations=10 --junitxml="$OUT/tests.xml" > "$OUT/tests.log" 2>&1
echo "tests: exit $? after $(( $(date +%s) - start )) s"
grep -E '^(FAILED|ERROR)|passed|failed' "$OUT/tests.log" | tail -40

echo "== paper scale: $PARTS =="
start=$(date +%s)
# shellcheck disable=SC2086  # REPRODUCE_ARGS is a list of flags.
timeout "${REPRODUCE_SECONDS:-200}" "$PY" -m experiments.reproduce \
  --config=experiments/configs/reproduce.py:paper --config.parts="$PARTS" \
  --workdir="$OUT/reproduce" ${REPRODUCE_ARGS:-} 2>&1 | grep -v '^[IW]'
echo "reproduce: $(( $(date +%s) - start )) s"
if [[ ! -f "$OUT/reproduce/REPORT.md" ]]; then  # Cut off at the cap: report what finished.
  "$PY" -m experiments.reproduce --config=experiments/configs/reproduce.py:paper \
    --config.parts="$PARTS" --config.report_only=True --workdir="$OUT/reproduce" 2>&1 | grep -v '^[IW]'
fi
sed -n '/^## Claims/,/^## Parts/p' "$OUT/reproduce/REPORT.md" 2>/dev/null
sed -n '/^## Image fitting/,/^!\[/p' "$OUT/reproduce/REPORT.md" 2>/dev/null
true
