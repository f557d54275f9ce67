#!/usr/bin/env bash
# The kernel's own memory tiering, configured as it is in 2026, so that strata can be
# compared with a working peer. Run as root on the machine to tier (e.g. in the NUMA
# test VM: scripts/numa-vm -- bash bench/kernel-peers.sh status).
#
#   kernel-peers.sh status
#       the tiering settings and counters below, DAMON kdamonds, interleave weights
#   kernel-peers.sh vmstat
#       one line: pgpromote_success pgpromote_candidate pgdemote_kswapd pgdemote_direct
#       pgdemote_khugepaged pgdemote_proactive numa_pages_migrated pgmigrate_success
#       numa_hint_faults (0 for a counter the kernel does not have)
#   kernel-peers.sh numab2 on [--rate MBPS] [--scan-delay-ms N] [--scan-period-ms N]
#                             [--scan-size-mb N] [--hot-threshold-ms N]
#       NUMA balancing in memory-tiering mode (kernel.numa_balancing=2) with demotion
#       (/sys/kernel/mm/numa/demotion_enabled), the promotion rate limit
#       (kernel.numa_balancing_promote_rate_limit_MBps, default 65536) and, through
#       debugfs, the hint-fault scanner (scan_delay_ms, scan_period_min_ms,
#       scan_size_mb) and hot_threshold_ms; options not given keep their value
#   kernel-peers.sh numab2 off
#       numa_balancing=1, demotion off, the scanner's defaults
#   kernel-peers.sh damon-tier start --fast NODE --slow NODE [--quota-mb N]
#                                    [--cold-age-ms N] [--sample-us N] [--aggr-us N]
#                                    [--min-regions N]
#       DAMON-based tiering: one kdamond per node monitoring its physical range
#       (operations paddr); on the slow node DAMOS migrate_hot to the fast one, on the
#       fast node migrate_cold (regions not accessed for --cold-age-ms) to the slow one;
#       each with a size quota of --quota-mb per second and, where the kernel has them
#       (6.16+), the quota goals node_mem_used_bp (hot: fast node 99.7% used) and
#       node_mem_free_bp (cold: keep 0.5% of the fast node free); --min-regions: DAMON's
#       minimum number of regions per node (default 10, DAMON's own). Needs
#       CONFIG_DAMON_PADDR, migrate_hot/migrate_cold (6.11+) and no other kdamond.
#   kernel-peers.sh damon-tier stats
#       per scheme: action, tried/applied regions and bytes, quota exceeds
#   kernel-peers.sh damon-tier stop
#   kernel-peers.sh winterleave NODE:WEIGHT[,NODE:WEIGHT...] -- COMMAND [ARGS...]
#       weighted interleave (6.9+): sets /sys/kernel/mm/mempolicy/weighted_interleave/
#       nodeN and runs COMMAND with set_mempolicy(MPOL_WEIGHTED_INTERLEAVE) over those
#       nodes (numactl before 2.0.19 has no --weighted-interleave)
set -euo pipefail
readonly PROG=kernel-peers
readonly DAMON=/sys/kernel/mm/damon/admin
readonly NB_DEBUG=/sys/kernel/debug/sched/numa_balancing
readonly WI=/sys/kernel/mm/mempolicy/weighted_interleave
readonly PYTHON=/usr/bin/python3

die() {
  echo "$PROG: $*" >&2
  exit 1
}
put() { # put FILE VALUE: write, or die naming both
  echo "$2" >"$1" 2>/dev/null || die "cannot write '$2' to $1"
}
num() { [[ $2 =~ ^[0-9]+$ ]] || die "$1 wants a whole number, got '$2'"; }

vmstat_line() {
  awk '{ v[$1] = $2 } END {
    n = split("pgpromote_success pgpromote_candidate pgdemote_kswapd pgdemote_direct pgdemote_khugepaged pgdemote_proactive numa_pages_migrated pgmigrate_success numa_hint_faults", k, " ")
    for (i = 1; i <= n; i++) printf "%s%s=%d", (i > 1 ? " " : ""), k[i], v[k[i]]
    printf "\n"
  }' /proc/vmstat
}

debugfs_ready() {
  [ -d "$NB_DEBUG" ] && return 0
  mountpoint -q /sys/kernel/debug || mount -t debugfs debugfs /sys/kernel/debug 2>/dev/null || true
  [ -d "$NB_DEBUG" ]
}

cmd_status() {
  echo "numa_balancing $(cat /proc/sys/kernel/numa_balancing 2>/dev/null || echo n/a)"
  echo "demotion_enabled $(cat /sys/kernel/mm/numa/demotion_enabled 2>/dev/null || echo n/a)"
  echo "numa_balancing_promote_rate_limit_MBps $(cat /proc/sys/kernel/numa_balancing_promote_rate_limit_MBps 2>/dev/null || echo n/a)"
  if debugfs_ready; then
    local f
    for f in scan_delay_ms scan_period_min_ms scan_period_max_ms scan_size_mb hot_threshold_ms; do
      [ -r "$NB_DEBUG/$f" ] && echo "$f $(cat "$NB_DEBUG/$f")"
    done
  fi
  if [ -d "$WI" ]; then
    echo "weighted_interleave $(for f in "$WI"/node*; do printf '%s:%s ' "${f##*/node}" "$(cat "$f")"; done)"
  else
    echo "weighted_interleave n/a (before 6.9)"
  fi
  if [ -d "$DAMON" ]; then echo "damon kdamonds $(cat "$DAMON/kdamonds/nr_kdamonds")"; else echo "damon n/a"; fi
  echo "vmstat $(vmstat_line)"
}

cmd_numab2() {
  local mode=${1:-}
  shift || true
  case "$mode" in
  on)
    local rate="" delay="" period="" size="" thresh=""
    while [ $# -gt 0 ]; do
      case "$1" in
      --rate) rate=${2:-}; num "$1" "$rate"; shift 2 ;;
      --scan-delay-ms) delay=${2:-}; num "$1" "$delay"; shift 2 ;;
      --scan-period-ms) period=${2:-}; num "$1" "$period"; shift 2 ;;
      --scan-size-mb) size=${2:-}; num "$1" "$size"; shift 2 ;;
      --hot-threshold-ms) thresh=${2:-}; num "$1" "$thresh"; shift 2 ;;
      *) die "numab2 on: unknown option '$1'" ;;
      esac
    done
    put /proc/sys/kernel/numa_balancing 2
    put /sys/kernel/mm/numa/demotion_enabled true
    [ -z "$rate" ] || put /proc/sys/kernel/numa_balancing_promote_rate_limit_MBps "$rate"
    if [ -n "$delay$period$size$thresh" ]; then
      debugfs_ready || die "no $NB_DEBUG (debugfs) for the scanner settings"
      [ -z "$delay" ] || put "$NB_DEBUG/scan_delay_ms" "$delay"
      [ -z "$period" ] || put "$NB_DEBUG/scan_period_min_ms" "$period"
      [ -z "$size" ] || put "$NB_DEBUG/scan_size_mb" "$size"
      [ -z "$thresh" ] || put "$NB_DEBUG/hot_threshold_ms" "$thresh"
    fi
    ;;
  off)
    put /proc/sys/kernel/numa_balancing 1
    put /sys/kernel/mm/numa/demotion_enabled false
    if debugfs_ready; then # the kernel's defaults
      put "$NB_DEBUG/scan_delay_ms" 1000
      put "$NB_DEBUG/scan_period_min_ms" 1000
      put "$NB_DEBUG/scan_size_mb" 256
      [ ! -e "$NB_DEBUG/hot_threshold_ms" ] || put "$NB_DEBUG/hot_threshold_ms" 1000
    fi
    ;;
  *) die "numab2: expected on or off" ;;
  esac
  cmd_status
}

# node_range NODE: "START END" (bytes) spanning the node's memory blocks
node_range() {
  local bs
  bs=$((16#$(cat /sys/devices/system/memory/block_size_bytes)))
  # shellcheck disable=SC2012  # names only
  ls -d "/sys/devices/system/node/node$1"/memory[0-9]* 2>/dev/null | sed 's/.*memory//' | sort -n |
    awk -v bs="$bs" 'NR == 1 { lo = $1 } { hi = $1 } END {
      if (NR == 0) exit 1
      printf "%.0f %.0f\n", lo * bs, (hi + 1) * bs }'
}

# damon_scheme DIR ACTION TARGET_NID NR_MIN NR_MAX AGE_MIN QUOTA_BYTES GOAL_METRIC GOAL_BP FAST
damon_scheme() {
  local s=$1
  put "$s/action" "$2"
  put "$s/target_nid" "$3"
  put "$s/access_pattern/sz/min" 4096
  put "$s/access_pattern/sz/max" 18446744073709551615
  put "$s/access_pattern/nr_accesses/min" "$4"
  put "$s/access_pattern/nr_accesses/max" "$5"
  put "$s/access_pattern/age/min" "$6"
  put "$s/access_pattern/age/max" 4294967295
  put "$s/quotas/bytes" "$7"
  put "$s/quotas/reset_interval_ms" 1000
  # quota goals on node memory (6.16+); older kernels reject the metric
  if [ -d "$s/quotas/goals" ]; then
    put "$s/quotas/goals/nr_goals" 1
    if echo "$8" >"$s/quotas/goals/0/target_metric" 2>/dev/null && [ -e "$s/quotas/goals/0/nid" ]; then
      put "$s/quotas/goals/0/target_value" "$9"
      put "$s/quotas/goals/0/nid" "${10}"
      echo "$PROG: ${s##*/kdamonds/}: $2 -> node $3, quota goal $8 $9 on node ${10}"
    else
      put "$s/quotas/goals/nr_goals" 0
      echo "$PROG: ${s##*/kdamonds/}: $2 -> node $3 (this kernel has no $8 quota goal; size quota only)"
    fi
  fi
}

damon_start() {
  local fast="" slow="" quota_mb=64 cold_ms=2000 sample_us=10000 aggr_us=200000 min_regions=10
  while [ $# -gt 0 ]; do
    case "$1" in
    --fast) fast=${2:-}; num "$1" "$fast"; shift 2 ;;
    --slow) slow=${2:-}; num "$1" "$slow"; shift 2 ;;
    --quota-mb) quota_mb=${2:-}; num "$1" "$quota_mb"; shift 2 ;;
    --cold-age-ms) cold_ms=${2:-}; num "$1" "$cold_ms"; shift 2 ;;
    --sample-us) sample_us=${2:-}; num "$1" "$sample_us"; shift 2 ;;
    --aggr-us) aggr_us=${2:-}; num "$1" "$aggr_us"; shift 2 ;;
    --min-regions) min_regions=${2:-}; num "$1" "$min_regions"; shift 2 ;;
    *) die "damon-tier start: unknown option '$1'" ;;
    esac
  done
  { [ -n "$fast" ] && [ -n "$slow" ]; } || die "damon-tier start needs --fast NODE and --slow NODE"
  { [ "$sample_us" -gt 0 ] && [ "$aggr_us" -ge "$sample_us" ]; } || die "--aggr-us must be >= --sample-us > 0"
  { [ "$min_regions" -ge 3 ] && [ "$min_regions" -le 10000 ]; } || die "--min-regions must be 3..10000"
  [ -d "$DAMON" ] || die "$DAMON missing (kernel without CONFIG_DAMON_SYSFS)"
  [ "$(cat "$DAMON/kdamonds/nr_kdamonds")" = 0 ] || die "kdamonds exist already (damon-tier stop, or someone else's)"
  put "$DAMON/kdamonds/nr_kdamonds" 2
  local k node range c max_acc age
  max_acc=$((aggr_us / sample_us))
  age=$(((cold_ms * 1000 + aggr_us - 1) / aggr_us)) # in aggregation intervals
  for k in 0 1; do
    if [ "$k" = 0 ]; then node=$slow; else node=$fast; fi
    range=$(node_range "$node") || die "node $node has no memory blocks"
    c=$DAMON/kdamonds/$k/contexts/0
    put "$DAMON/kdamonds/$k/contexts/nr_contexts" 1
    grep -qw paddr "$c/avail_operations" 2>/dev/null || die "no paddr operations in this kernel"
    put "$c/operations" paddr
    put "$c/monitoring_attrs/intervals/sample_us" "$sample_us"
    put "$c/monitoring_attrs/intervals/aggr_us" "$aggr_us"
    put "$c/monitoring_attrs/intervals/update_us" $((aggr_us * 5))
    put "$c/monitoring_attrs/nr_regions/max" $((min_regions > 1000 ? min_regions * 2 : 1000))
    put "$c/monitoring_attrs/nr_regions/min" "$min_regions"
    put "$c/targets/nr_targets" 1
    put "$c/targets/0/regions/nr_regions" 1
    put "$c/targets/0/regions/0/start" "${range% *}"
    put "$c/targets/0/regions/0/end" "${range#* }"
    put "$c/schemes/nr_schemes" 1
    if [ "$k" = 0 ]; then # slow node: accessed in at least 1 of 20 samples -> fast node
      damon_scheme "$c/schemes/0" migrate_hot "$fast" $(((max_acc + 19) / 20)) "$max_acc" 0 \
        $((quota_mb << 20)) node_mem_used_bp 9970 "$fast"
    else # fast node: not accessed for cold_ms -> slow node
      damon_scheme "$c/schemes/0" migrate_cold "$slow" 0 0 "$age" \
        $((quota_mb << 20)) node_mem_free_bp 50 "$fast"
    fi
    echo "$PROG: kdamond $k: node $node [$(printf '0x%x-0x%x' "${range% *}" "${range#* }")]"
  done
  put "$DAMON/kdamonds/0/state" on
  put "$DAMON/kdamonds/1/state" on
}

damon_stats() {
  [ -d "$DAMON" ] || die "$DAMON missing"
  local n k s f line
  n=$(cat "$DAMON/kdamonds/nr_kdamonds")
  for ((k = 0; k < n; k++)); do
    [ "$(cat "$DAMON/kdamonds/$k/state")" = on ] && put "$DAMON/kdamonds/$k/state" update_schemes_stats
    for s in "$DAMON/kdamonds/$k"/contexts/0/schemes/[0-9]*; do
      [ -d "$s" ] || continue
      line="kdamond $k $(cat "$s/action") -> node $(cat "$s/target_nid" 2>/dev/null || echo ?):"
      for f in nr_tried sz_tried nr_applied sz_applied qt_exceeds; do
        line="$line $f=$(cat "$s/stats/$f")"
      done
      echo "$line"
    done
  done
}

damon_stop() {
  [ -d "$DAMON" ] || return 0
  local n k
  n=$(cat "$DAMON/kdamonds/nr_kdamonds")
  for ((k = 0; k < n; k++)); do
    [ "$(cat "$DAMON/kdamonds/$k/state")" = off ] || put "$DAMON/kdamonds/$k/state" off
  done
  put "$DAMON/kdamonds/nr_kdamonds" 0
}

cmd_winterleave() {
  local spec=${1:-} nodes="" pair n w
  shift || true
  [ "${1:-}" = -- ] && shift
  { [ -n "$spec" ] && [ $# -gt 0 ]; } || die "usage: winterleave NODE:WEIGHT[,...] -- COMMAND [ARGS...]"
  [ -d "$WI" ] || die "$WI missing (weighted interleave needs Linux 6.9+)"
  for pair in ${spec//,/ }; do
    n=${pair%%:*} w=${pair#*:}
    num "node" "$n"
    num "weight" "$w"
    { [ "$w" -ge 1 ] && [ "$w" -le 255 ]; } || die "weight for node $n must be 1..255, got $w"
    put "$WI/node$n" "$w"
    nodes="$nodes${nodes:+,}$n"
  done
  # set_mempolicy(MPOL_WEIGHTED_INTERLEAVE = 6) survives exec
  exec "$PYTHON" -c '
import ctypes, os, sys
libc = ctypes.CDLL(None, use_errno=True)
mask = (ctypes.c_ulong * 16)()
for n in sys.argv[1].split(","):
    mask[int(n) // 64] |= 1 << (int(n) % 64)
if libc.syscall(238, 6, mask, 1024) != 0:  # SYS_set_mempolicy on x86-64
    sys.exit("kernel-peers: set_mempolicy(MPOL_WEIGHTED_INTERLEAVE): " + os.strerror(ctypes.get_errno()))
os.execvp(sys.argv[2], sys.argv[2:])
' "$nodes" "$@"
}

[ $# -gt 0 ] || die "usage: kernel-peers.sh status|vmstat|numab2|damon-tier|winterleave ... (see the header)"
sub=$1
shift
case "$sub" in
status) cmd_status ;;
vmstat) vmstat_line ;;
numab2) cmd_numab2 "$@" ;;
damon-tier)
  case "${1:-}" in
  start) shift; damon_start "$@" ;;
  stats) damon_stats ;;
  stop) damon_stop ;;
  *) die "damon-tier: expected start, stats or stop" ;;
  esac
  ;;
winterleave) cmd_winterleave "$@" ;;
*) die "unknown subcommand '$sub'" ;;
esac
