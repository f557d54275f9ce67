#!/usr/bin/env bash
# strata-bench-suite on the host, every shape, small: the run is reproducible
# from its seed (same parameters, same accesses, same oracle with --accesses),
# the oracle holding the whole footprint has every access, and the summary line
# is there.
#   tests/unit/check_suite.sh path/to/strata-bench-suite
set -euo pipefail
suite=${1:?usage: check_suite.sh STRATA_BENCH_SUITE}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail=0
for s in $("$suite" --list); do
  common=(--shape="$s" --seed=42 --footprint=4M --intervals=3 --accesses=20000)
  "$suite" "${common[@]}" --fast-bytes=1M > "$tmp/a"
  "$suite" "${common[@]}" --fast-bytes=1M > "$tmp/b"
  # interval, phase, accesses and oracle_hit are the shape's alone; fast_hit is placement
  if ! diff <(grep -v '^#' "$tmp/a" | cut -d, -f1-3,5) <(grep -v '^#' "$tmp/b" | cut -d, -f1-3,5) > /dev/null ||
    ! diff <(grep '^# params' "$tmp/a") <(grep '^# params' "$tmp/b") > /dev/null; then
    echo "FAIL $s: two runs with --seed=42 differ"
    fail=1
  fi
  grep -q "^# summary shape=$s seed=42 " "$tmp/a" || { echo "FAIL $s: no summary line"; fail=1; }
  "$suite" "${common[@]}" --fast-bytes=64M > "$tmp/c"
  if grep -v '^#' "$tmp/c" | tail -n +2 | awk -F, '$5 != "1.0000" { bad = 1 } END { exit !bad }'; then
    echo "FAIL $s: an oracle holding the whole footprint missed accesses"
    fail=1
  fi
  [ "$fail" = 0 ] && echo "ok $s: $(grep '^# params' "$tmp/a")"
done
exit "$fail"
