#!/usr/bin/env bash
# Bad configurations fail open (ARCHITECTURE.md, hard requirement 5).
#
#   bad_config.sh LIBSTRATA PROBE [cases|tiers]
#
# PROBE is a small program (probe.c: fixed stdout, one stderr line, exit 3).
# For each bad configuration:
#  - without STRATA_STRICT: stdout and exit status are those of the run without
#    strata; stderr is the program's own plus exactly the expected number of
#    lines starting 'strata: VAR="VALUE": ' (the variable and the value named);
#  - with STRATA_STRICT=1: exit status 2, none of the program's stdout, the same
#    error lines plus nothing but 'strata: ' lines.
# A good configuration with STRATA_STRICT=1 must run normally and print nothing.
#
# The case set "cases" (default) covers parse errors; "tiers" covers tiers that
# parse but cannot be set up (a missing PMEM directory, a capacity too small
# for a heap).
set -u
lib=${1:?usage: bad_config.sh LIBSTRATA PROBE [cases|tiers]}
probe=${2:?usage: bad_config.sh LIBSTRATA PROBE [cases|tiers]}
set_name=${3:-cases}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/strata-badcfg.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

clean_env=(-u LD_PRELOAD)
while IFS='=' read -r var _; do
	case $var in STRATA_*) clean_env+=(-u "$var") ;; esac
done < <(env)

env "${clean_env[@]}" "$probe" >"$tmp/base.out" 2>"$tmp/base.err"
base_rc=$?
[ "$base_rc" = 3 ] || { echo "FAIL: $probe without strata exited $base_rc, expected 3"; exit 1; }

failures=0
fail() {
	echo "FAIL: $*"
	failures=$((failures + 1))
}

# check VAR VALUE NLINES [OTHER_VAR=VALUE...]: NLINES error lines naming VAR="VALUE".
# The other assignments are a valid context (e.g. STRATA_TIERS for a policy test).
check() {
	local var=$1 value=$2 nlines=$3
	shift 3
	local label="$var=\"$value\"${*:+ (with $*)}"
	local failures_before=$failures
	env "${clean_env[@]}" LD_PRELOAD="$lib" "$@" "$var=$value" "$probe" >"$tmp/out" 2>"$tmp/err"
	local rc=$?
	[ "$rc" = "$base_rc" ] || fail "$label: exit status $rc, expected $base_rc"
	cmp -s "$tmp/out" "$tmp/base.out" || { fail "$label: stdout differs:"; diff "$tmp/base.out" "$tmp/out"; }
	grep -v '^strata: ' "$tmp/err" >"$tmp/err.prog"
	cmp -s "$tmp/err.prog" "$tmp/base.err" || { fail "$label: the program's own stderr differs:"; diff "$tmp/base.err" "$tmp/err.prog"; }
	local prefix="strata: $var=\"$value\": "
	local got named
	got=$(grep -c '^strata: ' "$tmp/err")
	named=$(grep -cF -- "$prefix" "$tmp/err")
	if [ "$got" != "$nlines" ] || [ "$named" != "$nlines" ]; then
		fail "$label: expected $nlines line(s) starting '$prefix', got $got 'strata: ' line(s), $named naming the variable:"
		grep '^strata: ' "$tmp/err" | sed 's/^/    /'
	fi
	grep '^strata: ' "$tmp/err" >"$tmp/lines"
	# Same configuration, STRATA_STRICT=1: fatal.
	env "${clean_env[@]}" LD_PRELOAD="$lib" "$@" STRATA_STRICT=1 "$var=$value" "$probe" >"$tmp/out" 2>"$tmp/err"
	rc=$?
	[ "$rc" = 2 ] || fail "$label with STRATA_STRICT=1: exit status $rc, expected 2"
	[ -s "$tmp/out" ] && { fail "$label with STRATA_STRICT=1: the program ran (stdout not empty):"; head -n 5 "$tmp/out"; }
	grep -qv '^strata: ' "$tmp/err" && { fail "$label with STRATA_STRICT=1: stderr has lines not from strata:"; grep -v '^strata: ' "$tmp/err" | head -n 5; }
	grep -qxFf "$tmp/lines" "$tmp/err" || [ ! -s "$tmp/lines" ] || fail "$label with STRATA_STRICT=1: the error lines are missing"
	[ $failures = "$failures_before" ] && echo "ok: $label"
}

case $set_name in
cases)
	check STRATA_POLICY 'size>=1Q -> dram' 1
	check STRATA_POLICY '* -> nowhere' 1
	# Two independent errors in one value: one line each.
	check STRATA_POLICY 'size>=1Q -> nowhere' 2
	check STRATA_POLICY 'garbage' 1
	check STRATA_POLICY 'kind=disk -> dram' 1
	check STRATA_POLICY 'size<0 -> dram' 1
	check STRATA_POLICY '@/nonexistent/strata.policy' 1
	check STRATA_POLICY 'size>=4K -> fast' 1 'STRATA_TIERS=dram:nodes=0;slow:nodes=0'
	check STRATA_POLICY 'site=, lib=a b -> dram' 2
	check STRATA_POLICY 'site=0xZZ -> dram; hint=a/b -> dram' 2
	check STRATA_POLICY 'size>=4K -> dram:0,slow:1' 1 'STRATA_TIERS=dram:nodes=0;slow:nodes=0'
	check STRATA_POLICY '* -> dram:1,slow; * -> dram, pinned' 2 'STRATA_TIERS=dram:nodes=0;slow:nodes=0'
	check STRATA_MIGRATE 'model=mru,rate=1' 2
	check STRATA_MIGRATE 'promote=0.1,demote=0.2' 1
	check STRATA_PMEM_DIR 'relative' 1
	check STRATA_SAMPLER 'frob' 1
	check STRATA_SAMPLER 'abit,cpu=0%,window=0' 2
	check STRATA_SAMPLER 'abit,thp=maybe' 1
	check STRATA_SAMPLER 'trace:/nonexistent/strata.trace' 1 'STRATA_MIGRATE=on'  # cannot open: auto used
	check STRATA_PROFILE_RATE '12' 1
	check STRATA_PROFILE '/nonexistent/dir/p.prof' 1
	check STRATA_METRICS '' 1
	check STRATA_TIERS 'dram:nodes=0,high=200%' 1
	check STRATA_TIERS 'dram:nodes=7' 1
	check STRATA_TIERS 'dram:nodes=0;slow:nodes=0,cap=0' 1
	check STRATA_TIERS 'dram:nodes=0;slow:frob=1' 1
	check STRATA_TIERS '' 1
	check STRATA_LOG 'loud' 1
	check STRATA_SYSFS_ROOT 'relative/path' 1
	check STRATA_FROBNICATE '1' 1
	# STRATA_STRICT itself malformed: reported, cannot also be made strict.
	env "${clean_env[@]}" LD_PRELOAD="$lib" STRATA_STRICT=maybe "$probe" >"$tmp/out" 2>"$tmp/err"
	rc=$?
	lines=$(grep -c '^strata: STRATA_STRICT="maybe": ' "$tmp/err")
	if [ "$rc" = 3 ] && [ "$lines" = 1 ] && cmp -s "$tmp/out" "$tmp/base.out"; then
		echo "ok: STRATA_STRICT=\"maybe\""
	else
		fail "STRATA_STRICT=maybe: exit $rc, $lines error line(s); stderr:"
		cat "$tmp/err"
	fi
	# A good configuration under STRATA_STRICT=1 runs normally and prints nothing.
	env "${clean_env[@]}" LD_PRELOAD="$lib" STRATA_STRICT=1 'STRATA_TIERS=dram:nodes=0;slow:nodes=0' \
		'STRATA_POLICY=size>=4K -> slow' "$probe" >"$tmp/out" 2>"$tmp/err"
	rc=$?
	if [ "$rc" = 3 ] && cmp -s "$tmp/out" "$tmp/base.out" && cmp -s "$tmp/err" "$tmp/base.err"; then
		echo "ok: good configuration with STRATA_STRICT=1"
	else
		fail "good configuration with STRATA_STRICT=1: exit $rc; stderr:"
		cat "$tmp/err"
	fi
	;;
tiers)
	# Tiers that parse but cannot be set up: "a missing tier prints one clear line
	# on stderr (variable, value, what was expected)".
	check STRATA_TIERS 'dram:nodes=0;pm:path=/nonexistent/pmem,size=1G' 1
	# A file heap larger than its file system can hold (blocks are reserved up front).
	check STRATA_TIERS 'dram:nodes=0;pm:path=/tmp,size=1000000G' 1
	# A file heap in a directory that is a regular file.
	check STRATA_TIERS 'dram:nodes=0;pm:path=/etc/hostname,size=64M' 1
	;;
*)
	echo "bad_config.sh: unknown case set '$set_name'"
	exit 1
	;;
esac

if [ $failures != 0 ]; then
	echo "bad_config ($set_name): $failures failure(s)"
	exit 1
fi
echo "bad_config ($set_name): all ok"
