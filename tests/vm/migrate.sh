#!/usr/bin/env bash
# Multi-node tests of the migration engine. Runs INSIDE the NUMA test VM (node 0
# CPUs + DRAM, node 1 CPU-less DRAM, node 2 KMEM-DAX PMEM):
#   NUMA_VM_CPUS=1 scripts/numa-vm --build-dir build -- bash tests/vm/migrate.sh build hotset hints
#   NUMA_VM_CPUS=2 scripts/numa-vm --build-dir build -- bash tests/vm/migrate.sh build stress
# Sections (all three when none is named):
#   hotset  strata-bench-hotset under the engine: the hot set is promoted to the
#           fast tier in each phase, promoting at most 2x its size per phase
#           (issue 14's traffic bound; demotions of the tier's own heap, which
#           a cap forces, are shown but not bounded)
#   hints   strata-vm-migrate-hints: PIN / COLD / HOT / UNPIN range hints
#   stress  strata-vm-migrate-stress: two threads verify and rewrite blocks while
#           the engine migrates them as fast as it may; no block may change
#   thp     with STRATA_SAMPLER=...,thp=keep the hot set's transparent huge pages
#           are promoted whole (one move per huge page) and stay huge
#   damon   the hotset section's checks with the damon sampler (DAMON's sysfs
#           interface, a vaddr kdamond on the driver; kernel 6.12)
# Every placement is read with move_pages(2) status queries, independently of strata.
set -euo pipefail
build=${1:?usage: migrate.sh BUILD_DIR [hotset] [hints] [stress]}
shift
sections=("$@")
[ ${#sections[@]} -gt 0 ] || sections=(hotset hints stress thp damon)
run="$build/bin/strata-run"
failures=0
fail() { echo "migrate: FAIL: $*"; failures=$((failures + 1)); }
ok() { echo "migrate: ok: $*"; }
[ "${NUMA_VM:-}" = 1 ] || { echo "migrate: not inside the numa-vm guest"; exit 2; }
echo "migrate: $(nproc) CPU(s), sections: ${sections[*]}"

# Program output: "ok: X" / "FAIL: X" lines become this script's checks, the
# rest is shown as it is.
relay() {  # relay PREFIX < output
  local line
  while IFS= read -r line; do
    case "$line" in
    ok:*) ok "$1: ${line#ok: }" ;;
    FAIL:*) fail "$1: ${line#FAIL: }" ;;
    *) echo "  $line" ;;
    esac
  done
}

# 1. The hot-set driver. The footprint is one 96 MiB block (chunk-aligned, so
#    the 16 MiB hot set covers 8 whole 2 MiB chunks) that a policy rule places on
#    PMEM; the fast tier (node 0) is capped at 24 MiB (engine high watermark
#    21.6 MiB): phase 0's hot set is promoted into free room, phase 1's (48 MiB
#    further on) mostly by swapping phase 0's out. Sampler: a fixed 5 ms
#    accessed-bit window (with the adaptive one, cold chunks read about 0.4 hot
#    here, which leaves little between them and the promote threshold) and 10%
#    CPU (at the default 2% the sampling cost stretches intervals to ~600 ms);
#    alpha=0.3 makes a chunk need two hot windows to reach promote=0.5, so the
#    first 200 ms interval after the phase change still sees the hot set on PMEM.
section_hotset() {
  local hot=16 intervals=32 phase=16 csv err sampler=${1:-abit,cpu=10%,window=5ms}
  csv=$(mktemp) err=$(mktemp)
  echo "migrate: hotset: 96 MiB footprint, hot set $hot MiB, fast tier dram (node 0) capped at 24 MiB, sampler $sampler"
  if ! env STRATA_TIERS='dram:nodes=0,cap=24M;pmem:nodes=2' STRATA_POLICY='size>=1M -> pmem' \
    STRATA_MIGRATE='interval=300ms,alpha=0.3' STRATA_SAMPLER="$sampler" \
    STRATA_STATS=1 "$run" -- "$build/bin/strata-bench-hotset" --alloc=block --footprint=96M \
    --hot=${hot}M --hot-offset=16M --intervals=$intervals --phase-at=$phase --interval-ms=200 \
    --fast-node=0 --fast-bytes=24M --csv >"$csv" 2>"$err"; then
    fail "hotset: strata-bench-hotset failed: $(tail -n 5 "$err")"
    rm -f "$csv" "$err"
    return
  fi
  # The per-interval table, then one "ok: ..." or "FAIL: ..." line per check.
  local report
  report=$(awk -F, -v phase=$phase -v n=$intervals -v hot=$((hot << 20)) '
    function verdict(good) { return good ? "ok:" : "FAIL:" }
    NR == 1 {
      for (i = 1; i <= NF; i++) col[$i] = i
      printf "%8s %5s %8s %10s %9s %9s %12s %9s\n", "interval", "phase", "fast_hit",
        "oracle_hit", "node0_MiB", "node2_MiB", "migrated_MiB", "engine_ms"
      next
    }
    {
      k = $1; hit[k] = $col["fast_hit"]; orc[k] = $col["oracle_hit"]; mig[k] = $col["migrated_bytes"]
      pro[k] = $col["promoted_bytes"]
      rows++
      printf "%8d %5d %8.3f %10.3f %9.1f %9.1f %12.1f %9.0f\n", k, $2, hit[k], orc[k],
        $col["node0_bytes"] / 1048576, $col["node2_bytes"] / 1048576, mig[k] / 1048576,
        $col["engine_cpu_ms"]
    }
    END {
      if (rows != n) { printf "FAIL: %d of %d intervals in the output\n", rows, n; exit }
      for (p = 0; p <= 1; p++) {
        last = p ? n - 1 : phase - 1
        printf "%s phase %d, last interval %d: fast_hit %.3f >= 0.9 * oracle_hit %.3f\n",
          verdict(hit[last] >= 0.9 * orc[last]), p, last, hit[last], orc[last]
        m = p ? mig[n - 1] - mig[phase - 1] : mig[phase - 1]
        q = p ? pro[n - 1] - pro[phase - 1] : pro[phase - 1]
        printf "%s phase %d: the engine promoted %.1f MiB (moved %.1f MiB in all): more than 0, at most 2x the hot set (%.0f MiB)\n",
          verdict(q > 0 && q <= 2 * hot), p, q / 1048576, m / 1048576, 2 * hot / 1048576
      }
      printf "%s the hot set moved away: fast_hit %.3f at interval %d (first of phase 1) < half of %.3f at interval %d\n",
        verdict(hit[phase] < 0.5 * hit[phase - 1]), hit[phase], phase, hit[phase - 1], phase - 1
    }' "$csv")
  relay hotset <<<"$report"
  grep -E '^(strata stats|#|[0-9]+ |migration)' "$err" | sed 's/^/  /' || true
  local chosen
  chosen=$(grep -m1 -o '^migration: sampler [a-z]*' "$err" || echo "no engine summary")
  case "$sampler" in
  damon*)
    if [ "$chosen" = "migration: sampler damon" ]; then
      ok "hotset: the damon sampler ran (a vaddr kdamond on the driver)"
    else
      fail "hotset: the damon sampler was not used ($chosen)"
    fi
    ;;
  esac
  local moves
  moves=$(sed -n 's/^migration: .*demoted .* in \([0-9]*\) moves.*/\1/p' "$err")
  if [ "${moves:-0}" -gt 0 ]; then
    ok "hotset: the engine demoted chunks ($moves moves): phase 1 swapped phase 0's hot set out"
  else
    fail "hotset: no demotion in the engine's summary: $(grep '^migration' "$err" || echo none)"
  fi
  rm -f "$csv" "$err"
}

# 2. Range hints. The fast tier is capped at 48 MiB: room for every buffer of
#    the program, so only the hints keep the hot ones on PMEM.
# 4. Huge pages kept (thp=keep): the same driver with a 64 MiB block of
#    transparent huge pages (the VM has THP "always"); the hot 8 MiB must be
#    promoted by whole-huge-page moves, and the footprint must still be mostly
#    huge pages at the end (a split would show as AnonHugePages dropping). All
#    accesses go to the hot set: a huge page has one accessed bit, so with any
#    traffic to the rest every chunk reads hot (why thp=split is the default).
section_thp() {
  local thp err out
  thp=$(cat /sys/kernel/mm/transparent_hugepage/enabled)
  case "$thp" in
  *"[never]"*)
    echo "migrate: thp: skipped: transparent huge pages are off in this kernel ($thp)"
    return
    ;;
  esac
  err=$(mktemp)
  out=$(env STRATA_TIERS='dram:nodes=0,cap=16M;pmem:nodes=2' STRATA_POLICY='size>=1M -> pmem' \
    STRATA_MIGRATE='interval=300ms,alpha=0.3' STRATA_SAMPLER='abit,thp=keep,cpu=10%,window=5ms' \
    STRATA_LOG=debug "$run" -- "$build/bin/strata-bench-hotset" --alloc=block --footprint=64M \
    --hot=8M --hot-fraction=1 --hot-offset=32M --intervals=12 --phase-at=0 --interval-ms=250 \
    --fast-node=0 \
    --fast-bytes=16M 2>"$err") || {
    fail "thp: strata-bench-hotset failed: $(tail -n 5 "$err")"
    rm -f "$err"
    return
  }
  echo "$out" | sed 's/^/  /'
  local whole last hit orc huge
  whole=$(grep -c 'migrate: chunk .* up .*one huge page' "$err" || true)
  grep 'migrate: chunk' "$err" | head -n 6 | sed 's/^/  /'
  last=$(echo "$out" | awk '$1 ~ /^[0-9]+$/ {l = $0} END {print l}')
  hit=$(echo "$last" | awk '{print $4}')
  orc=$(echo "$last" | awk '{print $5}')
  huge=$(echo "$out" | sed -n 's/^# huge pages: \([0-9.]*\) MiB.*/\1/p')
  if [ "${whole:-0}" -ge 3 ]; then
    ok "thp: $whole promotions moved one whole huge page each"
  else
    fail "thp: expected whole-huge-page promotions, saw ${whole:-0}"
  fi
  if awk -v h="$hit" -v o="$orc" 'BEGIN {exit !(h >= 0.9 * o)}'; then
    ok "thp: last interval hit $hit of oracle $orc"
  else
    fail "thp: last interval hit $hit, below 0.9 of the oracle's $orc"
  fi
  if awk -v h="${huge:-0}" 'BEGIN {exit !(h >= 48)}'; then
    ok "thp: $huge MiB of the 64 MiB footprint still in huge pages after the moves"
  else
    fail "thp: only ${huge:-0} MiB of the footprint in huge pages at the end (split?)"
  fi
  rm -f "$err"
}

section_hints() {
  local out rc=0
  out=$(env STRATA_TIERS='dram:nodes=0,cap=48M;pmem:nodes=2' \
    STRATA_MIGRATE='interval=200ms' STRATA_SAMPLER='abit,cpu=10%' \
    "$run" -- "$build/bin/strata-vm-migrate-hints" --seconds=4 --unpin-seconds=3 2>&1) || rc=$?
  relay hints <<<"$out"
  [ "$rc" -eq 0 ] || [ "$(echo "$out" | grep -c '^FAIL:')" -gt 0 ] ||
    fail "hints: strata-vm-migrate-hints exited with status $rc"
}

# 3. Concurrency stress: ~64 MiB of malloc'd blocks and a 16 MiB mmap (on
#    PMEM by rule), a fast tier of 16 MiB, and an engine sampling every 100 ms
#    with no hold and a high rate limit. The workers run 20 s, and on (90 s at
#    most) until the engine has moved 64 MiB: with two vCPUs, TCG stalls every
#    TLB-shootdown IPI while the other vCPU's host thread is descheduled, so on
#    a busy host the engine may need longer for the same work.
section_stress() {
  local out rc=0
  out=$(env STRATA_TIERS='dram:nodes=0,cap=16M;pmem:nodes=2' STRATA_POLICY='kind=mmap -> pmem' \
    STRATA_MIGRATE='interval=100ms,hold=0,rate=1G/s' STRATA_SAMPLER='abit,cpu=50%,window=5ms' \
    STRATA_STATS=1 "$run" -- "$build/bin/strata-vm-migrate-stress" --seconds=20 --max-seconds=90 \
    --total=64M --mmap=16M --threads=2 --window=4M --slide-ms=200 --min-migrated=64M 2>&1) || rc=$?
  relay stress <<<"$out"
  [ "$rc" -eq 0 ] || [ "$(echo "$out" | grep -c '^FAIL:')" -gt 0 ] ||
    fail "stress: strata-vm-migrate-stress exited with status $rc"
}

for s in "${sections[@]}"; do
  case "$s" in
  hotset | hints | stress | thp) "section_$s" ;;
  damon)
    if [ -d /sys/kernel/mm/damon/admin ]; then
      section_hotset 'damon,cpu=10%'
    else
      fail "damon: no /sys/kernel/mm/damon/admin in kernel $(uname -r) (CONFIG_DAMON_SYSFS)"
    fi
    ;;
  *) fail "unknown section '$s' (expected hotset, hints, stress, thp or damon)" ;;
  esac
done

if [ "$failures" -ne 0 ]; then
  echo "migrate: $failures check(s) failed"
  exit 1
fi
echo "migrate: PASS"
