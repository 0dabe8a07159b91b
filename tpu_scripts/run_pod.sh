#!/usr/bin/env bash
# Run an evalkit config on every worker of a Cloud TPU VM pod slice.
#
#   tpu_scripts/run_pod.sh TPU_NAME ZONE configs/x.py [--config.key=value ...]
#
# Every worker installs the same checkout and runs the same command; jax.distributed.initialize()
# auto-detects the pod (no coordinator address needed), each process feeds its slice of every batch,
# and only process 0 writes results. Put output_dir on storage every worker can reach (e.g. a GCS
# fuse mount) if you want resume after preemption; the run directory is keyed by config hash.
set -euo pipefail
if [ $# -lt 3 ]; then
  echo "usage: $0 TPU_NAME ZONE CONFIG [--config.key=value ...]" >&2
  exit 2
fi
tpu=$1; zone=$2; shift 2
repo_dir=${EVALKIT_REPO_DIR:-evalkit}
args=$(printf '%q ' "$@")
gcloud compute tpus tpu-vm ssh "$tpu" --zone "$zone" --worker=all --command "
  set -e
  cd $repo_dir
  python3 -m venv .venv >/dev/null 2>&1 || true
  . .venv/bin/activate
  pip install -q -e . \$(for d in plugins/*/; do printf -- '-e %s ' \"\$d\"; done) 'jax[tpu]'
  evalkit run $args --config.runtime.distributed.enabled=true
"
