#!/usr/bin/env bash
# Smoke test of the NUMA test VM topology. Runs INSIDE the guest:
#   scripts/numa-vm -- bash tests/vm/smoke.sh
# Checks: 3 NUMA nodes; nodes 1 and 2 have no CPUs; node 2 is KMEM DAX system RAM in a
# lower memory tier than node 0; the fs-dax ext4 mount; memory binding to nodes 1 and 2.
# Exits non-zero with a message naming the first failed check.
set -euo pipefail

fail() {
	echo "smoke: FAIL: $*" >&2
	exit 1
}
ok() { echo "smoke: ok: $*"; }

if [ "${NUMA_VM:-}" != 1 ]; then
	fail "not inside the numa-vm guest (run: scripts/numa-vm -- bash tests/vm/smoke.sh)"
fi
pmem_dir=${NUMA_VM_PMEM_DIR:-/mnt/pmem}
# Debian's python3 by default: a pyenv shim on PATH costs seconds per call under TCG.
PYTHON=${PYTHON:-python3}
if [ "$PYTHON" = python3 ] && [ -x /usr/bin/python3 ]; then PYTHON=/usr/bin/python3; fi
nodes=/sys/devices/system/node

# --- NUMA nodes ---
online=$(cat "$nodes/online")
[ "$online" = 0-2 ] || fail "expected online NUMA nodes 0-2, got '$online'"
n=$(numactl --hardware | sed -n 's/^available: \([0-9]*\) nodes.*/\1/p')
[ "$n" = 3 ] || fail "numactl --hardware reports '$n' nodes, expected 3"
ok "3 NUMA nodes ($online)"

cpus0=$(cat "$nodes/node0/cpulist")
[ -n "$cpus0" ] || fail "node 0 has no CPUs"
for i in 1 2; do
	c=$(cat "$nodes/node$i/cpulist")
	[ -z "$c" ] || fail "node $i should be CPU-less but has CPUs $c"
done
ok "node 0 CPUs $cpus0; nodes 1 and 2 CPU-less"

node_mem_kb() { awk '/MemTotal/ { print $4 }' "$nodes/node$1/meminfo"; }
for i in 0 1 2; do
	kb=$(node_mem_kb "$i")
	[ "$kb" -gt $((100 * 1024)) ] || fail "node $i has only ${kb} kB of memory"
	echo "smoke: node $i MemTotal $((kb / 1024)) MiB"
done

# --- node 2 = KMEM DAX ---
daxjson=$(daxctl list)
echo "$daxjson" | tr -d ' \n' | grep -q '"mode":"system-ram"' ||
	fail "no dax device in system-ram mode: $daxjson"
echo "$daxjson" | tr -d ' \n' | grep -q '"target_node":2' ||
	fail "the system-ram dax device does not target node 2: $daxjson"
[ -d /sys/bus/dax/drivers/kmem ] || fail "kmem driver not loaded"
kmem_devs=""
for d in /sys/bus/dax/drivers/kmem/dax*; do
	[ -e "$d" ] && kmem_devs="$kmem_devs ${d##*/}"
done
[ -n "$kmem_devs" ] || fail "no dax device bound to the kmem driver"
ok "node 2 is KMEM DAX system RAM (kmem:$kmem_devs)"

# --- memory tiers ---
tiers=/sys/devices/virtual/memory_tiering
[ -d "$tiers" ] || fail "$tiers missing (kernel without memory tiering?)"
tier_of() { # memory_tierN whose nodelist contains node $1 -> N
	local t list
	for t in "$tiers"/memory_tier*; do
		list=$(cat "$t/nodelist")
		# expand "0-1,3" and test membership
		if echo "$list" | tr ',' '\n' | awk -F- -v n="$1" '{ hi = ($2 == "" ? $1 : $2); if (n >= $1 && n <= hi) f = 1 } END { exit !f }'; then
			echo "${t##*memory_tier}"
			return 0
		fi
	done
	return 1
}
for t in "$tiers"/memory_tier*; do
	echo "smoke: ${t##*/} nodelist $(cat "$t/nodelist")"
done
t0=$(tier_of 0) || fail "node 0 is in no memory tier"
t1=$(tier_of 1) || fail "node 1 is in no memory tier"
t2=$(tier_of 2) || fail "node 2 is in no memory tier"
[ "$t2" -gt "$t0" ] || fail "node 2 (tier $t2) is not in a lower tier than node 0 (tier $t0)"
ok "node 2 in memory_tier$t2, below node 0 (memory_tier$t0); node 1 in memory_tier$t1"
echo "smoke: demotion_enabled $(cat /sys/kernel/mm/numa/demotion_enabled 2>/dev/null || echo n/a)"

# --- HMAT performance attributes (qemu -numa hmat-lb) ---
lat() { cat "$nodes/node$1/access0/initiators/read_latency" 2>/dev/null || echo none; }
for i in 0 1 2; do
	a=$nodes/node$i/access0/initiators
	echo "smoke: node $i HMAT read_latency $(lat "$i") ns read_bandwidth $(cat "$a/read_bandwidth" 2>/dev/null || echo none) MB/s"
done
l0=$(lat 0) l1=$(lat 1) l2=$(lat 2)
case "$l0$l1$l2" in *none*) fail "HMAT attributes missing under $nodes/node*/access0/initiators" ;; esac
if [ "$l0" -ge "$l1" ] || [ "$l1" -ge "$l2" ]; then
	fail "HMAT latencies not increasing: $l0 $l1 $l2"
fi
ok "HMAT latencies node0 < node1 < node2 ($l0 < $l1 < $l2 ns)"

# --- fs-dax ---
mnt=$(awk -v d="$pmem_dir" '$2 == d' /proc/mounts)
[ -n "$mnt" ] || fail "$pmem_dir is not mounted"
echo "smoke: $mnt"
read -r dev _ fstype opts _ <<<"$mnt"
[ "$fstype" = ext4 ] || fail "$pmem_dir is $fstype, expected ext4"
case ",$opts," in
*,dax,* | *,dax=always,*) ;;
*) fail "$pmem_dir is not mounted with dax (options $opts)" ;;
esac
case "$dev" in /dev/pmem*) ;; *) fail "$pmem_dir is on $dev, expected /dev/pmem*" ;; esac
# MAP_SYNC (only allowed on DAX files) proves loads/stores go to the NVDIMM directly.
"$PYTHON" - "$pmem_dir/smoke.bin" <<'EOF' || fail "MAP_SYNC mapping of a file on $pmem_dir failed"
import mmap, os, sys
MAP_SHARED_VALIDATE, MAP_SYNC = 0x03, 0x80000
fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT, 0o644)
os.ftruncate(fd, 4 << 20)
m = mmap.mmap(fd, 4 << 20, flags=MAP_SHARED_VALIDATE | MAP_SYNC)
m[0:5] = b"hello"
m.close()
os.close(fd)
assert open(sys.argv[1], "rb").read(5) == b"hello"
os.unlink(sys.argv[1])
EOF
ok "$pmem_dir: ext4 on $dev with $opts, MAP_SYNC works"

# --- binding memory to the CPU-less nodes ---
# Allocates and touches 64 MiB, then counts the pages of the process on each node.
bind_check() {
	numactl --membind="$1" "$PYTHON" -c '
import re, sys
x = bytearray(64 << 20)
for i in range(0, len(x), 4096):
    x[i] = 1
pages = {}
for line in open("/proc/self/numa_maps"):
    for node, cnt in re.findall(r" N(\d+)=(\d+)", line):
        pages[int(node)] = pages.get(int(node), 0) + int(cnt)
want = int(sys.argv[1])
print("smoke: membind=%d pages per node %s" % (want, pages))
assert pages.get(want, 0) * 4096 >= (64 << 20), "64 MiB not on node %d" % want
' "$1"
}
bind_check 1 || fail "numactl --membind=1 python3 (64 MiB) failed"
bind_check 2 || fail "numactl --membind=2 python3 (64 MiB) failed"
ok "64 MiB bound to node 1 and to node 2"

# --- NUMA balancing ---
nb=/proc/sys/kernel/numa_balancing
echo "smoke: numa_balancing $(cat $nb)"
old=$(cat $nb)
if echo 2 >"$nb" 2>/dev/null && [ "$(cat $nb)" = 2 ]; then
	echo "smoke: numa_balancing=2 (memory tiering mode) is available"
else
	echo "smoke: numa_balancing=2 (memory tiering mode) NOT available"
fi
echo "$old" >"$nb"

echo "smoke: PASS"
