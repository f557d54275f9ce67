#!/usr/bin/env bash
# Installs everything strata needs, builds it, and runs every test: unit tests,
# integration tests of real programs under the preload, and the multi-node
# tests inside the NUMA test VM. Exit status 0 only if all pass.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
bash scripts/build.sh
build=${BUILD_DIR:-build}
start=$(date +%s)
status=0
# One run: the vm tests are RUN_SERIAL (they get the machine to themselves),
# everything else runs two at a time.
ctest --test-dir "$build" --output-on-failure -j2 || status=$?
echo "run-tests: finished in $(( $(date +%s) - start )) s, status $status"
exit "$status"
