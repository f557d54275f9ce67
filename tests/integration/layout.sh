#!/usr/bin/env bash
# The tier heaps' address layout (allocator/layout.h) and its fallback.
#
#   layout.sh LIBSTRATA LAYOUT_PROBE OCCUPY_AUDIT STRESS
#
# 1. Default: the reservation gets its fixed address; the debug log says so and
#    every tier-0 block is in the fast-free range.
# 2. The range is taken before strata loads (an LD_AUDIT module maps a page in
#    it): strata reserves elsewhere, says that free takes the slow path, no block
#    lands in the taken range, and the checksummed multi-threaded stress test
#    passes, with the default policy and with a capped first tier.
# 3. A capped first tier: its blocks come from the side slot, outside the
#    fast-free range, so every free of them is counted (spill still works).
set -u
lib=$1 probe=$2 audit=$3 stress=$4
fail=0
clean=(-u LD_PRELOAD -u LD_AUDIT)
while IFS='=' read -r var _; do
	case $var in STRATA_*) clean+=(-u "$var") ;; esac
done < <(env)
# An audit module's namespace takes static TLS that libstrata's initial-exec
# variables need: give the loader more room (a glibc tunable, not a strata knob).
tls=GLIBC_TUNABLES=glibc.rtld.optional_static_tls=65536

expect() {  # expect NAME PATTERN OUTPUT
	if grep -q -- "$2" <<<"$3"; then
		echo "ok: $1"
	else
		echo "FAIL: $1: expected /$2/ in:"
		echo "$3" | sed 's/^/  | /'
		fail=1
	fi
}
run() {  # run NAME EXPECTED_RC CMD...
	local name=$1 want=$2
	shift 2
	out=$(env "${clean[@]}" "$@" 2>&1)
	rc=$?
	if [ "$rc" != "$want" ]; then
		echo "FAIL: $name: exit $rc (expected $want):"
		echo "$out" | sed 's/^/  | /'
		fail=1
	fi
}

run "fixed address" 0 LD_PRELOAD="$lib" STRATA_LOG=debug "$probe" fixed
expect "fixed address: debug log" "at 0x200000000000 (fixed: fast free path)" "$out"
expect "fixed address: blocks" "4000 of 4000 blocks in the fast-free range, 0 damaged" "$out"

run "range taken" 0 "$tls" LD_AUDIT="$audit" LD_PRELOAD="$lib" STRATA_LOG=debug "$probe" moved
expect "range taken: debug log" "(free takes the slow path)" "$out"
expect "range taken: blocks" "0 of 4000 blocks in the fast-free range, 0 damaged" "$out"

run "range taken: stress" 0 "$tls" LD_AUDIT="$audit" LD_PRELOAD="$lib" "$stress"
run "range taken: stress, capped first tier" 0 "$tls" LD_AUDIT="$audit" LD_PRELOAD="$lib" \
	"STRATA_TIERS=dram:nodes=0,cap=64M;slow:nodes=0" "$stress" --expect-tier slow
[ $fail = 0 ] && echo "ok: stress passes with the range taken (default and capped first tier)"

run "capped first tier" 0 LD_PRELOAD="$lib" "STRATA_TIERS=dram:nodes=0,cap=64M;slow:nodes=0" \
	"$probe" moved
expect "capped first tier: blocks" "0 of 4000 blocks in the fast-free range, 0 damaged" "$out"
exit $fail
