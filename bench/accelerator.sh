#!/usr/bin/env bash
# One short accelerator check for siren_jax on a GPU machine (run from the repository root):
#   1. install jax[cuda13] with the test and bench extras (PyTorch for the side-by-side),
#   2. run the fast test suite,
#   3. run the paper-scale image fit (Fig. 1) and gradient/Laplacian reconstruction
#      (Table 1) through experiments.reproduce, and print their claims table,
#   4. run bench.fit_step: siren_jax's fit step beside PyTorch's on the same GPU.
# Environment: OUT (results folder, default /tmp/siren_accelerator), SKIP_INSTALL=1 (packages
# already there, e.g. on a machine without internet), PARTS (default fit,reconstruct),
# REPRODUCE_ARGS (extra flags, e.g. --config.fit_variant=paper,steps=2000 for a shorter run).
set -euo pipefail
OUT="${OUT:-/tmp/siren_accelerator}"
PARTS="${PARTS:-fit,reconstruct}"
mkdir -p "$OUT"

if [[ "${SKIP_INSTALL:-0}" != 1 ]]; then
  python -m pip install -q -e '.[test,bench]' -U 'jax[cuda13]'
fi
python -c 'import jax; print("devices:", jax.devices())'
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true

echo '== tests (not slow) =='
python -m pytest -q -x -m 'not slow' 2>&1 | tail -3

echo "== paper scale: $PARTS =="
start=$(date +%s)
# shellcheck disable=SC2086  # REPRODUCE_ARGS is a list of flags.
python -m experiments.reproduce --config=experiments/configs/reproduce.py:paper \
  --config.parts="$PARTS" --workdir="$OUT/reproduce" ${REPRODUCE_ARGS:-} 2>&1 | grep -v '^I' || true
echo "reproduce: $(( $(date +%s) - start )) s"
sed -n '/^## Claims/,/^## Parts/p' "$OUT/reproduce/REPORT.md"
sed -n '/^## Image fitting/,/^!\[/p;/^## Reconstruction/,/^!\[/p' "$OUT/reproduce/REPORT.md"

echo '== bench.fit_step: siren_jax vs PyTorch, same GPU =='
python -m bench.fit_step --size=256 --width=256 --steps=200 --matmul_precisions=default,bfloat16 \
  --results="$OUT/fit_step.md" 2>&1 | grep -v '^I' || true
cat "$OUT/fit_step.md" 2>/dev/null || true
