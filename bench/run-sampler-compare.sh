#!/usr/bin/env bash
# The abit and damon samplers side by side on vm.migrate's hot-set scenario
# (tests/vm/migrate.sh, section hotset), in the NUMA test VM on kernel 6.12:
#
#   bench/run-sampler-compare.sh [BUILD_DIR] [OUT_DIR]      # from the host
#
# Per sampler and run: engine intervals completed, the first driver interval
# at which fast_hit reached 0.9 of the oracle in each phase (and its time from
# the phase start), bytes promoted, the engine's CPU (engine_cpu_ms) and, for
# damon, the kdamond's CPU (utime + stime of the kernel thread, read while it
# runs). REPS runs each (default 2), alternating. Writes OUT_DIR/<sampler>-<n>.csv
# (the driver's per-interval CSV) and prints the summary (OUT_DIR/summary.txt).
set -euo pipefail
build=$(realpath "${1:-build}")
out=$(realpath -m "${2:-$build/sampler-compare}")
here=$(cd "$(dirname "$0")" && pwd)
if [ "${NUMA_VM:-}" != 1 ]; then
  mkdir -p "$out"
  # The guest does not inherit the environment: REPS and SAMPLERS go along.
  NUMA_VM_CPUS=${NUMA_VM_CPUS:-1} exec "$here/../scripts/numa-vm" --build-dir "$build" \
    --rw "$out" --timeout 1200 -- env REPS="${REPS:-}" SAMPLERS="${SAMPLERS:-}" \
    bash "$here/run-sampler-compare.sh" "$build" "$out"
fi

REPS=${REPS:-2}
# STRATA_SAMPLER values, space-separated.
SAMPLERS=${SAMPLERS:-"abit,cpu=10%,window=5ms damon,cpu=10%"}
INTERVALS=32 PHASE=16 INTERVAL_MS=200
hz=$(getconf CLK_TCK)

# kdamond CPU in ms: the last value seen of kdamonds/0's thread, polled until
# the file says there is none.
watch_kdamond() {  # watch_kdamond OUTFILE
  local kpid ms=0
  echo 0 >"$1"
  for _ in $(seq 1200); do
    kpid=$(cat /sys/kernel/mm/damon/admin/kdamonds/0/pid 2>/dev/null || echo -1)
    if [ "$kpid" -gt 0 ] 2>/dev/null && [ -r "/proc/$kpid/stat" ]; then
      ms=$(awk -v hz="$hz" '{sub(/.*\) /, ""); print ($12 + $13) * 1000 / hz}' "/proc/$kpid/stat" \
        2>/dev/null || echo "$ms")
      echo "$ms" >"$1"
    fi
    sleep 0.25
  done
}

summary=()
for rep in $(seq "$REPS"); do
  for sampler in $SAMPLERS; do
    name=$(echo "$sampler" | tr ',=%' '_-p')
    csv="$out/$name-$rep.csv" err="$out/$name-$rep.err" kd="$out/$name-$rep.kdamond"
    watch_kdamond "$kd" &
    watcher=$!
    env STRATA_TIERS='dram:nodes=0,cap=24M;pmem:nodes=2' STRATA_POLICY='size>=1M -> pmem' \
      STRATA_MIGRATE='interval=300ms,alpha=0.3' STRATA_SAMPLER="$sampler" STRATA_STATS=1 \
      "$build/bin/strata-run" -- "$build/bin/strata-bench-hotset" --alloc=block \
      --footprint=96M --hot=16M --hot-offset=16M --intervals=$INTERVALS --phase-at=$PHASE \
      --interval-ms=$INTERVAL_MS --fast-node=0 --fast-bytes=24M --csv >"$csv" 2>"$err" || true
    sleep 0.5
    kill "$watcher" 2>/dev/null || true
    wait "$watcher" 2>/dev/null || true
    promoted=$(sed -n 's/^migration: .*promoted \([^ ]*\) in \([0-9]*\) moves.*/\1 (\2 moves)/p' "$err")
    chosen=$(grep -m1 -o '^migration: sampler [a-z]*' "$err" | awk '{print $3}')
    line=$(awk -F, -v phase=$PHASE -v ims=$INTERVAL_MS -v kd="$(cat "$kd")" -v s="$sampler" \
      -v chosen="${chosen:-none}" -v prom="${promoted:-none}" '
      NR == 1 { for (i = 1; i <= NF; i++) col[$i] = i; next }
      {
        k = $1; p = $2
        if (!(p in first) && $col["fast_hit"] >= 0.9 * $col["oracle_hit"])
          first[p] = k - (p ? phase : 0)
        last = k; eng = $col["engine_cpu_ms"]; iv = $col["engine_intervals"]
        hit = $col["fast_hit"]; orc = $col["oracle_hit"]
      }
      END {
        t0 = (0 in first) ? sprintf("%d (%.1f s)", first[0], (first[0] + 1) * ims / 1000) : "never"
        t1 = (1 in first) ? sprintf("%d (%.1f s)", first[1], (first[1] + 1) * ims / 1000) : "never"
        printf "%-28s %-6s %9d %-14s %-14s %-22s %10.0f %11.0f %5.3f/%5.3f\n", s, chosen, iv, t0,
          t1, prom, eng, kd, hit, orc
      }' "$csv")
    echo "$line"
    summary+=("$line")
  done
done
{
  echo "# $(uname -r), $(nproc) vCPU; hot-set driver 96 MiB / 16 MiB hot, $INTERVALS x $INTERVAL_MS ms, phase at $PHASE"
  printf "%-28s %-6s %9s %-14s %-14s %-22s %10s %11s %s\n" sampler chosen intervals \
    "0.9@phase0" "0.9@phase1" promoted engine_ms kdamond_ms "last hit/oracle"
  printf '%s\n' "${summary[@]}"
} | tee "$out/summary.txt"
