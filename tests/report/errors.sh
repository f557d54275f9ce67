#!/usr/bin/env bash
# strata-report on bad input: exact one-line messages, exit 1 (or 2 for bad
# arguments), never a crash.
#   errors.sh STRATA_REPORT GOOD_PROFILE
set -uo pipefail
report=$1
good=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
status=0

expect() {  # EXIT_CODE MESSAGE ARGS...
  local want_rc=$1 want=$2
  shift 2
  local got rc
  got=$("$report" "$@" 2>&1 >/dev/null)
  rc=$?
  if [ "$rc" -ne "$want_rc" ] || [ "$got" != "$want" ]; then
    echo "FAIL: strata-report $*"
    echo "  expected exit $want_rc: $want"
    echo "  got      exit $rc: $got"
    status=1
  else
    echo "ok: exit $rc: $got"
  fi
}

size=$(stat -c %s "$good")
header_len=$(od -An -t u4 -j 20 -N 4 "$good" | tr -d ' ')

# Truncated: inside a record header, inside the Header record, without the End record.
head -c 20 "$good" >"$tmp/cut20.prof"
expect 1 "strata-report: $tmp/cut20.prof: truncated at byte 16: a record header needs 8 bytes, 4 left" \
  "$tmp/cut20.prof"
head -c 40 "$good" >"$tmp/cut40.prof"
expect 1 "strata-report: $tmp/cut40.prof: truncated at byte 16: Header record needs $((header_len + 8)) bytes, 24 left" \
  "$tmp/cut40.prof"
head -c $((size - 64)) "$good" >"$tmp/noend.prof"
expect 1 "strata-report: $tmp/noend.prof: truncated at byte $((size - 64)): no End record (expected the writer to finish the file)" \
  "$tmp/noend.prof"
head -c 10 "$good" >"$tmp/cut10.prof"
expect 1 "strata-report: $tmp/cut10.prof: truncated at byte 10: the file header needs 16 bytes" \
  "$tmp/cut10.prof"
: >"$tmp/empty.prof"
expect 1 "strata-report: $tmp/empty.prof: empty file (expected a strata profile starting with \"STRATAPF\")" \
  "$tmp/empty.prof"

# Bad magic: the start of an ELF file and a text file.
printf '\177ELF\002\001\001\000\000\000\000\000\000\000\000\000' >"$tmp/elf.prof"
expect 1 "strata-report: $tmp/elf.prof: not a strata profile (starts with \"\\x7fELF\\x02\\x01\\x01\\x00\", expected \"STRATAPF\")" \
  "$tmp/elf.prof"
printf 'hello, world\n' >"$tmp/text.prof"
expect 1 "strata-report: $tmp/text.prof: not a strata profile (starts with \"hello, w\", expected \"STRATAPF\")" \
  "$tmp/text.prof"

# A newer format version, and version 0.
cp "$good" "$tmp/v2.prof"
printf '\x02' | dd of="$tmp/v2.prof" bs=1 seek=8 conv=notrunc status=none
expect 1 "strata-report: $tmp/v2.prof: profile format version 2 is newer than this reader (expected 1; use the strata-report of the strata that wrote it)" \
  "$tmp/v2.prof"
cp "$good" "$tmp/v0.prof"
printf '\x00' | dd of="$tmp/v0.prof" bs=1 seek=8 conv=notrunc status=none
expect 1 "strata-report: $tmp/v0.prof: bad profile format version 0 (expected 1)" "$tmp/v0.prof"

# Missing file.
expect 1 "strata-report: $tmp/missing.prof: cannot open: No such file or directory" "$tmp/missing.prof"

# Bad arguments: exit 2, one line.
expect 2 "strata-report: no profile given (expected strata-report PROFILE); see strata-report --help"
expect 2 "strata-report: --format \"xml\" is not a format (expected text, json, html, policy, pprof or chunks); see strata-report --help" \
  "$good" --format xml
expect 2 "strata-report: --top \"0\" is not a number from 1 to 1000; see strata-report --help" \
  "$good" --top 0
expect 2 "strata-report: unknown option \"--frobnicate\"; see strata-report --help" "$good" --frobnicate
# Several profiles are merged: one bad input fails the whole report, named.
expect 1 "strata-report: $tmp/missing.prof: cannot open: No such file or directory" \
  "$good" "$tmp/missing.prof"
expect 2 "strata-report: --format pprof writes a binary file: give -o FILE; see strata-report --help" \
  "$good" --format pprof
expect 2 "strata-report: --top needs a number (expected 1-1000); see strata-report --help" "$good" --top

# -o into a missing directory.
expect 1 "strata-report: $tmp/no/such/dir/out.txt: cannot create: No such file or directory" \
  "$good" -o "$tmp/no/such/dir/out.txt"

# --help: usage on stdout, exit 0.
if "$report" --help | grep -q '^usage: strata-report PROFILE'; then
  echo "ok: --help"
else
  echo "FAIL: --help"
  status=1
fi

# Every prefix of the profile fails cleanly (exit 1, one line, no crash).
for cut in $(seq 0 997 "$size"); do
  [ "$cut" -eq "$size" ] && continue
  head -c "$cut" "$good" >"$tmp/prefix.prof"
  out=$("$report" "$tmp/prefix.prof" 2>&1 >/dev/null)
  rc=$?
  if [ "$rc" -ne 1 ] || [ "$(printf '%s\n' "$out" | wc -l)" -ne 1 ]; then
    echo "FAIL: prefix of $cut bytes: exit $rc: $out"
    status=1
  fi
done
echo "ok: every 997th prefix of the $size bytes fails cleanly"
exit $status
