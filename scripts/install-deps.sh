#!/usr/bin/env bash
# Installs every Debian 12 package strata needs to build, test and benchmark.
# Idempotent; run as root (or through sudo).
set -euo pipefail
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
PKGS=(
  # build
  build-essential cmake ninja-build pkg-config clang libclang-rt-14-dev clang-format clang-tidy
  # libraries strata links
  libjemalloc-dev libjemalloc2 libnuma-dev libhwloc-dev libpmem2-dev libmemkind-dev
  libdw-dev
  # strata-report --format pprof: pprof's profile.proto, protobuf (lite runtime), zlib
  golang-github-google-pprof-dev protobuf-compiler libprotobuf-dev zlib1g-dev
  # tests and benchmarks
  catch2 libbenchmark-dev numactl python3 perl git sqlite3 binutils
  # go tool pprof reads strata's pprof output (tests/report/pprof.sh)
  golang-go
  # packaging: the .deb (CPack, dpkg-shlibdeps) and its man pages (tests/install)
  dpkg-dev file man-db
  # strata-report's HTML page is rendered and screenshotted in a test (tests/report)
  chromium
  # real programs the integration tests run under the preload
  nodejs openjdk-17-jdk-headless tcl zstd xz-utils util-linux
  # NUMA test VM (tests/vm, scripts/numa-vm)
  qemu-system-x86 linux-image-amd64 busybox-static ndctl daxctl e2fsprogs kmod
  # Redis under the judge (bench/judge/run-redis.sh)
  redis-server redis-tools
)
missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -eq 0 ]; then
  echo "install-deps: all ${#PKGS[@]} packages present"
  exit 0
fi
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
$SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
