#!/bin/sh
# PID 1 of the strata NUMA test VM. scripts/numa-vm copies this file to /init of a small
# initramfs (busybox-static + the kernel modules listed in /modules.list) and boots Debian's
# kernel with it. Busybox sh; keep it POSIX.
#
# Steps: load modules -> mount the host's / (9p, read-only) under a tmpfs overlay at /host
# -> mount the per-run share (/run/numa-vm) and the writable shares (build dir, --rw) ->
# NVDIMM 0 becomes KMEM DAX system RAM (NUMA node 2), NVDIMM 1 becomes fs-dax ext4 at
# /mnt/pmem -> chroot /host bash /run/numa-vm/cmd.sh, output on the virtio port
# "strata.out" -> exit status to /run/numa-vm/status -> power off.
# Progress and errors go to the virtio port "strata.log" (host stderr) and to ttyS0.

# initramfs applets live in /bin; the rest is for chroot /host
PATH=/bin:/usr/sbin:/usr/bin:/sbin
export PATH
RUN=/host/run/numa-vm   # the host's per-run directory, as seen from the initramfs
LOGDEV=/dev/console
OUTDEV=
RUN_MOUNTED=
PMEM_DIR=/mnt/pmem

log() {
	echo "$*" >/dev/console 2>/dev/null
	[ "$LOGDEV" = /dev/console ] || echo "$*" >"$LOGDEV" 2>/dev/null
}

halt_vm() {
	sync
	poweroff -f
	echo o >/proc/sysrq-trigger
	sleep 60
}

# Setup failure: tell the host why (status file, if the run share is mounted) and stop.
fail() {
	log "guest setup failed: $*"
	if [ -n "$RUN_MOUNTED" ]; then
		echo "fail $*" >"$RUN/status" 2>/dev/null
	fi
	halt_vm
}

# run_host CMD ARGS...: run a host binary inside the (not yet chrooted) host tree; output
# goes to the console log, and on failure the last lines of it to the log port as well.
run_host() {
	chroot /host "$@" >/tmp/run_host.out 2>&1
	rc=$?
	cat /tmp/run_host.out >/dev/console
	if [ $rc -ne 0 ]; then
		tail -n 5 /tmp/run_host.out | while IFS= read -r line; do log "  | $line"; done
	fi
	return $rc
}

/bin/busybox mkdir -p /proc /sys /dev /tmp
/bin/busybox --install -s /bin
mount -t proc proc /proc || fail "mount /proc"
mount -t sysfs sysfs /sys || fail "mount /sys"
mount -t devtmpfs devtmpfs /dev || fail "mount /dev"
mount -t tmpfs -o mode=1777 tmpfs /tmp || fail "mount /tmp"

# --- kernel modules (dependency order precomputed on the host) ---
while read -r ko; do
	[ -n "$ko" ] || continue
	name=$(basename "$ko" .ko | tr - _)
	[ -d "/sys/module/$name" ] && continue
	insmod "/modules/$ko" 2>/tmp/insmod.err || fail "insmod $ko: $(cat /tmp/insmod.err)"
done </modules.list

# --- virtio serial ports: strata.log (progress, host stderr), strata.out (command output) ---
i=0
while [ $i -lt 50 ]; do
	for p in /sys/class/virtio-ports/vport*; do
		[ -r "$p/name" ] || continue
		case "$(cat "$p/name")" in
		strata.log) LOGDEV=/dev/${p##*/} ;;
		strata.out) OUTDEV=/dev/${p##*/} ;;
		esac
	done
	[ -n "$OUTDEV" ] && [ "$LOGDEV" != /dev/console ] && break
	i=$((i + 1))
	sleep 0.1
done
[ -n "$OUTDEV" ] || fail "virtio port strata.out not found"
log "guest: kernel $(uname -r) up, modules loaded"

# --- host root: 9p (read-only) + tmpfs overlay, so the guest can write anywhere; writes
# outside the writable shares are discarded at power-off ---
mkdir -p /lower /rw /host
opts9p=trans=virtio,version=9p2000.L,msize=512000
mount -t 9p -o "ro,cache=loose,$opts9p" hostroot /lower 2>/tmp/m.err ||
	fail "mount 9p hostroot: $(cat /tmp/m.err)"
mount -t tmpfs -o mode=755 rwlayer /rw || fail "mount tmpfs for overlay"
mkdir -p /rw/upper /rw/work
mount -t overlay -o lowerdir=/lower,upperdir=/rw/upper,workdir=/rw/work overlay /host 2>/tmp/m.err ||
	fail "mount overlay on 9p: $(cat /tmp/m.err)"
[ -x /host/bin/bash ] || fail "host root has no /bin/bash"

mount -t proc proc /host/proc || fail "mount /host/proc"
mount -t sysfs sysfs /host/sys || fail "mount /host/sys"
mount -t devtmpfs devtmpfs /host/dev || fail "mount /host/dev"
mkdir -p /host/dev/pts /host/dev/shm
mount -t devpts -o newinstance,ptmxmode=0666 devpts /host/dev/pts || fail "mount /host/dev/pts"
mount -t tmpfs -o mode=1777 shm /host/dev/shm || fail "mount /host/dev/shm"
mount -t tmpfs -o mode=755 run /host/run || fail "mount /host/run"
mkdir -p "$RUN"
mount -t 9p -o "cache=none,$opts9p" run "$RUN" 2>/tmp/m.err || fail "mount 9p run share: $(cat /tmp/m.err)"
RUN_MOUNTED=1
[ -r "$RUN/cmd.sh" ] || fail "run share has no cmd.sh"

# Writable shares: lines "TAG ABSOLUTE-PATH" in rw.list.
if [ -r "$RUN/rw.list" ]; then
	while read -r tag path; do
		[ -n "$tag" ] || continue
		mkdir -p "/host$path" 2>/dev/null
		mount -t 9p -o "cache=mmap,$opts9p" "$tag" "/host$path" 2>/tmp/m.err ||
			fail "mount writable share $path: $(cat /tmp/m.err)"
	done <"$RUN/rw.list"
fi

# --- NVDIMMs (qemu slot 0: KMEM DAX -> node 2; slot 1: fs-dax ext4) ---
# regions appear asynchronously after nfit loads
count_regions() {
	n=0
	for r in /sys/bus/nd/devices/region*; do
		[ -e "$r" ] && n=$((n + 1))
	done
	echo $n
}
i=0
while [ "$(count_regions)" -lt 2 ]; do
	i=$((i + 1))
	[ $i -le 100 ] || fail "NVDIMM regions did not appear (nfit: is -machine nvdimm=on set?)"
	sleep 0.1
done
# nmemN -> region, by the NFIT device handle qemu derives from the slot (slot + 1)
region_of_slot() {
	want=$(($1 + 1))
	for r in /sys/bus/nd/devices/region*; do
		nmem=$(cut -d, -f1 "$r/mapping0" 2>/dev/null) || continue
		h=$(cat "/sys/bus/nd/devices/$nmem/nfit/handle" 2>/dev/null) || continue
		if [ "$((h))" -eq "$want" ]; then
			echo "${r##*/}"
			return 0
		fi
	done
	return 1
}
# first "NAME":"VALUE" of the last run_host command's JSON output
json_field() {
	sed -n "s/.*\"$1\" *: *\"\([^\"]*\)\".*/\1/p" /tmp/run_host.out | head -n1
}
R_KMEM=$(region_of_slot 0) || fail "no NVDIMM region for qemu slot 0"
R_FSDAX=$(region_of_slot 1) || fail "no NVDIMM region for qemu slot 1"

run_host ndctl disable-region all || fail "ndctl disable-region all"
run_host ndctl init-labels -f all || fail "ndctl init-labels all"
run_host ndctl enable-region all || fail "ndctl enable-region all"

# Kernels that auto-online hot-added memory (Debian's 6.12) would online it before daxctl
# can pick the zone, and daxctl refuses ("kernel policy will auto-online memory"): let
# daxctl online it (ZONE_MOVABLE), as on 6.1.
AUTO_ONLINE=/sys/devices/system/memory/auto_online_blocks
if [ -w "$AUTO_ONLINE" ] && [ "$(cat "$AUTO_ONLINE")" != offline ]; then
	echo offline >"$AUTO_ONLINE" || fail "cannot set $AUTO_ONLINE to offline"
fi
run_host ndctl create-namespace -r "$R_KMEM" -m devdax || fail "ndctl create-namespace -r $R_KMEM -m devdax"
DAXDEV=$(json_field chardev)
[ -n "$DAXDEV" ] || fail "ndctl create-namespace printed no dax chardev"
run_host daxctl reconfigure-device --mode=system-ram "$DAXDEV" ||
	fail "daxctl reconfigure-device --mode=system-ram $DAXDEV"
[ -d /sys/devices/system/node/node2 ] || fail "KMEM DAX memory did not create NUMA node 2"

run_host ndctl create-namespace -r "$R_FSDAX" -m fsdax || fail "ndctl create-namespace -r $R_FSDAX -m fsdax"
PMEMDEV=$(json_field blockdev)
[ -b "/dev/$PMEMDEV" ] || fail "no /dev/pmem* block device for $R_FSDAX (got '$PMEMDEV')"
run_host mkfs.ext4 -q -F -b 4096 "/dev/$PMEMDEV" || fail "mkfs.ext4 /dev/$PMEMDEV"
mkdir -p "/host$PMEM_DIR"
mount -t ext4 -o dax "/dev/$PMEMDEV" "/host$PMEM_DIR" 2>/tmp/m.err ||
	fail "mount -o dax /dev/$PMEMDEV $PMEM_DIR: $(cat /tmp/m.err)"
chmod 1777 "/host$PMEM_DIR"

# --- CXL (numa-vm --cxl): region on the type-3 device -> devdax namespace -> kmem ---
# QEMU 7.2 emulates persistent type-3 devices only, so the region is a pmem region: the
# kernel's cxl_pmem turns it into an nd region, where a devdax namespace is created and
# onlined like the NVDIMM above. The new node is the one of the CXL window (node 3).
setup_cxl() {
	i=0
	while [ ! -e /sys/bus/cxl/devices/mem0 ] || [ ! -e /sys/bus/cxl/devices/decoder0.0 ]; do
		i=$((i + 1))
		[ $i -le 100 ] || fail "CXL memdev mem0 or root decoder decoder0.0 did not appear (/sys/bus/cxl/devices: $(ls /sys/bus/cxl/devices 2>&1 | tr "\n" " "))"
		sleep 0.1
	done
	run_host cxl list -M -D -u || fail "cxl list"
	size_mb=$(cat "$RUN/cxl")
	run_host cxl create-region -d decoder0.0 -t pmem -w 1 -s "${size_mb}M" -m mem0 ||
		fail "cxl create-region -d decoder0.0 -t pmem mem0"
	CXL_REGION=$(json_field region)
	[ -n "$CXL_REGION" ] || fail "cxl create-region printed no region"
	# the nd region the kernel made of it: the one that is neither NVDIMM region
	ND_REGION=""
	i=0
	while [ -z "$ND_REGION" ]; do
		for r in /sys/bus/nd/devices/region*; do
			[ -e "$r" ] || continue
			case "${r##*/}" in "$R_KMEM" | "$R_FSDAX") continue ;; esac
			ND_REGION=${r##*/}
		done
		i=$((i + 1))
		[ -n "$ND_REGION" ] || [ $i -le 100 ] || fail "no nd region for CXL $CXL_REGION"
		[ -n "$ND_REGION" ] || sleep 0.1
	done
	run_host ndctl create-namespace -r "$ND_REGION" -m devdax ||
		fail "ndctl create-namespace -r $ND_REGION -m devdax (CXL $CXL_REGION)"
	CXL_DAX=$(json_field chardev)
	[ -n "$CXL_DAX" ] || fail "ndctl create-namespace printed no dax chardev for $CXL_REGION"
	run_host daxctl reconfigure-device --mode=system-ram "$CXL_DAX" ||
		fail "daxctl reconfigure-device --mode=system-ram $CXL_DAX"
	CXL_NODE=$(cat "/sys/bus/dax/devices/$CXL_DAX/target_node")
	[ -d "/sys/devices/system/node/node$CXL_NODE" ] || fail "CXL memory did not create node $CXL_NODE"
	echo "$CXL_NODE" >"$RUN/cxl-node"
	log "guest: CXL $CXL_REGION -> $ND_REGION -> $CXL_DAX system-ram on node $CXL_NODE"
}
if [ -r "$RUN/cxl" ]; then setup_cxl; fi

nodes=""
for n in /sys/devices/system/node/node[0-9]*; do
	cpus=$(cat "$n/cpulist")
	mem=$(awk '/MemTotal/ { printf "%d", $4 / 1024 }' "$n/meminfo")
	nodes="$nodes ${n##*/}(cpus=${cpus:--},${mem}M)"
done
log "guest: nodes ready:$nodes; $DAXDEV system-ram, /dev/$PMEMDEV on $PMEM_DIR (dax)"
echo ready >"$RUN/ready"

# --- the command ---
chroot /host /bin/bash /run/numa-vm/cmd.sh </dev/null >"$OUTDEV" 2>&1
rc=$?
echo "$rc" >"$RUN/status" || log "guest: cannot write exit status"
halt_vm
