#!/usr/bin/env bash
# Cloud TPU VM life cycle for siren_jax: create, install, run on every worker, fetch, delete.
# See launch/README.md for a full run.
set -euo pipefail

usage() {
  cat <<'EOF'
usage: launch/tpu_vm.sh [options] COMMAND [ARGS...]

Commands:
  create             Create the TPU VM (one host, e.g. v4-8, or a pod slice, e.g. v4-32).
  install            Copy this checkout (git HEAD, as a tarball) to every worker and
                     pip install it there with its [gcs] extra (gs:// workdirs) and
                     jax[tpu].
  run -- CMD...      Run CMD in the project directory on all workers at once, with the
                     same flags, e.g.  run -- python3 -m experiments.fit_image --distributed
                     --config=experiments/configs/fit_image.py:paper --workdir=gs://B/fit
  fetch SRC DEST     Copy results back: SRC gs://... with gcloud storage, otherwise SRC is a
                     path on worker 0 (relative to its home directory), copied with scp.
  delete             Delete the TPU VM.

Options (each also settable by the environment variable in brackets):
  --name NAME               TPU VM name [TPU_NAME] (default: siren-jax)
  --project PROJECT         Google Cloud project [TPU_PROJECT] (default: gcloud's own)
  --zone ZONE               zone [TPU_ZONE] (default: us-central2-b)
  --accelerator-type TYPE   e.g. v4-8, v4-32, v5p-8 [TPU_ACCELERATOR_TYPE] (default: v4-8)
  --runtime-version V       TPU software version [TPU_RUNTIME_VERSION]
                            (default: tpu-ubuntu2204-base)
  --spot                    create a Spot VM [TPU_SPOT=1]
  --dry-run                 print every command instead of running it [DRY_RUN=1]
  -h, --help                show this help
EOF
}

die() {
  echo "error: $*" >&2
  echo "run 'launch/tpu_vm.sh --help' for usage" >&2
  exit 2
}

NAME="${TPU_NAME:-siren-jax}"
PROJECT="${TPU_PROJECT:-}"
ZONE="${TPU_ZONE:-us-central2-b}"
ACCELERATOR_TYPE="${TPU_ACCELERATOR_TYPE:-v4-8}"
RUNTIME_VERSION="${TPU_RUNTIME_VERSION:-tpu-ubuntu2204-base}"
SPOT="${TPU_SPOT:-0}"
DRY_RUN="${DRY_RUN:-0}"
REMOTE_DIR='siren_jax'  # On each worker, relative to the home directory.
REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

# Options come before the command; "--" ends them for `run`.
while [[ $# -gt 0 ]]; do
  case "$1" in
    --name) [[ $# -ge 2 ]] || die "--name needs a value"; NAME="$2"; shift 2 ;;
    --project) [[ $# -ge 2 ]] || die "--project needs a value"; PROJECT="$2"; shift 2 ;;
    --zone) [[ $# -ge 2 ]] || die "--zone needs a value"; ZONE="$2"; shift 2 ;;
    --accelerator-type)
      [[ $# -ge 2 ]] || die "--accelerator-type needs a value"; ACCELERATOR_TYPE="$2"; shift 2 ;;
    --runtime-version)
      [[ $# -ge 2 ]] || die "--runtime-version needs a value"; RUNTIME_VERSION="$2"; shift 2 ;;
    --spot) SPOT=1; shift ;;
    --dry-run) DRY_RUN=1; shift ;;
    -h|--help) usage; exit 0 ;;
    -*) die "unknown option $1" ;;
    *) break ;;
  esac
done
[[ $# -ge 1 ]] || { usage >&2; exit 2; }
COMMAND="$1"
shift

# Runs its arguments, or prints them shell-quoted (one command per line) with --dry-run.
run() {
  if [[ "$DRY_RUN" == 1 ]]; then
    printf '%q' "$1"
    shift
    printf ' %q' "$@"
    printf '\n'
  else
    "$@"
  fi
}

LOCATION=(--zone="$ZONE")
if [[ -n "$PROJECT" ]]; then
  LOCATION+=(--project="$PROJECT")
fi

# Runs a shell command line on every worker of the VM at the same time.
on_all_workers() {
  run gcloud compute tpus tpu-vm ssh "$NAME" "${LOCATION[@]}" --worker=all --command="$1"
}

case "$COMMAND" in
  create)
    [[ $# -eq 0 ]] || die "create takes no arguments"
    extra=()
    if [[ "$SPOT" == 1 ]]; then
      extra+=(--spot)
    fi
    run gcloud compute tpus tpu-vm create "$NAME" "${LOCATION[@]}" \
      --accelerator-type="$ACCELERATOR_TYPE" --version="$RUNTIME_VERSION" "${extra[@]}"
    ;;
  install)
    [[ $# -eq 0 ]] || die "install takes no arguments"
    tarball="${TMPDIR:-/tmp}/siren_jax_${NAME}.tar.gz"
    run git -C "$REPO_ROOT" archive --format=tar.gz --output="$tarball" HEAD
    run gcloud compute tpus tpu-vm scp "$tarball" "$NAME:siren_jax.tar.gz" "${LOCATION[@]}" \
      --worker=all
    on_all_workers "rm -rf ~/$REMOTE_DIR && mkdir -p ~/$REMOTE_DIR \
&& tar -xzf ~/siren_jax.tar.gz -C ~/$REMOTE_DIR \
&& python3 -m pip install -q -e ~/$REMOTE_DIR'[gcs]' 'jax[tpu]'"
    ;;
  run)
    if [[ $# -gt 0 && "$1" == "--" ]]; then
      shift
    fi
    [[ $# -ge 1 ]] || die "run needs a command, e.g. run -- python3 -m experiments.fit_image ..."
    # Quote each argument so the remote shell sees exactly the same words on every worker.
    remote="cd ~/$REMOTE_DIR &&"
    for arg in "$@"; do
      remote+=" $(printf '%q' "$arg")"
    done
    on_all_workers "$remote"
    ;;
  fetch)
    [[ $# -eq 2 ]] || die "fetch needs SRC and DEST"
    if [[ "$1" == gs://* ]]; then
      run gcloud storage cp --recursive "$1" "$2"
    else
      run gcloud compute tpus tpu-vm scp --recurse "$NAME:$1" "$2" "${LOCATION[@]}" --worker=0
    fi
    ;;
  delete)
    [[ $# -eq 0 ]] || die "delete takes no arguments"
    run gcloud compute tpus tpu-vm delete "$NAME" "${LOCATION[@]}" --quiet
    ;;
  *)
    die "unknown command $COMMAND (create, install, run, fetch, delete)"
    ;;
esac
