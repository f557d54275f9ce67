#!/usr/bin/env bash
# run-profile-overhead.sh: the profiler's cost on real programs.
#
#   bench/run-profile-overhead.sh [--build-dir DIR] [--rounds N]
#
# Runs each workload under libstrata without and with STRATA_PROFILE (the
# default sampling rate), alternating, N rounds (default 5), and prints a
# markdown table: median wall and CPU time (user + system, every thread, so the
# profiler's own thread counts) of each, and profiled/unprofiled throughput.
# Workloads (each skipped, with the reason, when its program is missing):
#   python3  a dict/list/str churn (3M appends into 5000 lists, joins, sorts)
#   g++      compiling src/engine/engine.cc at -O2
#   sqlite3  200k rows inserted into an indexed in-memory table, then queried
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/.." && pwd)
build="$repo/build"
rounds=5
while (($#)); do
  case $1 in
    --build-dir) build=${2:?}; shift 2 ;;
    --rounds) rounds=${2:?}; shift 2 ;;
    -h|--help) sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "$0"; exit 0 ;;
    *) echo "run-profile-overhead: unknown argument: $1" >&2; exit 2 ;;
  esac
done
lib="$build/lib/libstrata.so"
[[ -f $lib ]] || { echo "run-profile-overhead: $lib not found (build first)" >&2; exit 1; }
work=$(mktemp -d /tmp/strata-profoh.XXXXXX)
trap 'rm -rf "$work"' EXIT
cat >"$work/churn.py" <<'PY'
d = {}
for i in range(3_000_000):
    d.setdefault(i % 5000, []).append(str(i))
s = sum(len("".join(v)) for v in d.values())
print(s, sorted(d[7])[:2])
PY
{
  echo "CREATE TABLE t(a INTEGER PRIMARY KEY, b TEXT, c REAL);"
  echo "CREATE INDEX tb ON t(b);"
  echo "BEGIN;"
  for i in $(seq 1 200000); do echo "INSERT INTO t(b,c) VALUES('v$((i * 7919 % 100003))',$i.5);"; done
  echo "COMMIT;"
  echo "SELECT count(*), sum(c) FROM t WHERE b LIKE 'v1%';"
} >"$work/load.sql"

# The real interpreter, not a version manager's shim (which would run, and be
# profiled, as extra processes).
py=$(python3 -c 'import sys; print(sys.executable)' 2>/dev/null || true)
declare -A cmd
cmd[python3]="$py $work/churn.py"
cmd[g++]="g++ -std=c++20 -O2 -I$repo -I$repo/include -c $repo/src/engine/engine.cc -o $work/engine.o"
cmd[sqlite3]="sqlite3 :memory: < $work/load.sql"

measure() {  # measure PROFILE? CMD -> "wall cpu" seconds (cpu: user + system, all threads)
  # The shell starts without strata and execs the workload with it.
  local t pre="export LD_PRELOAD='$lib';"
  [[ $1 == 1 ]] && pre+=" export STRATA_PROFILE='$work/p.prof';"
  t=$( { TIMEFORMAT='%R %U %S'
         time env -u STRATA_POLICY -u STRATA_TIERS -u STRATA_SAMPLER -u STRATA_PROFILE \
           -u LD_PRELOAD bash -c "$pre exec ${2}" >/dev/null 2>&1; } 2>&1 )
  awk '{printf "%s %.3f\n", $1, $2 + $3}' <<<"$t"
}
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }

echo "| workload | strata, wall (s) | profiling, wall (s) | profiling/strata, wall | strata, CPU (s) | profiling, CPU (s) | profiling/strata, CPU |"
echo "|---|---:|---:|---:|---:|---:|---:|"
for w in python3 g++ sqlite3; do
  if ! command -v "$w" >/dev/null; then
    echo "| $w | skipped: $w not installed | | | | | |"
    continue
  fi
  aw=() ac=() bw=() bc_=()
  for _ in $(seq "$rounds"); do
    read -r x y < <(measure 0 "${cmd[$w]}"); aw+=("$x"); ac+=("$y")
    read -r x y < <(measure 1 "${cmd[$w]}"); bw+=("$x"); bc_+=("$y")
    echo "run-profile-overhead: $w: ${aw[-1]} s (${ac[-1]} s CPU) / profiling ${bw[-1]} s (${bc_[-1]} s CPU)" >&2
  done
  maw=$(median "${aw[@]}") mbw=$(median "${bw[@]}") mac=$(median "${ac[@]}") mbc=$(median "${bc_[@]}")
  printf '| %s | %.3f | %.3f | %.3f | %.3f | %.3f | %.3f |\n' "$w" "$maw" "$mbw" \
    "$(echo "$maw / $mbw" | bc -l)" "$mac" "$mbc" "$(echo "$mac / $mbc" | bc -l)"
done
