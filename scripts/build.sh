#!/usr/bin/env bash
# Configures and builds strata into ./build (or $BUILD_DIR).
set -euo pipefail
cd "$(dirname "$0")/.."
build=${BUILD_DIR:-build}
# STRATA_CMAKE_ARGS: extra configure options, e.g. "-DSTRATA_WERROR=ON" (CI) or
# "-DSTRATA_DEBUG=ON -DSTRATA_SANITIZE=undefined" (docs/testing.md);
# STRATA_BUILD_TARGETS: build only these targets.
# shellcheck disable=SC2086  # both are word lists
cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE="${STRATA_BUILD_TYPE:-RelWithDebInfo}" \
  ${STRATA_CMAKE_ARGS:-} >/dev/null
cmake --build "$build" -j"$(nproc)" ${STRATA_BUILD_TARGETS:+--target $STRATA_BUILD_TARGETS}
