#!/usr/bin/env bash
# Run an evalkit config on every worker of a Cloud TPU VM pod slice.
#
#   tpu_scripts/run_pod.sh TPU_NAME ZONE configs/x.py [--config.key=value ...]
#
# Every worker installs the same checkout and runs the same command; jax.distributed.initialize()
# auto-detects the pod (no coordinator address needed), each process feeds its slice of every batch,
# and only process 0 writes results. output_dir and data_dir must be on storage every worker sees
# (NFS or a GCS fuse mount; pass --config.output_dir=... --config.data_dir=...): probe checkpoints are
# written by all workers together, and reuse / resume after preemption is decided from that folder.
set -euo pipefail
if [ $# -lt 3 ]; then
  echo "usage: $0 TPU_NAME ZONE CONFIG [--config.key=value ...]" >&2
  exit 2
fi
tpu=$1; zone=$2; shift 2
repo_dir=${EVALKIT_REPO_DIR:-evalkit}
repo_dir=${repo_dir/#\~/\$HOME}  # a leading ~ becomes the worker's $HOME (expanded there, in quotes)
args=$(printf '%q ' "$@")
gcloud compute tpus tpu-vm ssh "$tpu" --zone "$zone" --worker=all --command "
  set -e
  cd \"$repo_dir\"
  [ -f .venv/bin/activate ] || python3 -m venv .venv || { echo 'python3 -m venv failed: install python3-venv' >&2; exit 2; }
  . .venv/bin/activate
  pip install -q -e . \$(for d in plugins/*/; do printf -- '-e %s ' \"\$d\"; done) 'jax[tpu]'
  evalkit run $args --config.runtime.distributed.enabled=true
"
