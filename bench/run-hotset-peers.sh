#!/usr/bin/env bash
# The hot-set driver side by side with its peers, in the NUMA test VM:
#   first touch (no strata), numactl --interleave, the kernel's tiering
#   (numa_balancing=2 with demotion), and strata's migration engine.
# Every run sees the same small fast tier: node 0 is filled down to FAST_FREE
# bytes, node 1 (same-tier DRAM) is filled completely, node 2 (KMEM-DAX PMEM, a
# lower kernel memory tier) is the slow tier.
#
#   bench/run-hotset-peers.sh [BUILD_DIR] [OUT_DIR]      # from the host
#
# Writes OUT_DIR/<peer>.csv (the driver's per-interval CSV) and prints a summary
# (OUT_DIR/summary.txt). Takes about 4 minutes under TCG.
set -euo pipefail
build=$(realpath "${1:-build}")
out=$(realpath -m "${2:-$build/hotset-peers}")
here=$(cd "$(dirname "$0")" && pwd)
if [ "${NUMA_VM:-}" != 1 ]; then
  mkdir -p "$out"
  # One vCPU: TCG turns every TLB-shootdown IPI of a page migration into a
  # long stall of the other vCPU, which would measure the emulator, not the
  # policies. The engine thread and the workload then share that CPU, so the
  # engine's CPU time is paid by the workload and shows in its numbers.
  NUMA_VM_CPUS=${NUMA_VM_CPUS:-1} exec "$here/../scripts/numa-vm" --build-dir "$build" \
    --rw "$out" --timeout 1200 -- bash "$here/run-hotset-peers.sh" "$build" "$out"
fi

FOOTPRINT=${FOOTPRINT:-384M} HOT=${HOT:-64M} HOT_OFFSET=${HOT_OFFSET:-128M}
FAST=${FAST:-128M} FAST_FREE=${FAST_FREE:-176M}
INTERVALS=${INTERVALS:-30} PHASE=${PHASE:-15} INTERVAL_MS=${INTERVAL_MS:-500}
driver=("$build/bin/strata-bench-hotset" --footprint="$FOOTPRINT" --hot="$HOT"
  --hot-offset="$HOT_OFFSET" --intervals="$INTERVALS" --phase-at="$PHASE"
  --interval-ms="$INTERVAL_MS" --fast-node=0 --fast-bytes="$FAST" --csv)

fills=()
cleanup() { for p in "${fills[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT
fill() {  # fill NODE LEAVE
  "$build/bin/strata-bench-fill" "$1" "$2" > "$out/fill-$1.txt" &
  fills+=($!)
  for _ in $(seq 600); do grep -q held "$out/fill-$1.txt" 2>/dev/null && break; sleep 0.1; done
  cat "$out/fill-$1.txt"
}
fill 1 48M  # all but 48 MiB: filling it completely gets the filler OOM-killed (MPOL_BIND)
fill 0 "$FAST_FREE"

run() {  # run NAME COMMAND...
  local name=$1
  shift
  echo "== $name: $*"
  "$@" "${driver[@]}" > "$out/$name.csv" 2> "$out/$name.err" || {
    echo "$name failed:"
    cat "$out/$name.err"
    return 1
  }
}
run first-touch env
run interleave numactl --interleave=0,2
nb=$(cat /proc/sys/kernel/numa_balancing)
dem=$(cat /sys/kernel/mm/numa/demotion_enabled)
echo 2 > /proc/sys/kernel/numa_balancing
echo true > /sys/kernel/mm/numa/demotion_enabled
run kernel-tiering env
echo "$nb" > /proc/sys/kernel/numa_balancing
echo "$dem" > /sys/kernel/mm/numa/demotion_enabled
run strata env STRATA_TIERS="dram:nodes=0,cap=$FAST;pmem:nodes=2" \
  STRATA_MIGRATE="interval=${INTERVAL_MS}ms" STRATA_STATS=1 \
  "$build/bin/strata-run" --

# Summary: per phase, the mean fast-tier hit fraction over the phase's last
# half, as a share of the oracle's; the first interval (counted from the
# phase's start) at which the hit fraction reached 90% of the oracle's; bytes
# migrated in the phase; engine and sampling CPU against the process's.
summary() {
  awk -F, -v name="$1" -v phase="$PHASE" -v n="$INTERVALS" '
    BEGIN { e0[0] = 0 }  # phase 0 counts engine intervals from the start of the program
    NR == 1 { for (i = 1; i <= NF; i++) col[$i] = i; next }
    {
      k = $1; p = (phase > 0 && k >= phase) ? 1 : 0
      start = p ? phase : 0; end = p ? n : (phase > 0 ? phase : n)
      hit = $col["fast_hit"]; orc = $col["oracle_hit"]
      if (!(p in e0)) e0[p] = $col["engine_intervals"]
      if (!(p in reach) && hit >= 0.9 * orc) { reach[p] = k - start; ereach[p] = $col["engine_intervals"] - e0[p] }
      if (k >= start + (end - start) / 2) { h[p] += hit; o[p] += orc }
      mig[p] = $col["migrated_bytes"]
      cpu += $col["cpu_ms"]; eng = $col["engine_cpu_ms"]; smp = $col["sampler_cpu_ms"]
    }
    END {
      printf "%-15s", name
      prev = 0
      for (p = 0; p <= (phase > 0); p++) {
        r = (p in reach) ? reach[p] " (" ereach[p] " engine)" : "never"
        printf "  phase %d: %.3f of oracle, 90%% after %s, migrated %.0f MiB", p, \
          (o[p] > 0 ? h[p] / o[p] : 0), r, (mig[p] - prev) / 1048576
        prev = mig[p]
      }
      printf "  engine %.0f ms (sampling %.0f ms) of %.0f ms process CPU\n", eng, smp, cpu
    }' "$out/$1.csv"
}
{
  echo "hot-set driver: footprint $FOOTPRINT, hot $HOT from $HOT_OFFSET, fast tier $FAST (node 0), slow node 2"
  for p in first-touch interleave kernel-tiering strata; do summary "$p"; done
  grep -h "^migration" "$out/strata.err" || true
} | tee "$out/summary.txt"
