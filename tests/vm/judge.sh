#!/usr/bin/env bash
# The judge (bench/judge, scripts/numa-vm --judge) against the hot-set driver's own
# estimate. Runs INSIDE the NUMA test VM, started with --judge FILE where FILE is in a
# directory the guest shares (the build dir):
#   NUMA_VM_CPUS=1 NUMA_VM_ACCEL=tcg scripts/numa-vm --build-dir build \
#     --judge build/judge-vm.csv -- bash tests/vm/judge.sh build
# For each placement the driver (strata-bench-hotset, 32 MiB footprint, 4 MiB hot set)
# runs under numactl; the judge's window covers the driver's footprint mapping only.
# The driver reads every page's node with move_pages(2) and weighs it by its accesses:
# its fast_hit (node 0), access-weighted over the intervals, must match the judge's
# share of node 0 within 0.05. Under --membind=2 the judge must also see node 2 serve
# >= 95% (the PMEM node's address range, which needs QEMU's address translation).
set -euo pipefail
build=${1:?usage: judge.sh BUILD_DIR}
failures=0
fail() { echo "judge: FAIL: $*"; failures=$((failures + 1)); }
ok() { echo "judge: ok: $*"; }
[ "${NUMA_VM:-}" = 1 ] || { echo "judge: not inside the numa-vm guest"; exit 2; }
[ -n "${NUMA_VM_JUDGE_CTL:-}" ] || { echo "judge: the VM was started without --judge FILE"; exit 2; }
out=${NUMA_VM_JUDGE_OUT:?}
[ -r "$out" ] || { echo "judge: $out (the judge's output) is not readable in the guest: put it in the build dir"; exit 2; }
ctl="$build/bin/strata-judge-ctl"
summary=(/usr/bin/python3 "$build/bin/strata-judge-summary") # not a pyenv shim: slow under TCG
footprint=$((32 << 20))
tolerance=0.05

# run_placement NAME NUMACTL-ARGS...: prints "driver JUDGE0 JUDGE2 SAMPLES"
# The driver fills its footprint, prints its CSV header and waits (--wait-for) until the
# judge's window is in force: the window then covers its access intervals, whatever the
# guest's scheduler does with the script and the driver on one vCPU (on 6.12 a window
# started as soon as the mapping appeared came into force after the driver had finished).
run_placement() {
	local name=$1 csv go pid i
	shift
	csv=$(mktemp)
	go=$(mktemp -u)
	numactl "$@" "$build/bin/strata-bench-hotset" --alloc=block --footprint=$footprint --hot=4M \
		--hot-offset=4M --intervals=6 --phase-at=3 --interval-ms=300 --fast-node=0 \
		--wait-for="$go" --csv >"$csv" &
	pid=$!
	for ((i = 0; i < 1200; i++)); do # the header: the footprint is mapped and filled
		if [ -s "$csv" ] || ! kill -0 "$pid" 2>/dev/null; then break; fi
		sleep 0.05
	done
	"$ctl" window "$name" "$pid" $((footprint / 2))
	"$ctl" wait # the plugin has read the window
	touch "$go"
	if ! wait "$pid"; then # (a subshell: report on stderr, check() fails on "none")
		echo "judge: $name: strata-bench-hotset failed" >&2
		: >"$csv"
	fi
	"$ctl" off
	"$ctl" wait # the plugin has written the window's last row
	rm -f "$go"
	local driver judge
	driver=$(awk -F, 'NR == 1 { for (i = 1; i <= NF; i++) c[$i] = i; next }
		{ a += $c["accesses"]; h += $c["fast_hit"] * $c["accesses"] }
		END { if (a > 0) printf "%.4f", h / a; else print "none" }' "$csv")
	judge=$("${summary[@]}" "$out" --window "$name" --totals | sed -n "s/^window $name //p")
	echo "judge: $name: driver fast_hit $driver; judge $judge" >&2
	rm -f "$csv"
	echo "$driver $(field share_node0 "$judge") $(field share_node2 "$judge") $(field samples "$judge")"
}
field() { sed -n "s/.*\\b$1=\\([0-9.]*\\).*/\\1/p" <<<"$2"; }
check() { # check NAME DRIVER JUDGE0 SAMPLES
	if [ "$2" = none ] || [ -z "$3" ] || [ "${4:-0}" -lt 10000 ]; then
		fail "$1: no measurement (driver '$2', judge share '$3', $4 samples)"
	elif awk -v a="$2" -v b="$3" -v t=$tolerance 'BEGIN { d = a - b; exit !(d <= t && -d <= t) }'; then
		ok "$1: judge's node-0 share $3 agrees with the driver's fast_hit $2 within $tolerance ($4 samples)"
	else
		fail "$1: judge's node-0 share $3 vs the driver's fast_hit $2: more than $tolerance apart"
	fi
}

# (no process substitution: the guest has no /dev/fd)
r=$(run_placement membind0 --membind=0)
read -r d j0 _ n <<<"$r"
check membind0 "$d" "$j0" "$n"
r=$(run_placement interleave01 --interleave=0,1)
read -r d j0 _ n <<<"$r"
check interleave01 "$d" "$j0" "$n"
r=$(run_placement membind2 --membind=2)
read -r d j0 j2 n <<<"$r"
check membind2 "$d" "$j0" "$n"
if awk -v s="${j2:-0}" 'BEGIN { exit !(s >= 0.95) }'; then
	ok "membind2: the judge sees node 2 serve $j2 of the accesses"
else
	fail "membind2: the judge sees node 2 serve ${j2:-nothing} of the accesses, expected >= 0.95"
fi

"${summary[@]}" "$out" --totals >&2
if [ "$failures" -gt 0 ]; then
	echo "judge: $failures check(s) failed"
	exit 1
fi
echo "judge: all checks passed"
