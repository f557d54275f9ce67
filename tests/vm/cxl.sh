#!/usr/bin/env bash
# CXL memory through the CXL bus. Runs INSIDE the NUMA test VM started with --cxl (a CXL
# type-3 device whose region the guest onlined through DAX and kmem as node
# $NUMA_VM_CXL_REGION_NODE):
#   scripts/numa-vm --cxl --build-dir build -- bash tests/vm/cxl.sh build
# Checks: the kernel's view (cxl list, daxctl, the node), strata's discovery (a CXL tier on
# that node, with the region as the reason), and a policy rule placing allocations there,
# verified page by page with move_pages(2).
set -euo pipefail
build=${1:?usage: cxl.sh BUILD_DIR}
run="$build/bin/strata-run"
place="$build/bin/strata-vm-place"
failures=0
fail() { echo "cxl: FAIL: $*"; failures=$((failures + 1)); }
ok() { echo "cxl: ok: $*"; }
expect() { # expect NAME OUTPUT PATTERN (extended regex)
  if echo "$2" | grep -Eq -- "$3"; then ok "$1"; else fail "$1: expected /$3/ in: $2"; fi
}
[ "${NUMA_VM:-}" = 1 ] || { echo "cxl: not inside the numa-vm guest"; exit 2; }
node=${NUMA_VM_CXL_REGION_NODE:-}
[ -n "$node" ] || { echo "cxl: no CXL region node (run numa-vm with --cxl)"; exit 2; }

# 1. The kernel: a committed region, its DAX device in system-ram mode on the node.
regions=$(cxl list -R -u)
echo "$regions"
expect "cxl list shows a committed region" "$regions" '"decode_state":"commit"'
dax=$(daxctl list)
expect "a system-ram DAX device targets node $node" "$(echo "$dax" | tr -d ' \n')" \
  "\"target_node\":$node,[^}]*\"mode\":\"system-ram\""
mem_kb=$(awk '/MemTotal/ { print $4 }' "/sys/devices/system/node/node$node/meminfo")
if [ "$mem_kb" -ge $((64 * 1024)) ]; then ok "node $node has $((mem_kb / 1024)) MiB"; else fail "node $node has only $mem_kb kB"; fi

# 2. Discovery: the node is a CXL tier because of its region, not only because it is CPU-less.
out=$("$run" --show-tiers)
echo "$out"
line=$(echo "$out" | awk -v n="$node" '$1 ~ /^[0-9]+$/ && $4 == n')
expect "node $node is a cxl tier named by its CXL region" "$line" \
  "^  [0-9]+ +cxl[0-9]* +cxl +$node .*CXL memory: region[0-9]+ \((pmem|ram), [0-9]+ MiB at 0x[0-9a-f]+\)"
expect "the CPU-less node 1 stays a CXL-like tier of its own" "$out" '^  1 +cxl +cxl +1 .*CPU-less'
tier=$(echo "$line" | awk '{print $1}')
name=$(echo "$line" | awk '{print $2}')

# 3. Placement: a size rule sends 2 MiB blocks to that tier; every page is on the node.
if [ -n "$name" ]; then
  out=$("$run" --policy "size>=1M -> $name" -- "$place" blocks 2M 16)
  expect "2 MiB blocks land on node $node ($name)" "$out" \
    "block-nodes: $node:16 pages: $node:[0-9]+ tiers: $tier:16\$"
  out=$("$run" --policy "size>=1M -> $name" -- "$place" blocks 64K 32)
  expect "64 KiB blocks stay on node 0" "$out" 'block-nodes: 0:32 pages: 0:[0-9]+ tiers: 0:32$'
fi

if [ "$failures" -ne 0 ]; then
  echo "cxl: $failures check(s) failed"
  exit 1
fi
echo "cxl: PASS"
