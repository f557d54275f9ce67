#!/usr/bin/env bash
# run-exec-cost.sh: what each preload adds to every exec.
#
#   bench/run-exec-cost.sh [--build-dir DIR] [--rounds N] [--program PATH]
#
# Runs PATH (default /bin/true) N times (default 2000) under each configuration,
# alternating (none, Debian's libjemalloc, libstrata) so that load drift hits
# all alike, with strata-bench-exec (fork + execve + wait, timed), and prints
# the median, 10th and 90th percentile per configuration in ms, then the
# dynamic loader's own statistics (LD_DEBUG=statistics: relocations and
# startup time) of one run under each preload, and libstrata's NEEDED list.
# A configuration whose library is missing is left out, with the reason.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/.." && pwd)
build="$repo/build"
rounds=2000
prog=/bin/true
while (($#)); do
  case $1 in
    --build-dir) build=${2:?}; shift 2 ;;
    --rounds) rounds=${2:?}; shift 2 ;;
    --program) prog=${2:?}; shift 2 ;;
    -h|--help) sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "$0"; exit 0 ;;
    *) echo "run-exec-cost: unknown argument: $1" >&2; exit 2 ;;
  esac
done
bench="$build/bin/strata-bench-exec"
lib="$build/lib/libstrata.so"
je=/usr/lib/x86_64-linux-gnu/libjemalloc.so.2
for f in "$bench" "$lib"; do
  [[ -x $f || -f $f ]] || { echo "run-exec-cost: $f not found (build first)" >&2; exit 1; }
done
configs=(none=)
if [[ -f $je ]]; then
  configs+=("jemalloc=$je")
else
  echo "run-exec-cost: $je not installed (apt-get install libjemalloc2): jemalloc left out" >&2
fi
configs+=("strata=$lib")
echo "## $prog, $rounds rounds, alternating; $(nproc) CPUs, $(uname -r)"
"$bench" "$rounds" "$prog" "${configs[@]}"
echo
echo "## dynamic loader statistics, one run each (LD_DEBUG=statistics)"
for c in "${configs[@]:1}"; do
  echo "### ${c%%=*}"
  env LD_PRELOAD="${c#*=}" LD_DEBUG=statistics "$prog" 2>&1 |
    grep -E 'total startup time|time needed for relocation|number of relocations' |
    sed 's/^ *[0-9]*: *//'
done
echo
echo "## libstrata.so NEEDED"
readelf -d "$lib" | awk '/NEEDED/ {print $5}' | tr -d '[]'
