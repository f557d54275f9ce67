#!/usr/bin/env bash
# Installs everything strata needs, builds it, and runs every test: unit tests,
# integration tests of real programs under the preload, and the multi-node
# tests inside the NUMA test VM. Exit status 0 only if all pass.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
# The main build treats warnings as errors.
STRATA_CMAKE_ARGS="-DSTRATA_WERROR=ON ${STRATA_CMAKE_ARGS:-}" bash scripts/build.sh
build=${BUILD_DIR:-build}
start=$(date +%s)
status=0
# One run: the vm tests are RUN_SERIAL (they get the machine to themselves),
# everything else runs two at a time. The fuzzers (label fuzz) run 30 s each.
ctest --test-dir "$build" --output-on-failure -j2 || status=$?
# The unit tests again under ASan + UBSan with the invariant checks on (only
# the unit-test target is built there: docs/testing.md says what runs where).
san="$build-asan"
if BUILD_DIR="$san" STRATA_BUILD_TARGETS=strata-unit-tests \
   STRATA_CMAKE_ARGS="-DSTRATA_SANITIZE=address,undefined -DSTRATA_DEBUG=ON -DSTRATA_BUILD_BENCH=OFF" \
   bash scripts/build.sh; then
  ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
    "$san/bin/strata-unit-tests" || { echo "run-tests: unit tests under ASan + UBSan failed"; status=1; }
else
  echo "run-tests: the sanitizer build failed"
  status=1
fi
# The library itself under UBSan with the invariant checks on, below every
# integration test (real programs under the preload). UBSan does not replace
# malloc, so it can sit under the preload; ASan and TSan cannot (docs/testing.md).
# A UBSan report aborts the program (-fno-sanitize-recover=all) and fails the test.
ub="$build-ubsan"
if BUILD_DIR="$ub" \
   STRATA_CMAKE_ARGS="-DSTRATA_SANITIZE=undefined -DSTRATA_DEBUG=ON -DSTRATA_BUILD_BENCH=OFF" \
   bash scripts/build.sh; then
  UBSAN_OPTIONS=print_stacktrace=1 ctest --test-dir "$ub" -L integration --output-on-failure -j2 ||
    { echo "run-tests: integration tests under UBSan (build-ubsan) failed"; status=1; }
else
  echo "run-tests: the UBSan build failed"
  status=1
fi
echo "run-tests: finished in $(( $(date +%s) - start )) s, status $status"
exit "$status"
