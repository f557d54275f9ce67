#!/usr/bin/env bash
# Multi-node placement tests. Runs INSIDE the NUMA test VM (node 0 CPUs + DRAM,
# node 1 CPU-less DRAM, node 2 KMEM-DAX PMEM, fs-dax ext4 at $NUMA_VM_PMEM_DIR):
#   scripts/numa-vm --build-dir build -- bash tests/vm/tiers.sh build
# Every placement is checked with move_pages(2) status queries on every page.
set -euo pipefail
build=${1:?usage: tiers.sh BUILD_DIR}
run="$build/bin/strata-run"
place="$build/bin/strata-vm-place"
pmem=${NUMA_VM_PMEM_DIR:-/mnt/pmem}
failures=0
fail() { echo "tiers: FAIL: $*"; failures=$((failures + 1)); }
ok() { echo "tiers: ok: $*"; }
expect() {  # expect NAME OUTPUT PATTERN (extended regex)
  if echo "$2" | grep -Eq -- "$3"; then ok "$1"; else fail "$1: expected /$3/ in: $2"; fi
}
[ "${NUMA_VM:-}" = 1 ] || { echo "tiers: not inside the numa-vm guest"; exit 2; }

# 1. Discovery: three tiers, fastest first, each for the right reason.
out=$("$run" --show-tiers)
echo "$out"
expect "discovery: tier 0 is DRAM with CPUs on node 0" "$out" '^  0 +dram +dram +0 .*DRAM with CPUs'
expect "discovery: tier 1 is the CPU-less node 1" "$out" '^  1 +cxl +cxl +1 .*CPU-less'
expect "discovery: tier 2 is KMEM-DAX node 2 in a lower kernel tier" "$out" \
  '^  2 +pmem +pmem-node +2 .*KMEM-DAX.*memory_tier(2[0-9]|[3-9][0-9])'
expect "kernel tiering state reported" "$out" '^kernel tiering: numa_balancing=[0-9]'
expect "hwloc sees 3 nodes" "$out" 'hwloc view \(3 NUMA nodes\)'

# 2. Size rules put blocks on each node-backed tier.
policy='size>=8M -> pmem; size>=1M -> cxl'
out=$("$run" --policy "$policy" -- "$place" blocks 64K 64)
expect "64 KiB blocks stay on node 0" "$out" 'block-nodes: 0:64 pages: 0:[0-9]+ tiers: 0:64$'
out=$("$run" --policy "$policy" -- "$place" blocks 2M 8)
expect "2 MiB blocks land on node 1 (cxl)" "$out" 'block-nodes: 1:8 pages: 1:[0-9]+ tiers: 1:8$'
out=$("$run" --policy "$policy" -- "$place" blocks 16M 4)
expect "16 MiB blocks land on node 2 (pmem)" "$out" 'block-nodes: 2:4 pages: 2:[0-9]+ tiers: 2:4$'

# 3. Capacity limit: cxl capped at 64 MiB spills to the next tier (pmem), never to DRAM.
out=$("$run" --tiers 'dram;cxl:cap=64M;pmem' --policy 'size>=1M -> cxl' -- "$place" blocks 1M 100)
expect "cap: blocks on cxl then pmem, none on DRAM" "$out" 'block-nodes: 1:[0-9]+ 2:[0-9]+ pages'
n1=$(echo "$out" | sed -n 's/.*block-nodes: 1:\([0-9]*\) .*/\1/p')
if [ -n "$n1" ] && [ "$n1" -le 64 ] && [ "$n1" -ge 48 ]; then ok "cap: $n1 MiB on cxl (cap 64M)"; else fail "cap: '$n1' blocks on cxl, expected 48..64: $out"; fi

# 4. The program's own anonymous mmaps follow kind=mmap rules.
out=$("$run" --policy 'kind=mmap, size>=1M -> cxl' -- "$place" mmap 8M)
expect "mmap of 8 MiB lands on node 1" "$out" 'mmap size=8388608 pages: 1:2048 tier: 1$'
out=$("$run" --policy 'kind=mmap, size>=1M -> cxl' -- "$place" mmap 512K)
expect "mmap below the rule stays on node 0" "$out" 'pages: 0:128 tier: 0$'

# 5. PMEM file heap on the fs-dax mount.
out=$("$run" --tiers "dram;cxl;pmem;pfile:path=$pmem,size=128M" --policy 'size>=4M -> pfile' \
  --log info -- "$place" file 8M 2>&1)
echo "$out"
expect "file heap maps a file on the fs-dax mount" "$out" "backing: $pmem/.* tier: 3$"
expect "file heap is real DAX (libpmem2 byte granularity)" "$out" "byte-addressable persistent memory"

# 6. Default: no configuration, everything on DRAM node 0.
out=$("$run" -- "$place" blocks 4M 4)
expect "default placement: node 0" "$out" 'block-nodes: 0:4 pages: 0:[0-9]+ tiers: 0:4$'

# 7. STRATA_POLICY rules and the strata.h API (tests/integration/policy_api.cc,
#    preloaded): every block's pages must be on its tier's node ('slow' = node 1).
pa="$build/tests/integration/policy_api"
declare -A pa_policy=(
  [size]='size>=64K -> slow'
  [site]='site=make_cold_* -> slow'
  [ratio]='size=4000 -> dram:1,slow:3'
  [hint]='hint=scratch -> slow'
  [api]=''
)
for c in size site ratio hint api; do
  args=(--tiers 'dram;slow:nodes=1')
  [ -n "${pa_policy[$c]}" ] && args+=(--policy "${pa_policy[$c]}")
  if out=$("$run" "${args[@]}" -- "$pa" --case "$c" --nodes 2>&1); then
    ok "policy case $c: placement and pages on the rule's node"
  else
    fail "policy case $c: $out"
  fi
done
if out=$("$run" --tiers "dram;slow:nodes=1;pm:path=$pmem,size=64M" -- \
  "$build/tests/integration/pmem_region" --parent "$pmem" 2>&1); then
  ok "named persistent regions on the fs-dax mount"
else
  fail "named persistent regions: $(echo "$out" | tail -n 5)"
fi

if [ "$failures" -ne 0 ]; then
  echo "tiers: $failures check(s) failed"
  exit 1
fi
echo "tiers: PASS"
