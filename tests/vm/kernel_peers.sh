#!/usr/bin/env bash
# The kernel's tiering peers (bench/kernel-peers.sh) move pages in the guest. Runs INSIDE
# the NUMA test VM on a kernel with DAMON (6.12), one vCPU:
#   NUMA_VM_CPUS=1 scripts/numa-vm --build-dir build -- bash tests/vm/kernel_peers.sh build
# Sections (all when none is named):
#   numab2   NUMA balancing mode 2 with demotion, on a known set: strata-bench-hotset (in a
#            memory cgroup of its own) fills 64 MiB, which is moved to node 2 (migratepages);
#            phase 0: its 16 MiB hot set A must be promoted to node 0 (pgpromote_success, A's
#            pages on node 0 from the driver's move_pages view); phase 1: the hot set moves
#            to B and A goes cold; proactive reclaim of the cgroup (memory.reclaim, the size
#            of A on node 0) must demote A: pgdemote_* grow and A's pages leave node 0
#   damon    DAMON tiering (migrate_hot on node 2, migrate_cold on node 0) on the same
#            known set: the footprint starts on node 2; phase 0: migrate_hot must bring
#            A to node 0 (>= 12 MiB); then A is cold (phase 1; the driver waits 10 s
#            at the phase change) and migrate_cold must take A back to node 2 (>= 4 MiB
#            of it leaves node 0);
#            DAMOS stats of both schemes
#   winterleave  weighted interleave 3:1 over nodes 0 and 2: the pages split about 3:1
set -euo pipefail
build=${1:?usage: kernel_peers.sh BUILD_DIR [numab2] [damon] [winterleave]}
shift
sections=("$@")
[ ${#sections[@]} -gt 0 ] || sections=(winterleave numab2 damon)
here=$(cd "$(dirname "$0")" && pwd)
kp="$here/../../bench/kernel-peers.sh"
hotset="$build/bin/strata-bench-hotset"
failures=0
fail() { echo "peers: FAIL: $*"; failures=$((failures + 1)); }
ok() { echo "peers: ok: $*"; }
[ "${NUMA_VM:-}" = 1 ] || { echo "peers: not inside the numa-vm guest"; exit 2; }
echo "peers: kernel $(uname -r), $(nproc) CPU(s), sections: ${sections[*]}"
tmp=$(mktemp -d)
pids=()
cleanup() {
  local p
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  bash "$kp" damon-tier stop 2>/dev/null || true
  if [ -n "${cg:-}" ]; then rmdir "$cg" 2>/dev/null || true; fi
  rm -rf "$tmp"
}
trap cleanup EXIT

HOT_MB=16 INTERVALS=20 PHASE=10
# migrate_cold's size quota per second. 6.12 charges a scheme's quota with the bytes it
# tries, and ranks a node's cold regions by age: never-used free memory is the oldest, so
# with a quota smaller than the fast node a set that has just gone cold is never reached.
DAMON_QUOTA_MB=${DAMON_QUOTA_MB:-1024}
# DAMON's regions: at least this many per node (DAMON's default is 10). With 10, a
# node's regions are tens of MiB, and a cold set promoted among pages the rest of the
# guest uses shares its regions with them and never reads cold (one run: the stopped
# driver's 64 MiB stayed on node 0 for 10 s). 256 regions: 4 MiB on node 0.
DAMON_MIN_REGIONS=${DAMON_MIN_REGIONS:-256}
DAMON_COLD_S=${DAMON_COLD_S:-10} # 5x migrate_cold's age threshold
# vmstat counter NAME from a "k=v k=v" line
counter() { echo "$1" | tr ' ' '\n' | sed -n "s/^$2=//p"; }
# The driver's CSV column NAME at interval K
col() { # col CSV NAME K
  awk -F, -v name="$2" -v k="$3" 'NR == 1 { for (i = 1; i <= NF; i++) c[$i] = i; next }
    $1 == k { print $c[name] }' "$1"
}
table() { # the per-interval table of a driver CSV
  awk -F, 'NR == 1 { for (i = 1; i <= NF; i++) c[$i] = i
      printf "  %8s %8s %10s %9s %9s %9s %9s %9s\n", "interval", "fast_hit", "oracle_hit", "node0_MiB", "node1_MiB", "node2_MiB", "A_node0", "B_node0"; next }
    { printf "  %8d %8.3f %10.3f %9.1f %9.1f %9.1f %9.1f %9.1f\n", $1, $c["fast_hit"], $c["oracle_hit"],
        $c["node0_bytes"] / 1048576, $c["node1_bytes"] / 1048576, $c["node2_bytes"] / 1048576,
        $c["hot0_fast_bytes"] / 1048576, $c["hot1_fast_bytes"] / 1048576 }' "$1"
}

# start_driver CSV [CGROUP]: the hot-set driver in the background (in CGROUP's
# cgroup.procs, so that its pages are charged there, when given); all its pages are moved
# to node 2 after its fill (its policy stays the default, so the kernel may move them
# back); sets driver_pid. The driver waits (--wait-for) until go CSV. Hot set A (phase 0) is the footprint's first
# HOT_MB MiB, B (phase 1) the HOT_MB MiB from its middle on; the CSV's hot0_fast_bytes and
# hot1_fast_bytes say how much of each is on node 0.
start_driver() {
  local cmd=("$hotset" --alloc=block --footprint=64M --hot=${HOT_MB}M --hot-fraction=1
    --hot-offset=0 --intervals=$INTERVALS --phase-at=$PHASE --interval-ms=1000 --fast-node=0
    --fast-bytes=${HOT_MB}M --wait-for="$1.go" ${DRIVER_ARGS:-} --csv)
  if [ -n "${2:-}" ]; then
    bash -c 'echo $$ >"$1/cgroup.procs" && shift && exec "$@"' _ "$2" "${cmd[@]}" >"$1" 2>"$1.err" &
  else
    "${cmd[@]}" >"$1" 2>"$1.err" &
  fi
  driver_pid=$!
  pids+=("$driver_pid")
  for _ in $(seq 300); do
    [ -s "$1" ] && break
    sleep 0.1
  done
  [ -s "$1" ] || { fail "the driver printed no header: $(cat "$1.err")"; return 1; }
  migratepages "$driver_pid" 0,1 2 || fail "migratepages $driver_pid 0,1 2"
}
go() { touch "$1.go"; } # go CSV: the driver's first interval starts
wait_interval() { # wait_interval CSV K: until the driver has printed interval K
  for _ in $(seq 240); do
    [ -n "$(col "$1" interval "$2")" ] && return 0
    kill -0 "$driver_pid" 2>/dev/null || return 1
    sleep 0.5
  done
  return 1
}
# "N0=.. MiB N2=.. MiB": the nodes of PID's largest anonymous mapping (/proc/PID/numa_maps)
footprint_nodes() {
  awk '{ a = 0; for (i = 1; i <= NF; i++) if ($i ~ /^anon=/) a = substr($i, 6) + 0
      if (a > best) { best = a; line = ""
        for (i = 1; i <= NF; i++) if ($i ~ /^N[0-9]+=/) { split($i, kv, "="); line = line sprintf("%s=%.1f MiB ", kv[1], kv[2] * 4 / 1024) } } }
    END { print line }' "/proc/$1/numa_maps" 2>/dev/null
}
mib() { awk -v b="${1:-0}" 'BEGIN { printf "%.1f", b / 1048576 }'; }
demoted_pages() { # pgdemote_* of a vmstat line, summed
  echo $(($(counter "$1" pgdemote_kswapd) + $(counter "$1" pgdemote_direct) +
    $(counter "$1" pgdemote_khugepaged) + $(counter "$1" pgdemote_proactive)))
}

# A memory cgroup for the driver (cgroup v2, mounted if the guest has not); sets cg
cgroup_setup() {
  local root=/sys/fs/cgroup
  [ -e "$root/cgroup.controllers" ] || mount -t cgroup2 cgroup2 "$root" || return 1
  grep -qw memory "$root/cgroup.controllers" || return 1
  echo +memory >"$root/cgroup.subtree_control" || return 1
  cg=$root/strata-peers
  mkdir -p "$cg" && [ -e "$cg/memory.reclaim" ]
}

section_numab2() {
  local csv=$tmp/numab2.csv v0 v1 v2 v3 a_hot a_before a_after want k_after rc=0
  cgroup_setup || { fail "numab2: no memory cgroup with memory.reclaim"; return; }
  bash "$kp" numab2 on --scan-delay-ms 100 --scan-period-ms 100 --scan-size-mb 256 --rate 1024 |
    sed 's/^/  /'
  v0=$(bash "$kp" vmstat)
  start_driver "$csv" "$cg" || return
  go "$csv"
  wait_interval "$csv" $((PHASE - 1)) || fail "numab2: the driver stopped early: $(cat "$csv.err")"
  v1=$(bash "$kp" vmstat)
  # Phase 1: B is hot, A has not been touched for 2 intervals. Reclaim in A's cgroup as
  # much as A has on node 0: the coldest pages there are A's, and with demotion enabled
  # and no swap, reclaim demotes them to the next tier (0 -> 1 on 6.12, which ranks the
  # nodes by HMAT) instead of freeing them. The driver is stopped meanwhile: under TCG its
  # hint faults (the scanner's 100 ms period) leave the reclaim little of the one vCPU
  # (5-8 s and interrupted when it ran alongside); its pages keep their accessed bits.
  wait_interval "$csv" $((PHASE + 2)) || fail "numab2: the driver stopped early: $(cat "$csv.err")"
  kill -STOP "$driver_pid" || fail "numab2: the driver ended before phase 1's third interval"
  a_before=$(col "$csv" hot0_fast_bytes $((PHASE + 2)))
  want=$((a_before > (4 << 20) ? a_before : (4 << 20)))
  v2=$(bash "$kp" vmstat)
  # in a child: a signal to this shell (SIGCHLD) would interrupt the write (EINTR)
  bash -c 'echo "$1" >"$2/memory.reclaim"' _ "$want" "$cg" 2>"$tmp/reclaim.err" || rc=$?
  v3=$(bash "$kp" vmstat)
  # A's place: from the interval the driver was stopped in, which it ends after the reclaim
  k_after=$(($(tail -n 1 "$csv" | cut -d, -f1) + 1))
  kill -CONT "$driver_pid" || true
  echo "  memory.reclaim $want bytes (driver stopped): exit $rc $(cat "$tmp/reclaim.err"); A checked at interval $k_after"
  wait "$driver_pid" || fail "numab2: the driver failed: $(cat "$csv.err")"
  bash "$kp" numab2 off >/dev/null
  rmdir "$cg" 2>/dev/null || true
  table "$csv"
  echo "  vmstat before:          $v0"
  echo "  vmstat phase 0 end:     $v1"
  echo "  vmstat before reclaim:  $v2"
  echo "  vmstat after reclaim:   $v3"
  local promoted migrated demoted
  promoted=$(($(counter "$v1" pgpromote_success) - $(counter "$v0" pgpromote_success)))
  migrated=$(($(counter "$v1" numa_pages_migrated) - $(counter "$v0" numa_pages_migrated)))
  demoted=$(($(demoted_pages "$v3") - $(demoted_pages "$v2")))
  a_hot=$(col "$csv" hot0_fast_bytes $((PHASE - 1)))
  a_after=$(col "$csv" hot0_fast_bytes "$k_after")
  [ -n "$a_after" ] || fail "numab2: the reclaim returned after the driver's last interval (raise INTERVALS)"
  echo "  set A on node 0: $(mib "$a_hot") MiB at the end of phase 0, $(mib "$a_before") MiB before the reclaim, $(mib "$a_after") MiB after it; set B on node 0 at the end: $(mib "$(col "$csv" hot1_fast_bytes $((INTERVALS - 1)))") MiB"
  if [ "$promoted" -gt 0 ] && [ "$migrated" -gt 0 ]; then
    ok "numab2: phase 0 promoted $promoted pages (numa_pages_migrated +$migrated)"
  else
    fail "numab2: no promotion in phase 0 (pgpromote_success +$promoted, numa_pages_migrated +$migrated)"
  fi
  if [ "${a_hot:-0}" -ge $((HOT_MB << 19)) ]; then
    ok "numab2: $(mib "$a_hot") MiB of the hot set A on node 0 at the end of phase 0 (>= half)"
  else
    fail "numab2: only $(mib "$a_hot") MiB of A on node 0 at the end of phase 0 (expected >= $((HOT_MB / 2)))"
  fi
  if [ "$demoted" -gt 0 ]; then
    ok "numab2: the reclaim demoted $demoted pages (pgdemote_*)"
  else
    fail "numab2: the reclaim demoted nothing (pgdemote_* +0)"
  fi
  if [ "${a_after:-0}" -le $((${a_before:-0} / 2)) ] && [ $((${a_before:-0} - ${a_after:-0})) -ge $((4 << 20)) ]; then
    ok "numab2: the cold set A was demoted: $(mib "$((a_before - a_after))") MiB of it left node 0"
  else
    fail "numab2: A on node 0 went from $(mib "$a_before") to $(mib "$a_after") MiB (expected at least half of it, and >= 4 MiB, to leave)"
  fi
}

section_damon() {
  local csv=$tmp/damon.csv st a_hot a_after k_after
  # The kdamonds start once the footprint is on node 2. Even so, pages that have just
  # arrived on node 2 read as accessed to DAMON's paddr checks at first (seen: B, untouched
  # since the fill, promoted within 1-2 s); A's promotion is checked, not B's absence.
  DRIVER_ARGS="--phase-wait=$csv.phase" start_driver "$csv" || return
  if ! bash "$kp" damon-tier start --fast 0 --slow 2 --quota-mb "$DAMON_QUOTA_MB" \
    --min-regions "$DAMON_MIN_REGIONS" --cold-age-ms 2000 2>&1 | sed 's/^/  /'; then
    fail "damon: damon-tier start failed"
    return
  fi
  go "$csv"
  # Phase 0: A is hot. Then A goes cold: the driver waits DAMON_COLD_S seconds at the
  # phase change (--phase-wait), so that no set is hot meanwhile: DAMON's regions are coarse
  # (10-1000 over a node) and a hot B promoted next to A in physical memory kept A's
  # region warm (one run demoted 2 of A's 16 MiB in 6 s); the driver's rows from then on
  # show where A is.
  wait_interval "$csv" $((PHASE - 1)) || fail "damon: the driver stopped early: $(cat "$csv.err")"
  local t
  for ((t = 0; t < DAMON_COLD_S; t += 2)); do # the driver waits at the phase change
    sleep 2
    echo "  cold $((t + 2)) s: footprint $(footprint_nodes "$driver_pid")"
  done
  k_after=$PHASE
  touch "$csv.phase"
  wait "$driver_pid" || fail "damon: the driver failed: $(cat "$csv.err")"
  st=$(bash "$kp" damon-tier stats)
  bash "$kp" damon-tier stop
  table "$csv"
  sed 's/^/  /' <<<"$st"
  local hot cold
  hot=$(sed -n 's/.*migrate_hot.* sz_applied=\([0-9]*\).*/\1/p' <<<"$st")
  cold=$(sed -n 's/.*migrate_cold.* sz_applied=\([0-9]*\).*/\1/p' <<<"$st")
  if [ "${hot:-0}" -gt 0 ]; then ok "damon: migrate_hot moved $((hot >> 20)) MiB to node 0"; else fail "damon: migrate_hot applied to nothing"; fi
  if [ "${cold:-0}" -gt 0 ]; then ok "damon: migrate_cold moved $((cold >> 20)) MiB to node 2"; else fail "damon: migrate_cold applied to nothing"; fi
  # The known set A: promoted while hot (phase 0), demoted once cold.
  a_hot=$(col "$csv" hot0_fast_bytes $((PHASE - 1)))
  # A is cold from the phase change on: its fewest bytes on node 0 from the stop on (pages
  # that DAMON has just demoted can come back: a page that arrives on node 2 with the
  # accessed bit of its last use reads as accessed there, and migrate_hot takes it back)
  a_after=$(awk -F, -v k="$k_after" 'NR == 1 { for (i = 1; i <= NF; i++) c[$i] = i; m = -1; next }
    $1 >= k && (m < 0 || $c["hot0_fast_bytes"] < m) { m = $c["hot0_fast_bytes"] } END { if (m >= 0) print m }' "$csv")
  echo "  set A on node 0: $(mib "$(col "$csv" hot0_fast_bytes 0)") MiB after interval 0, $(mib "$a_hot") MiB at the end of phase 0, down to $(mib "$a_after") MiB from interval $k_after on (after ${DAMON_COLD_S} s with nothing accessed)"
  if [ "${a_hot:-0}" -ge $((12 << 20)) ]; then
    ok "damon: migrate_hot promoted the hot set A: $(mib "$a_hot") MiB of it on node 0 at the end of phase 0"
  else
    fail "damon: only $(mib "$a_hot") MiB of A on node 0 at the end of phase 0 (expected >= 12)"
  fi
  if [ -z "$a_after" ]; then
    fail "damon: no interval ended after the cold period"
  elif [ $((${a_hot:-0} - a_after)) -ge $((4 << 20)) ]; then
    ok "damon: migrate_cold demoted the cold set A: $(mib "$((a_hot - a_after))") MiB of it left node 0"
  else
    fail "damon: A on node 0 went from $(mib "$a_hot") to $(mib "$a_after") MiB once cold (expected >= 4 MiB to leave)"
  fi
}

section_winterleave() {
  local csv=$tmp/wi.csv n0 n2
  if ! bash "$kp" winterleave 0:3,2:1 -- "$hotset" --alloc=block --footprint=32M --hot=8M \
    --intervals=1 --interval-ms=100 --csv >"$csv" 2>"$csv.err"; then
    fail "winterleave: $(cat "$csv.err")"
    return
  fi
  n0=$(col "$csv" node0_bytes 0)
  n2=$(col "$csv" node2_bytes 0)
  echo "  weighted interleave 0:3,2:1: node 0 $((n0 >> 10)) KiB, node 2 $((n2 >> 10)) KiB"
  # The task policy interleaves every page the process allocates (libraries, stack, the
  # driver's tables) by one running counter, and transparent huge pages count as one
  # unit each: the footprint alone splits only about 3:1 (2.8-3.9 seen). Plain interleave
  # would give 1, local allocation no node 2 pages at all.
  if awk -v a="$n0" -v b="$n2" 'BEGIN { exit !(b > 0 && a / b >= 2.0 && a / b <= 4.5) }'; then
    ok "winterleave: pages split about 3:1 between nodes 0 and 2"
  else
    fail "winterleave: node 0 / node 2 = $n0 / $n2, expected about 3 (2.0-4.5)"
  fi
}

for s in "${sections[@]}"; do
  case "$s" in
  numab2 | damon | winterleave) "section_$s" ;;
  *) fail "unknown section '$s'" ;;
  esac
done
if [ "$failures" -ne 0 ]; then
  echo "peers: $failures check(s) failed"
  exit 1
fi
echo "peers: PASS"
