#!/usr/bin/env bash
# Secure execution: a setuid program reads no STRATA_* variables and writes no files.
#
#   secure_exec.sh PROBE_LINKED
#
# PROBE_LINKED is probe.c linked against libstrata with an absolute RPATH (the
# dynamic loader ignores LD_PRELOAD for setuid programs but honours an absolute
# RPATH). A setuid-root copy is run as user nobody (65534) with
# STRATA_POLICY=garbage, STRATA_TIERS=bogus, STRATA_STRICT=1, STRATA_LOG=debug and
# STRATA_STATS=/tmp/<unique>: it must run normally (exit 3, its own output),
# print no "strata:" line and create no statistics file. A control run of a
# non-setuid copy, same user and environment, must show those variables do take
# effect otherwise (exit 2 from STRATA_STRICT=1).
# Skipped (exit 77, with the reason) without root, setpriv, user 65534, a file
# system that honours setuid, or when the kernel does not grant secure mode.
set -u
probe=${1:?usage: secure_exec.sh PROBE_LINKED}
skip() {
	echo "SKIP: $*"
	exit 77
}
fail() {
	echo "FAIL: $*"
	exit 1
}

[ "$(id -u)" = 0 ] || skip "needs root (to make a setuid-root copy and switch to user nobody)"
command -v setpriv >/dev/null 2>&1 || skip "setpriv (util-linux) is not installed"
[ -x "$probe" ] || fail "no probe program at '$probe'"

dir=$(mktemp -d /tmp/strata-secure.XXXXXX) || fail "mktemp"
stats=/tmp/strata-secure-stats.$$.$RANDOM$RANDOM
trap 'rm -rf "$dir" "$stats" "$stats.control"' EXIT
chmod 755 "$dir"
cp "$probe" "$dir/probe-suid"
cp "$probe" "$dir/probe-plain"
chown root:root "$dir/probe-suid" "$dir/probe-plain"
chmod 4755 "$dir/probe-suid"
chmod 0755 "$dir/probe-plain"

if findmnt -n -o OPTIONS -T "$dir" 2>/dev/null | tr ',' '\n' | grep -qx nosuid; then
	skip "$dir is on a nosuid file system"
fi
as_nobody=(setpriv --reuid=65534 --regid=65534 --clear-groups)
"${as_nobody[@]}" true 2>/dev/null || skip "setpriv cannot switch to uid/gid 65534 here"
# libstrata (through the RPATH) must be readable by nobody.
lib_dir=$(readelf -d "$probe" 2>/dev/null | sed -n 's/.*(R\(UN\)\?PATH).*\[\(.*\)\]/\2/p' | head -n 1)
if [ -n "$lib_dir" ]; then
	"${as_nobody[@]}" test -r "${lib_dir%%:*}/libstrata.so" ||
		skip "user nobody cannot read ${lib_dir%%:*}/libstrata.so"
fi

bad_env=(STRATA_POLICY=garbage STRATA_TIERS=bogus STRATA_STRICT=1 STRATA_LOG=debug)

# Control: not setuid, same user and variables: strata reads them, STRICT makes it fatal.
"${as_nobody[@]}" env -u LD_PRELOAD "${bad_env[@]}" STRATA_STATS="$stats.control" "$dir/probe-plain" \
	>"$dir/control.out" 2>"$dir/control.err"
rc=$?
[ "$rc" = 2 ] || {
	cat "$dir/control.err"
	fail "control run (not setuid): exit status $rc, expected 2 (STRATA_STRICT=1 with bad variables)"
}
grep -q '^strata: ' "$dir/control.err" || fail "control run printed no 'strata:' line"

# The setuid run.
"${as_nobody[@]}" env -u LD_PRELOAD "${bad_env[@]}" STRATA_STATS="$stats" "$dir/probe-suid" \
	>"$dir/suid.out" 2>"$dir/suid.err"
rc=$?
echo "setuid run: exit status $rc"
sed 's/^/  stdout: /' "$dir/suid.out"
sed 's/^/  stderr: /' "$dir/suid.err"
if grep -q '^probe: secure=0' "$dir/suid.out"; then
	skip "the setuid copy did not run in secure mode (AT_SECURE=0: no_new_privs or a restricted container?)"
fi
grep -q '^probe: secure=1 ' "$dir/suid.out" || fail "the setuid probe did not report AT_SECURE=1"
[ "$rc" = 3 ] || fail "setuid run: exit status $rc, expected 3 (the program's own)"
grep -q '^strata: ' "$dir/suid.err" && fail "setuid run printed 'strata:' lines (it read STRATA_* variables)"
grep -q 'tiers=1 tier_of(malloc)=0' "$dir/suid.out" ||
	fail "setuid run: strata is not active with its defaults (expected 'tiers=1 tier_of(malloc)=0')"
[ -e "$stats" ] && fail "setuid run created the statistics file $stats (STRATA_STATS must be ignored)"
echo "PASS: setuid program ignored STRATA_* and wrote no file"
exit 0
