#!/usr/bin/env bash
# The workload suite (strata-bench-suite, every shape) and two real programs
# with a Zipf client (Redis, SQLite) beside their peers, in the NUMA test VM:
#   all-fast   numactl --membind=0 (upper bound; run before node 0 is filled)
#   all-slow   numactl --membind=2 (lower bound)
#   first-touch, interleave (numactl --interleave=0,2)
#   kernel     numa_balancing=2 + demotion_enabled (on a 6.1 guest it demotes but
#              does not promote; the vmstat counters recorded per run show it)
#   damon      DAMOS migrate_hot/migrate_cold: reported "not available" until the
#              guest has a kernel that supports it (see damon_available below)
#   strata     STRATA_MIGRATE=on, fast tier uncapped (it may use what node 0 has)
#   strata-cap STRATA_MIGRATE=on, fast tier capped at the oracle's FAST bytes
# Every peer sees the same memory: node 1 (CPU-less DRAM) is filled, node 0 is
# filled down to FAST_FREE bytes (FAST plus about 40 MiB that the guest's kernel
# keeps free on a node: first touch stops using node 0 there),
# node 2 (KMEM-DAX PMEM, a lower memory tier) is the slow tier. A shape runs
# with the same seed under every peer.
#
#   bench/run-suite.sh [--quick] [--append-docs] [BUILD_DIR] [OUT_DIR]   # from the host
#
# Writes OUT_DIR/<shape>/<peer>.{csv,err,vmstat}, OUT_DIR/table.md (shape x peer:
# capture / promoted MiB / sampler CPU share) and, with --append-docs, appends the
# table to docs/benchmarks.md. --quick: small footprints and few intervals (under
# ~10 minutes under TCG). Environment: SEED (first shape's seed; default from the
# clock), SHAPES (space-separated subset), REAL=0 (skip Redis and SQLite), and
# FOOTPRINT, FAST, FAST_FREE, INTERVALS, INTERVAL_MS to override the sizes.
set -euo pipefail
quick=0 append=0
args=()
for a in "$@"; do
  case "$a" in
    --quick) quick=1 ;;
    --append-docs) append=1 ;;
    -h | --help) sed -n '2,27p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) args+=("$a") ;;
  esac
done
set -- "${args[@]+"${args[@]}"}"
build=$(realpath "${1:-build}")
out=$(realpath -m "${2:-$build/suite-peers}")
here=$(cd "$(dirname "$0")" && pwd)
if [ "$quick" = 1 ]; then
  : "${FOOTPRINT:=128M}" "${FAST:=32M}" "${FAST_FREE:=72M}" "${INTERVALS:=8}" "${INTERVAL_MS:=300}"
  : "${REAL_FOOTPRINT:=24M}" "${REAL_INTERVALS:=3}"
else
  : "${FOOTPRINT:=256M}" "${FAST:=96M}" "${FAST_FREE:=144M}" "${INTERVALS:=20}" "${INTERVAL_MS:=500}"
  : "${REAL_FOOTPRINT:=192M}" "${REAL_INTERVALS:=10}"
fi
: "${SEED:=$(($(date +%s) % 100000))}"
export FOOTPRINT FAST FAST_FREE INTERVALS INTERVAL_MS REAL_FOOTPRINT REAL_INTERVALS SEED

if [ "${NUMA_VM:-}" != 1 ]; then
  mkdir -p "$out"
  echo "run-suite: seed $SEED, footprint $FOOTPRINT, fast tier $FAST (node 0 free $FAST_FREE)," \
    "$INTERVALS intervals of $INTERVAL_MS ms; output in $out" >&2
  # One vCPU, as in run-hotset-peers.sh: TCG makes TLB-shootdown IPIs of page
  # migration very slow with two.
  NUMA_VM_CPUS=${NUMA_VM_CPUS:-1} "$here/../scripts/numa-vm" --build-dir "$build" \
    --rw "$out" --timeout "${TIMEOUT:-3000}" -- \
    env FOOTPRINT="$FOOTPRINT" FAST="$FAST" FAST_FREE="$FAST_FREE" INTERVALS="$INTERVALS" \
    INTERVAL_MS="$INTERVAL_MS" REAL_FOOTPRINT="$REAL_FOOTPRINT" REAL_INTERVALS="$REAL_INTERVALS" \
    SEED="$SEED" SHAPES="${SHAPES:-}" REAL="${REAL:-1}" QUICK="$quick" \
    bash "$here/run-suite.sh" "$build" "$out"
  cat "$out/table.md"
  if [ "$append" = 1 ]; then
    {
      echo
      echo "### Suite run $(date -u '+%Y-%m-%d %H:%M UTC')$([ "$quick" = 1 ] && echo ' (quick)')"
      echo
      echo "Command: \`bench/run-suite.sh$([ "$quick" = 1 ] && echo ' --quick') --append-docs\`" \
        "(SEED=$SEED). Machine: $(uname -m), $(nproc) host CPUs, guest kernel $(uname -r)," \
        "QEMU $(cat "$out/accel" 2>/dev/null || echo TCG), one vCPU."
      echo
      cat "$out/table.md"
    } >> "$here/../docs/benchmarks.md"
    echo "run-suite: table appended to docs/benchmarks.md" >&2
  fi
  exit 0
fi

# ---------------------------------------------------------------- in the guest
bin=$build/bin
if [ -e /dev/kvm ] && grep -qw kvm /proc/modules 2>/dev/null; then echo KVM > "$out/accel"; else echo TCG > "$out/accel"; fi
shapes=${SHAPES:-$("$bin/strata-bench-suite" --list | tr '\n' ' ')}
peers=(all-fast all-slow first-touch interleave kernel damon strata strata-cap)
tiers_uncapped="dram:nodes=0;pmem:nodes=2"
tiers_capped="dram:nodes=0,cap=$FAST;pmem:nodes=2"
vmstat_keys='^(pgpromote_success|pgdemote_kswapd|pgdemote_direct|numa_pages_migrated|pgmigrate_success|numa_hint_faults) '

# No NUMA balancing outside the kernel peer: Debian's kernel turns it on for a
# machine with several nodes (numa_balancing=1 moves pages towards the CPU's
# node, which here is migration to the fast tier), and first touch, interleave
# and strata must run without it.
nb_orig=$(cat /proc/sys/kernel/numa_balancing)
echo 0 > /proc/sys/kernel/numa_balancing
fills=()
cleanup() {
  for p in "${fills[@]}"; do kill "$p" 2>/dev/null || true; done
  echo "$nb_orig" > /proc/sys/kernel/numa_balancing
}
trap cleanup EXIT
fill() { # fill NODE LEAVE
  "$bin/strata-bench-fill" "$1" "$2" > "$out/fill-$1.txt" &
  fills+=($!)
  eval "fill_pid_$1=$!"
  for _ in $(seq 600); do grep -q held "$out/fill-$1.txt" 2>/dev/null && break; sleep 0.1; done
  cat "$out/fill-$1.txt"
}

refill() { # refill NODE: the node's filler adjusts to its LEAVE again (if it runs)
  local pid n
  pid=$(eval "echo \${fill_pid_$1:-}")
  [ -n "$pid" ] || return 0
  n=$(grep -c held "$out/fill-$1.txt")
  kill -USR1 "$pid"
  for _ in $(seq 600); do [ "$(grep -c held "$out/fill-$1.txt")" -gt "$n" ] && break; sleep 0.1; done
}

# DAMON-based tiering needs DAMOS actions migrate_hot/migrate_cold (Linux 6.11+).
# Hook: until the peer is wired to /sys/kernel/mm/damon/admin, a kernel that has
# them is reported as such, never run as something else.
damon_available() {
  if [ ! -d /sys/kernel/mm/damon/admin ]; then
    echo "not available on this kernel ($(uname -r)): no /sys/kernel/mm/damon/admin"
    return 1
  fi
  local v
  v=$(uname -r | awk -F. '{ print $1 * 1000 + $2 }')
  if [ "$v" -lt 6011 ]; then
    echo "not available on this kernel ($(uname -r)): DAMOS migrate_hot/migrate_cold need 6.11+"
    return 1
  fi
  echo "kernel $(uname -r) has DAMOS migrate_hot/migrate_cold; the damon peer is not wired yet"
  return 1
}

kernel_tiering() { # on|off
  if [ "$1" = on ]; then
    nb_saved=$(cat /proc/sys/kernel/numa_balancing)
    dem_saved=$(cat /sys/kernel/mm/numa/demotion_enabled)
    echo 2 > /proc/sys/kernel/numa_balancing
    echo true > /sys/kernel/mm/numa/demotion_enabled
  else
    echo "$nb_saved" > /proc/sys/kernel/numa_balancing
    echo "$dem_saved" > /sys/kernel/mm/numa/demotion_enabled
  fi
}

# wrap PEER: the command prefix that runs a program under PEER
wrap() {
  case "$1" in
    all-fast) echo "numactl --membind=0" ;;
    all-slow) echo "numactl --membind=2" ;;
    interleave) echo "numactl --interleave=0,2" ;;
    first-touch | kernel) echo "env" ;;
    strata) echo "env STRATA_TIERS=$tiers_uncapped STRATA_MIGRATE=on STRATA_STATS=1 $bin/strata-run --" ;;
    strata-cap) echo "env STRATA_TIERS=$tiers_capped STRATA_MIGRATE=on STRATA_STATS=1 $bin/strata-run --" ;;
  esac
}

# run_peer DIR PEER COMMAND...: runs COMMAND under PEER, with vmstat deltas.
run_peer() {
  local dir=$1 peer=$2
  shift 2
  if [ "$peer" = damon ]; then
    damon_available > "$dir/$peer.na" || true
    return 0
  fi
  # Same start for every run: no page cache left from the previous one, and
  # node 0's filler re-adjusted to FAST_FREE (the guest's free memory drifts).
  echo 3 > /proc/sys/vm/drop_caches
  refill 0
  awk '/MemFree/ { print $4 * 1024 }' /sys/devices/system/node/node0/meminfo > "$dir/$peer.node0free"
  [ "$peer" = kernel ] && kernel_tiering on
  grep -E "$vmstat_keys" /proc/vmstat > "$dir/$peer.vmstat0" || true
  local rc=0
  # shellcheck disable=SC2046  # wrap's words are the prefix
  $(wrap "$peer") "$@" > "$dir/$peer.csv" 2> "$dir/$peer.err" || rc=$?
  grep -E "$vmstat_keys" /proc/vmstat > "$dir/$peer.vmstat1" || true
  [ "$peer" = kernel ] && kernel_tiering off
  awk 'NR == FNR { a[$1] = $2; next } { printf "%s %d\n", $1, $2 - a[$1] }' \
    "$dir/$peer.vmstat0" "$dir/$peer.vmstat1" > "$dir/$peer.vmstat"
  rm -f "$dir/$peer.vmstat0" "$dir/$peer.vmstat1"
  [ "$rc" = 0 ] || { echo "  $peer failed (exit $rc): $(tail -2 "$dir/$peer.err" | tr '\n' ' ')"; }
}

shape_cmd() { # shape_cmd SHAPE SEED
  echo "$bin/strata-bench-suite --shape=$1 --seed=$2 --footprint=$FOOTPRINT --fast-bytes=$FAST" \
    "--fast-node=0 --intervals=$INTERVALS --interval-ms=$INTERVAL_MS"
}

run_shapes() { # run_shapes PEER...
  local i=0 s p
  for s in $shapes; do
    mkdir -p "$out/$s"
    for p in "$@"; do
      echo "== $s ($((i + 1))/$(echo $shapes | wc -w)) seed $((SEED + i)): $p"
      # shellcheck disable=SC2046
      run_peer "$out/$s" "$p" $(shape_cmd "$s" $((SEED + i)))
    done
    i=$((i + 1))
  done
}

redis_run() { # redis_run PEER SEED
  local dir=$out/redis sock=/tmp/strata-suite-redis.sock
  mkdir -p "$dir"
  if [ "$1" = damon ]; then damon_available > "$dir/damon.na" || true; return 0; fi
  echo 3 > /proc/sys/vm/drop_caches
  refill 0
  [ "$1" = kernel ] && kernel_tiering on
  # shellcheck disable=SC2046
  $(wrap "$1") redis-server --port 0 --unixsocket "$sock" --save '' --appendonly no \
    > "$dir/$1.server.log" 2>&1 &
  local pid=$! # numactl, env and strata-run exec the server
  sleep 1
  "$bin/strata-bench-redis-zipf" --pid="$pid" --socket="$sock" --seed="$2" \
    --footprint="$REAL_FOOTPRINT" --intervals="$REAL_INTERVALS" > "$dir/$1.csv" 2> "$dir/$1.err" ||
    echo "  redis $1: client failed: $(tail -1 "$dir/$1.err")"
  kill "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  [ "$1" = kernel ] && kernel_tiering off
  return 0
}

# ---- all-fast first, while node 0 is still free; then fill and run the rest.
echo "suite: shapes: $shapes"
echo "suite: damon peer: $(damon_available || true)"
echo "suite: numa_balancing was $nb_orig (0 outside the kernel peer)," \
  "demotion_enabled $(cat /sys/kernel/mm/numa/demotion_enabled)"
fill 1 48M # all but 48-64 MiB: filling it closer starves the guest (soft lockups, OOM kills)
run_shapes all-fast
fill 0 "$FAST_FREE"
run_shapes all-slow first-touch interleave kernel damon strata strata-cap

if [ "${REAL:-1}" = 1 ]; then
  if command -v redis-server > /dev/null; then
    for p in first-touch interleave kernel damon strata strata-cap; do
      echo "== redis: $p"
      redis_run "$p" "$SEED"
    done
  else
    echo "suite: redis-server not installed (scripts/install-deps.sh): Redis skipped"
  fi
  mkdir -p "$out/sqlite"
  for p in first-touch interleave kernel damon strata strata-cap; do
    echo "== sqlite: $p"
    run_peer "$out/sqlite" "$p" "$bin/strata-bench-sqlite-zipf" --seed="$SEED" \
      --footprint="$REAL_FOOTPRINT" --intervals="$REAL_INTERVALS"
  done
fi
bash "$here/suite-table.sh" "$out" "${peers[@]}" > "$out/table.md"
echo "suite: table in $out/table.md"
