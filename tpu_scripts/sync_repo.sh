#!/usr/bin/env bash
# Copy this checkout to every worker of a TPU VM pod slice (run before run_pod.sh). The copy replaces
# the previous one (files deleted here disappear there too); the workers' .venv is kept.
#
#   tpu_scripts/sync_repo.sh TPU_NAME ZONE
set -euo pipefail
if [ $# -ne 2 ]; then
  echo "usage: $0 TPU_NAME ZONE" >&2
  exit 2
fi
tpu=$1; zone=$2
repo_dir=$(printf '%q' "${EVALKIT_REPO_DIR:-evalkit}")
root=$(git rev-parse --show-toplevel)
tar -C "$root" --exclude=.git --exclude=runs --exclude=.venv --exclude=.pytest_cache --exclude=.ruff_cache -czf /tmp/evalkit-src.tgz .
gcloud compute tpus tpu-vm scp /tmp/evalkit-src.tgz "$tpu":/tmp/ --zone "$zone" --worker=all
gcloud compute tpus tpu-vm ssh "$tpu" --zone "$zone" --worker=all \
  --command "rm -rf $repo_dir.new && mkdir -p $repo_dir.new && tar -C $repo_dir.new -xzf /tmp/evalkit-src.tgz \
    && { [ ! -d $repo_dir/.venv ] || mv $repo_dir/.venv $repo_dir.new/; } && rm -rf $repo_dir && mv $repo_dir.new $repo_dir"
