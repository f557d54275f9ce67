#!/usr/bin/env bash
# Adversarial cases (issue: files strata writes, allocation failure, hangs).
#
#   adversarial.sh LIBSTRATA PROBE ALLOC DOCS CASE
#
# PROBE is probe.c, ALLOC adversarial_alloc.c, DOCS docs/configuration.md (its
# options table lists every STRATA_* variable). CASE is one of:
#   files      symlinks, a planted PATH.tmp.<pid> symlink to a 0600 victim,
#              /dev/stdout, a FIFO, a directory, a character device (root:
#              mknod; also as the unprivileged user nobody via setpriv): no
#              file outside the named paths created, truncated or replaced;
#              created files are 0600
#   huge       malloc/calloc/posix_memalign/realloc of 100 GiB and 1 TiB give
#              the same answers as glibc, default and two-tier modes
#   fifo       STRATA_POLICY=@FIFO and STRATA_SAMPLER=trace:FIFO do not hang
#   values     escape sequences and oversized values in every variable:
#              escaped, at most a few bounded lines per variable
#   smaller    STRATA_STRICT=yes/true/' 1' refused; STRATA_MIGRATE=on,k=v;
#              every %p replaced
#   signal     a SIGALRM handler that allocates while main allocates/frees
#   xallocx    in-place shrinks on a capped tier leave no phantom live bytes
set -u
lib=${1:?usage: adversarial.sh LIBSTRATA PROBE ALLOC DOCS CASE}
probe=${2:?}
alloc=${3:?}
docs=${4:?}
case_name=${5:?}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/strata-adv.XXXXXX")
chmod 755 "$tmp"
trap 'rm -rf "$tmp"' EXIT
failures=0
fail() {
	echo "FAIL: $*"
	failures=$((failures + 1))
}
clean_env=(-u LD_PRELOAD)
while IFS='=' read -r var _; do
	case $var in STRATA_*) clean_env+=(-u "$var") ;; esac
done < <(env)
# run VAR=VALUE... -- PROGRAM ARGS: under the preload, 30 s at most.
run() {
	local vars=()
	while [ "$1" != -- ]; do vars+=("$1"); shift; done
	shift
	env "${clean_env[@]}" LD_PRELOAD="$lib" "${vars[@]}" timeout -k 2 30 "$@"
}
twotier=("STRATA_TIERS=dram:nodes=0;slow:nodes=0" "STRATA_POLICY=size>=4K -> slow")

mode_of() { stat -c %a "$1"; }

files_as() { # files_as DIR [PREFIX...]: the file cases in DIR, run with PREFIX
	local d=$1
	shift
	local pre=("$@")
	printf 'secret\n' >"$d/victim"
	chmod 600 "$d/victim"
	local sum
	sum=$(sha256sum <"$d/victim")
	# A planted PATH.tmp.<pid> symlink for many pids, and PATH itself a link.
	local pid
	for pid in $(seq $(($(cat /proc/sys/kernel/ns_last_pid) + 1)) $(($(cat /proc/sys/kernel/ns_last_pid) + 40))); do
		ln -sf "$d/victim" "$d/prof.tmp.$pid"
		ln -sf "$d/victim" "$d/metrics.tmp.$pid"
	done
	"${pre[@]}" env "${clean_env[@]}" LD_PRELOAD="$lib" STRATA_PROFILE="$d/prof" \
		STRATA_STATS="$d/stats" "$probe" >/dev/null 2>"$d/err1"
	[ -f "$d/prof" ] && [ ! -L "$d/prof" ] || fail "profile not written as a regular file in $d"
	[ "$(mode_of "$d/prof")" = 600 ] || fail "profile mode $(mode_of "$d/prof"), expected 600"
	[ "$(mode_of "$d/stats")" = 600 ] || fail "stats mode $(mode_of "$d/stats"), expected 600"
	# The targets are symbolic links to the victim: refused, victim untouched.
	rm -f "$d/prof" "$d/stats"
	ln -s "$d/victim" "$d/prof"
	ln -s "$d/victim" "$d/stats"
	"${pre[@]}" env "${clean_env[@]}" LD_PRELOAD="$lib" STRATA_PROFILE="$d/prof" \
		STRATA_STATS="$d/stats" "$probe" >/dev/null 2>"$d/err2"
	[ -L "$d/prof" ] || fail "symlink STRATA_PROFILE target replaced"
	grep -q 'STRATA_PROFILE=.*symbolic link' "$d/err2" || fail "no line refusing the profile symlink: $(cat "$d/err2")"
	grep -q 'STRATA_STATS=.*symbolic link' "$d/err2" || fail "no line refusing the stats symlink: $(cat "$d/err2")"
	[ "$(sha256sum <"$d/victim")" = "$sum" ] || fail "victim file changed"
	[ "$(mode_of "$d/victim")" = 600 ] || fail "victim mode changed"
	# A directory target: refused, left alone.
	mkdir -m 777 "$d/dir"
	"${pre[@]}" env "${clean_env[@]}" LD_PRELOAD="$lib" STRATA_PROFILE="$d/dir" "$probe" \
		>/dev/null 2>"$d/err3"
	[ -d "$d/dir" ] || fail "directory target replaced"
	grep -q 'STRATA_PROFILE=.*directory' "$d/err3" || fail "no line refusing the directory"
	# A FIFO with a reader: written through, still a FIFO.
	mkfifo -m 666 "$d/fifo"
	timeout 30 cat "$d/fifo" >"$d/fifo.out" &
	local reader=$!
	"${pre[@]}" env "${clean_env[@]}" LD_PRELOAD="$lib" STRATA_PROFILE="$d/fifo" timeout 30 "$probe" \
		>/dev/null 2>"$d/err4"
	wait "$reader"
	[ -p "$d/fifo" ] || fail "FIFO target replaced"
	[ -s "$d/fifo.out" ] || fail "nothing written through the FIFO"
	# A FIFO without a reader: refused at once, no hang.
	"${pre[@]}" env "${clean_env[@]}" LD_PRELOAD="$lib" STRATA_PROFILE="$d/fifo" timeout 30 "$probe" \
		>/dev/null 2>"$d/err5"
	[ $? = 3 ] || fail "probe with a reader-less FIFO profile did not exit normally"
	[ -p "$d/fifo" ] || fail "FIFO target replaced"
	# Nothing but what was named (and the victim) is left in the directory.
	local extra
	extra=$(find "$d" -mindepth 1 -newer "$d/victim" ! -name 'prof' ! -name 'stats' ! -name 'dir' \
		! -name 'fifo' ! -name 'fifo.out' ! -name 'err*' ! -name '*.tmp.*' -print)
	[ -z "$extra" ] || fail "unexpected files: $extra"
	find "$d" -name '*.tmp.*' ! -type l | grep -q . && fail "temporary files left: $(find "$d" -name '*.tmp.*' ! -type l)"
}

case $case_name in
files)
	mkdir "$tmp/root"
	files_as "$tmp/root"
	# /dev/stdout: written through, the symlink stays. The machine's own
	# /dev/stdout is never the target (a regression would replace it for every
	# program on the machine): a symlink of the same kind in the test directory.
	ln -s /proc/self/fd/1 "$tmp/root/stdout"
	out=$(run STRATA_PROFILE="$tmp/root/stdout" -- "$probe" 2>/dev/null | wc -c)
	[ -L "$tmp/root/stdout" ] || fail "a /dev/stdout-like symlink was replaced"
	[ "$out" -gt 20 ] || fail "profile not written through /dev/stdout ($out bytes)"
	if [ "$(id -u)" = 0 ]; then
		# A character device (like /dev/null): written through, never replaced.
		mknod "$tmp/root/null" c 1 3 && chmod 666 "$tmp/root/null"
		run STRATA_PROFILE="$tmp/root/null" STRATA_METRICS="$tmp/root/null" -- "$probe" >/dev/null 2>&1
		[ -c "$tmp/root/null" ] || fail "character device target replaced"
		# In a private mount namespace, over a bind-mounted /dev/null.
		if unshare -m true 2>/dev/null; then
			unshare -m bash -c "mount --make-rprivate / && mount --bind '$tmp/root/null' /dev/null &&
				env ${clean_env[*]} LD_PRELOAD='$lib' STRATA_PROFILE=/dev/null '$probe' >/dev/null 2>&1;
				[ -c /dev/null ]" || fail "/dev/null replaced in a private mount namespace"
		fi
		# As an unprivileged user, in a directory of its own.
		mkdir "$tmp/nobody" && chown nobody "$tmp/nobody"
		if command -v setpriv >/dev/null; then
			files_as "$tmp/nobody" setpriv --reuid=nobody --regid=nogroup --clear-groups
		fi
	else
		echo "note: not root: character device and unprivileged-user cases not run"
	fi
	;;
huge)
	for mode in default twotier; do
		vars=()
		[ $mode = twotier ] && vars=("${twotier[@]}")
		want=$(env "${clean_env[@]}" "$alloc" huge 2>&1)
		got=$(run "${vars[@]}" -- "$alloc" huge 2>&1)
		echo "$mode glibc:  $want"
		echo "$mode strata: $got"
		[ "$got" = "$want" ] || fail "$mode: strata's answers differ from glibc's"
	done
	;;
fifo)
	mkfifo "$tmp/fifo"
	for v in "STRATA_POLICY=@$tmp/fifo" "STRATA_SAMPLER=trace:$tmp/fifo" "STRATA_POLICY=@/dev/zero"; do
		run "$v" STRATA_MIGRATE=on -- "$probe" >/dev/null 2>"$tmp/err"
		rc=$?
		[ $rc = 3 ] || fail "$v: exit $rc (124: hung), expected the probe's 3"
		head -3 "$tmp/err"
	done
	grep -q 'not a regular file' "$tmp/err" || fail "@/dev/zero: no 'not a regular file' line"
	;;
values)
	vars=$(grep -o '^| `STRATA_[A-Z_]*`' "$docs" | tr -d '|` ')
	[ -n "$vars" ] || fail "no variables found in $docs"
	long=$(head -c 6000 /dev/zero | tr '\0' 'x')
	for var in $vars; do
		for val in $'x\e[31mRED\nstrata: fake;' "$long;$long" "@$tmp/nonexistent"$'\e]0;'; do
			run "$var=$val" -- "$probe" >/dev/null 2>"$tmp/err"
			n=$(grep -c '^strata: ' "$tmp/err")
			total=$(wc -l <"$tmp/err")
			bytes=$(wc -c <"$tmp/err")
			# The probe's one line plus at most 6 strata lines (5 errors and a count).
			[ "$total" -le $((n + 1)) ] || fail "$var: lines not starting 'strata: ': $(head -c 300 "$tmp/err")"
			[ "$n" -le 6 ] || fail "$var: $n strata lines"
			[ "$bytes" -le 6000 ] || fail "$var: $bytes bytes of stderr"
			grep -q $'\e' "$tmp/err" && fail "$var: raw ESC on stderr"
			grep -q '^strata: fake' "$tmp/err" && fail "$var: injected line"
		done
	done
	;;
smaller)
	for v in yes true ' 1' '' 2; do
		run "STRATA_STRICT=$v" -- "$probe" >/dev/null 2>"$tmp/err"
		grep -q "^strata: STRATA_STRICT=\"$v\": .*expected 0 or 1" "$tmp/err" ||
			fail "STRATA_STRICT='$v' accepted: $(cat "$tmp/err")"
	done
	run "STRATA_MIGRATE=on,rate=64M/s,interval=100ms" STRATA_LOG=info -- "$probe" >/dev/null 2>"$tmp/err"
	grep -q 'STRATA_MIGRATE' "$tmp/err" && fail "STRATA_MIGRATE=on,key=value refused: $(grep STRATA_MIGRATE "$tmp/err")"
	run "STRATA_PROFILE=$tmp/p.%p.%p" -- "$probe" >/dev/null 2>&1
	ls "$tmp" | grep -Eq '^p\.[0-9]+\.[0-9]+$' || fail "not every %p replaced: $(ls "$tmp")"
	;;
signal)
	want=$(env "${clean_env[@]}" timeout 60 "$alloc" signal)
	echo "glibc: $want"
	got=$(run -- "$alloc" signal)
	rc=$?
	echo "strata: $got (exit $rc)"
	[ $rc = 0 ] && [ "$got" = "$want" ] || fail "signal handler case: exit $rc (124: hung)"
	;;
xallocx)
	got=$(run "STRATA_TIERS=dram:nodes=0;slow:nodes=0,cap=64M" "STRATA_POLICY=size>=4K -> slow" -- "$alloc" xallocx)
	echo "$got"
	n=${got##* }
	[ "${n:-0}" -ge 60 ] || fail "only $n of 96 1 MiB blocks fit the empty 64 MiB tier (phantom live bytes)"
	;;
*)
	echo "adversarial.sh: unknown case '$case_name'" >&2
	exit 2
	;;
esac
[ $failures = 0 ] || exit 1
echo "adversarial $case_name: ok"
