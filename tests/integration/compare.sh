#!/usr/bin/env bash
# Runs a command twice, without strata and with LD_PRELOAD=libstrata.so, each
# time in a fresh temporary directory, and fails unless both runs agree.
#
#   compare.sh --lib PATH [options] -- COMMAND [ARGS...]
#
# Both runs happen in the same directory path (the first run's directory is
# renamed away before the second starts), with HOME and TMPDIR pointing at
# fresh directories, so absolute paths printed by the program are identical.
# Inherited LD_PRELOAD and STRATA_* variables are removed from both runs.
#
# Options:
#   --lib PATH          libstrata.so to preload (required)
#   --mode NAME         a strata configuration from modes.sh (default, twotier, ...)
#                       for the preloaded run
#   --env VAR=VALUE     extra environment for the preloaded run only (repeatable)
#   --require PROG      exit 77 (skip) with a message unless PROG is on PATH (repeatable)
#   --stderr MODE       compare (default): stderr must be identical
#                       ignore: stderr is not compared
#                       strip-strata: lines starting "strata: " are removed before comparing
#   --status N          exit status the run without strata must have (default 0); a
#                       different one means the test itself is broken here: fail
#   --expect-tier NAME  preloaded run writes STRATA_STATS to a file; fail unless some
#                       process made allocations on tier NAME (proves that tier was used)
#   --timeout SEC       limit for each run (default 60); exceeding it fails
#   --name NAME         label used in messages (default: the command)
#   --keep              keep the temporary directories (printed at the end)
#
# Exit status: 0 identical, 1 different (a diff is printed), 77 skipped.
set -u
here=$(cd "$(dirname "$0")" && pwd)
. "$here/modes.sh"

lib=
name=
timeout_s=60
stderr_mode=compare
want_status=0
expect_tier=
keep=0
extra_env=()
require=()

die() {
	echo "compare.sh: $*" >&2
	exit 1
}

while [ $# -gt 0 ]; do
	case $1 in
	--lib) lib=${2:?}; shift 2 ;;
	--env)
		case ${2:-} in *=*) ;; *) die "--env expects VAR=VALUE, got '${2:-}'" ;; esac
		extra_env+=("$2"); shift 2 ;;
	--mode)
		mode_env "${2:-}" && [ "$2" != none ] || die "unknown --mode '${2:-}' (see modes.sh)"
		extra_env+=("${MODE_ENV[@]}"); shift 2 ;;
	--require) require+=("${2:?}"); shift 2 ;;
	--stderr)
		case ${2:-} in compare | ignore | strip-strata) ;; *) die "--stderr expects compare, ignore or strip-strata" ;; esac
		stderr_mode=$2; shift 2 ;;
	--status) want_status=${2:?}; shift 2 ;;
	--expect-tier) expect_tier=${2:?}; shift 2 ;;
	--timeout) timeout_s=${2:?}; shift 2 ;;
	--name) name=${2:?}; shift 2 ;;
	--keep) keep=1; shift ;;
	--) shift; break ;;
	*) die "unknown option '$1' (usage: compare.sh --lib PATH [options] -- COMMAND [ARGS...])" ;;
	esac
done
[ $# -gt 0 ] || die "no command given"
[ -n "$lib" ] || die "--lib is required"
[ -f "$lib" ] || die "libstrata not found at '$lib'"
case $lib in /*) ;; *) lib=$PWD/$lib ;; esac
# The loader only warns when a preload fails: make sure strata really loads.
if preload_out=$(env -u LD_PRELOAD LD_PRELOAD="$lib" /bin/true 2>&1) && [ -n "$preload_out" ]; then
	die "preloading $lib: $preload_out"
fi
[ -n "$name" ] || name=$*

for p in "${require[@]}"; do
	if ! command -v "$p" >/dev/null 2>&1; then
		echo "SKIP: $name: '$p' is not installed (not on PATH)"
		exit 77
	fi
done
command -v timeout >/dev/null 2>&1 || die "coreutils 'timeout' is required"

root=$(mktemp -d "${TMPDIR:-/tmp}/strata-compare.XXXXXX") || die "mktemp failed"
cleanup() {
	if [ $keep = 1 ]; then
		echo "compare.sh: kept $root" >&2
	else
		rm -rf "$root"
	fi
}
trap cleanup EXIT

# Variables removed from both runs.
clean_env=(-u LD_PRELOAD)
while IFS='=' read -r var _; do
	case $var in STRATA_*) clean_env+=(-u "$var") ;; esac
done < <(env)

# run LABEL [env assignments...]: runs the command in $root/work; results go to $root/LABEL.*
run() {
	local label=$1
	shift
	rm -rf "${root:?}/work" "${root:?}/home" "${root:?}/tmp"
	mkdir -p "$root/work" "$root/home" "$root/tmp"
	local t0 t1
	t0=$(date +%s.%N)
	(cd "$root/work" && exec env "${clean_env[@]}" HOME="$root/home" TMPDIR="$root/tmp" "$@" \
		timeout -k 5 "$timeout_s" "${cmd[@]}") >"$root/$label.out" 2>"$root/$label.err" </dev/null
	echo $? >"$root/$label.status"
	t1=$(date +%s.%N)
	echo "$t0 $t1" | awk '{ printf "%.2f", $2 - $1 }' >"$root/$label.time"
	mv "$root/work" "$root/$label.dir"
}

cmd=("$@")
run base
base_status=$(cat "$root/base.status")
if [ "$base_status" = 124 ] || [ "$base_status" = 137 ]; then
	echo "FAIL: $name: the run WITHOUT strata timed out after ${timeout_s}s"
	exit 1
fi
if [ "$base_status" != "$want_status" ]; then
	echo "FAIL: $name: the run WITHOUT strata exited with $base_status (expected $want_status):" \
		"the test does not work on this machine"
	echo "--- stdout (last 40 lines)"
	tail -n 40 "$root/base.out"
	echo "--- stderr (last 40 lines)"
	tail -n 40 "$root/base.err"
	exit 1
fi

preload_env=(LD_PRELOAD="$lib" "${extra_env[@]}")
if [ -n "$expect_tier" ]; then
	: >"$root/stats"
	preload_env+=(STRATA_STATS="$root/stats")
fi
run strata "${preload_env[@]}"
strata_status=$(cat "$root/strata.status")

fail=0
report() {
	echo "FAIL: $name: $*"
	fail=1
}
if [ "$strata_status" = 124 ] || [ "$strata_status" = 137 ]; then
	report "the run WITH strata timed out after ${timeout_s}s (without strata: $(cat "$root/base.time")s)"
elif [ "$strata_status" != "$base_status" ]; then
	report "exit status differs: without strata $base_status, with strata $strata_status"
fi
if ! cmp -s "$root/base.out" "$root/strata.out"; then
	report "stdout differs (--- without strata, +++ with strata):"
	diff -u --label without-strata --label with-strata "$root/base.out" "$root/strata.out" | head -n 200
fi
case $stderr_mode in
compare)
	if ! cmp -s "$root/base.err" "$root/strata.err"; then
		report "stderr differs (--- without strata, +++ with strata):"
		diff -u --label without-strata --label with-strata "$root/base.err" "$root/strata.err" | head -n 200
	fi ;;
strip-strata)
	grep -v '^strata: ' "$root/base.err" >"$root/base.err.f"
	grep -v '^strata: ' "$root/strata.err" >"$root/strata.err.f"
	if ! cmp -s "$root/base.err.f" "$root/strata.err.f"; then
		report "stderr differs apart from 'strata: ' lines (--- without strata, +++ with strata):"
		diff -u --label without-strata --label with-strata "$root/base.err.f" "$root/strata.err.f" | head -n 200
	fi ;;
ignore) ;;
esac

if [ -n "$expect_tier" ] && [ $fail = 0 ]; then
	# Tables as STRATA_STATS writes them: a header line starting "#", then one row per
	# tier: index, name, nodes, cap, live, allocs, ...
	procs=$(grep -c '^strata stats:' "$root/stats")
	if [ "$procs" = 0 ]; then
		report "STRATA_STATS=$root/stats: no process wrote statistics"
	elif grep -q 'built without stats' "$root/stats"; then
		echo "note: jemalloc has no statistics: cannot check use of tier '$expect_tier'"
	else
		used=$(awk -v t="$expect_tier" '$2 == t && $1 ~ /^[0-9]+$/ && $6 + 0 > 0 { n++ } END { print n + 0 }' "$root/stats")
		if [ "$used" = 0 ]; then
			report "no process (of $procs that wrote statistics) allocated on tier '$expect_tier':"
			head -n 20 "$root/stats"
		else
			echo "tier '$expect_tier' used by $used of $procs processes"
		fi
	fi
fi

echo "$name: without strata $(cat "$root/base.time")s, with strata $(cat "$root/strata.time")s" \
	"(exit status $base_status, $(wc -l <"$root/base.out") stdout lines)"
if [ $fail != 0 ]; then
	if [ -s "$root/strata.err" ] && [ "$stderr_mode" != compare ]; then
		echo "--- stderr with strata (last 40 lines)"
		tail -n 40 "$root/strata.err"
	fi
	exit 1
fi
echo "PASS: $name"
exit 0
