#!/usr/bin/env bash
# Runs one test program under a strata configuration (see modes.sh).
#
#   run.sh --lib LIBSTRATA --mode MODE [--linked] [--env VAR=VALUE]... [--timeout SEC] -- PROGRAM [ARGS...]
#
# --linked: the program is linked against libstrata; the mode's variables are
# set but nothing is preloaded.
# Inherited LD_PRELOAD and STRATA_* variables are removed first. Mode "none"
# runs without the preload (control). The program's exit status is passed
# through; a timeout is reported and fails (exit 1).
set -u
here=$(cd "$(dirname "$0")" && pwd)
. "$here/modes.sh"
lib=
mode=default
timeout_s=120
extra=()
linked=0
while [ $# -gt 0 ]; do
	case $1 in
	--lib) lib=${2:?}; shift 2 ;;
	--mode) mode=${2:?}; shift 2 ;;
	--env) extra+=("${2:?}"); shift 2 ;;
	--linked) linked=1; shift ;;
	--timeout) timeout_s=${2:?}; shift 2 ;;
	--) shift; break ;;
	*) echo "run.sh: unknown option '$1'" >&2; exit 1 ;;
	esac
done
[ $# -gt 0 ] || { echo "run.sh: no program given" >&2; exit 1; }
mode_env "$mode" || { echo "run.sh: unknown mode '$mode'" >&2; exit 1; }
clean_env=(-u LD_PRELOAD)
while IFS='=' read -r var _; do
	case $var in STRATA_*) clean_env+=(-u "$var") ;; esac
done < <(env)
preload=()
if [ "$mode" != none ] && [ $linked = 0 ]; then
	[ -f "$lib" ] || { echo "run.sh: libstrata not found at '$lib'" >&2; exit 1; }
	case $lib in /*) ;; *) lib=$PWD/$lib ;; esac
	# The loader only warns when a preload fails: make sure strata really loads.
	if out=$(env "${clean_env[@]}" LD_PRELOAD="$lib" /bin/true 2>&1) && [ -n "$out" ]; then
		echo "FAIL: preloading $lib: $out"
		exit 1
	fi
	preload=("LD_PRELOAD=$lib")
fi
echo "run.sh: mode $mode:${preload[*]:+ ${preload[*]}}${MODE_ENV[*]:+ ${MODE_ENV[*]}}${extra[*]:+ ${extra[*]}} $*"
env "${clean_env[@]}" "${preload[@]}" "${MODE_ENV[@]}" "${extra[@]}" timeout -k 5 "$timeout_s" "$@"
rc=$?
if [ $rc = 124 ] || [ $rc = 137 ]; then
	echo "FAIL: timed out after ${timeout_s}s: $*"
	exit 1
fi
exit $rc
