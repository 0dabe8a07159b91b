#!/usr/bin/env bash
# Copy this checkout to every worker of a TPU VM pod slice (run before run_pod.sh). It is unpacked over
# the previous copy, so the workers' runs/ and .venv stay (and files deleted here stay there too).
#
#   tpu_scripts/sync_repo.sh TPU_NAME ZONE
set -euo pipefail
if [ $# -ne 2 ]; then
  echo "usage: $0 TPU_NAME ZONE" >&2
  exit 2
fi
tpu=$1; zone=$2
repo_dir=${EVALKIT_REPO_DIR:-evalkit}
repo_dir=${repo_dir/#\~/\$HOME}  # a leading ~ becomes the worker's $HOME (expanded there, in quotes)
root=$(git rev-parse --show-toplevel)
tar -C "$root" --exclude=.git --exclude=runs --exclude=.venv --exclude=.pytest_cache --exclude=.ruff_cache -czf /tmp/evalkit-src.tgz .
gcloud compute tpus tpu-vm scp /tmp/evalkit-src.tgz "$tpu":/tmp/ --zone "$zone" --worker=all
gcloud compute tpus tpu-vm ssh "$tpu" --zone "$zone" --worker=all \
  --command "mkdir -p \"$repo_dir\" && tar -C \"$repo_dir\" -xzf /tmp/evalkit-src.tgz"
