#!/usr/bin/env bash
# Forked children that write statistics at exit: bash's subshells and command
# substitutions under the twotier mode with STRATA_STATS set.
#
#   fork_stats.sh LIBSTRATA [RUNS]
#
# Runs workloads/bash.sh RUNS times (default 4) with two tiers on node 0, blocks
# >= 4 KiB on the second, and STRATA_STATS=<file>. Fails when a run prints
# "Segmentation fault" (or any other signal report of bash's), exits non-zero,
# or when the statistics file has fewer blocks than the run's forked children.
# Before the fix, a child flushed the explicit thread cache it inherited and
# jemalloc's statistics merge crashed in about half of the runs; the runs differ
# only by address-space layout, hence several.
set -u
lib=${1:?usage: fork_stats.sh LIBSTRATA [RUNS]}
runs=${2:-4}
here=$(cd "$(dirname "$0")" && pwd)
fail() {
	echo "FAIL: $*"
	exit 1
}
command -v seq >/dev/null 2>&1 || { echo "SKIP: seq is not installed"; exit 77; }
tmp=$(mktemp -d) || fail "mktemp"
trap 'rm -rf "$tmp"' EXIT
for r in $(seq 1 "$runs"); do
	stats=$tmp/stats.$r
	env -u LD_PRELOAD $(env | sed -n 's/^\(STRATA_[A-Z_]*\)=.*/-u \1/p') \
		LD_PRELOAD="$lib" STRATA_STATS="$stats" \
		"STRATA_TIERS=dram:nodes=0;slow:nodes=0" "STRATA_POLICY=size>=4K -> slow" \
		bash "$here/workloads/bash.sh" >"$tmp/out" 2>"$tmp/err"
	st=$?
	if grep -qiE 'segmentation fault|aborted|bus error|killed' "$tmp/err"; then
		cat "$tmp/err"
		fail "run $r of $runs: a forked child died (stderr above)"
	fi
	[ "$st" = 0 ] || { cat "$tmp/err"; fail "run $r of $runs: exit status $st"; }
	# 200 command substitutions and 5 subshells fork; each child writes a block.
	n=$(grep -c '^strata stats: pid' "$stats" 2>/dev/null || echo 0)
	[ "$n" -ge 205 ] || fail "run $r of $runs: $n statistics blocks in $stats, expected >= 205 (one per forked child)"
	echo "run $r of $runs: exit 0, $n statistics blocks, no child died"
done
echo "PASS: $runs runs"
