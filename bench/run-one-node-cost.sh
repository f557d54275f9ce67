#!/usr/bin/env bash
# What STRATA_MIGRATE=on costs where nothing can move (one NUMA node): runs a
# workload under strata-run with STRATA_MIGRATE=off and =on, alternating, and
# prints each run's wall time and the medians (docs/benchmarks.md).
#
#   bench/run-one-node-cost.sh [BUILD_DIR] [ROUNDS] [-- CMD...]
#   BEFORE_LIB=path/libstrata.so adds a third column: =on with that library.
# The default workload is the Node.js script of tests/integration/workloads/node.sh.
set -euo pipefail
build=${1:-build}
rounds=${2:-5}
shift $(($# >= 2 ? 2 : $#))
[ "${1:-}" = -- ] && shift
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
if [ $# -eq 0 ]; then
  command -v node >/dev/null || { echo "no node: give a command after --"; exit 1; }
  here=$(cd "$(dirname "$0")/.." && pwd)
  (cd "$work" && bash "$here/tests/integration/workloads/node.sh" >/dev/null)
  set -- node "$work/work.js"
fi
run=$build/bin/strata-run
nodes=$(ls -d /sys/devices/system/node/node[0-9]* | wc -l)
echo "# $(uname -r), $(nproc) CPUs, $nodes NUMA node(s); command: $*"
configs=(off on)
[ -n "${BEFORE_LIB:-}" ] && configs+=(on-before)
for cfg in "${configs[@]}"; do : >"$work/$cfg"; done
time_one() {  # CONFIG -> appends seconds
  local cfg=$1 lib=() mig=${1%-before}
  shift
  [ "$cfg" = on-before ] && lib=(--lib "$BEFORE_LIB")
  local t0 t1
  t0=$(date +%s.%N)
  STRATA_MIGRATE=$mig "$run" "${lib[@]}" -- "$@" >/dev/null 2>&1
  t1=$(date +%s.%N)
  echo "$t1 - $t0" | bc >>"$work/$cfg"
}
for ((i = 0; i < rounds; i++)); do
  for cfg in "${configs[@]}"; do
    time_one "$cfg" "$@"
  done
done
for cfg in "${configs[@]}"; do
  printf "%-10s median %.3f s  runs:" "$cfg" "$(sort -g "$work/$cfg" | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}')"
  tr '\n' ' ' <"$work/$cfg" | awk '{for (i = 1; i <= NF; i++) printf " %.2f", $i; print ""}'
done
