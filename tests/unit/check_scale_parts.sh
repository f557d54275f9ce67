#!/usr/bin/env bash
# The abit sampler reading a large process in parts (a scan budget): a 2 GiB
# heap of 2 MiB huge-page regions (about 1000 VMAs) under a CPU budget too
# small to read all of smaps every interval. Checks that the engine did read
# in parts (its debug lines name the addresses each read covered), that the
# parts resumed where the last stopped and came round to the end, and that the
# hot 10% of chunks were still found (strata-bench-scale's precision and
# recall at the end, at least 0.9).
# usage: check_scale_parts.sh STRATA-BENCH-SCALE LIBSTRATA
set -euo pipefail
bench=${1:?usage: check_scale_parts.sh STRATA-BENCH-SCALE LIBSTRATA}
lib=${2:?usage: check_scale_parts.sh STRATA-BENCH-SCALE LIBSTRATA}
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
fail=0
# A 200 ms interval at 1% gives each interval 2 ms of sampling CPU: less than
# one read of the heap's smaps, so reads come in parts, and intervals every
# second or two even when the machine is loaded (CI runs tests in parallel).
if ! STRATA_LOG=debug STRATA_MIGRATE=interval=200ms "$bench" --lib="$lib" --footprint=2G --seconds=20 --seed=11 \
  --sampler='abit,thp=huge,cpu=1%' --workdir="$dir" --verbose >"$dir/out" 2>&1; then
  echo "scale.parts: strata-bench-scale failed:"
  tail -n 20 "$dir/out"
  exit 1
fi
grep -E '^(intervals|engine CPU|hot chunks)' "$dir/out" | sed 's/^/  /'
# "engine: interval N costs ... abit X (read 0xLO-0xHI) ..."
sed -n 's/.*engine: interval \([0-9]*\) costs.*(read \(0x[0-9a-f]*\|0\)-\(0x[0-9a-f]*\)).*/\1 \2 \3/p' \
  "$dir/out" >"$dir/reads"
awk '
  function verdict(ok) { if (!ok) bad = 1; return ok ? "ok:" : "FAIL:" }
  { n++; lo[n] = $2; hi[n] = $3
    if (!($2 == "0" && $3 == "0xffffffffffffffff")) parts++
    if ($3 == "0xffffffffffffffff" && $2 != "0") ends++ }
  # Each read starts where the previous one stopped (0 after one that reached the end).
  n > 1 { want = hi[n - 1] == "0xffffffffffffffff" ? "0" : hi[n - 1]
          if (lo[n] != want) { gaps++; printf "  read %d starts at %s, the last stopped at %s\n", $1, lo[n], hi[n - 1] } }
  END {
    printf "%s scale.parts: %d of %d reads covered part of the process (at least 3)\n", verdict(parts >= 3), parts, n
    printf "%s scale.parts: %d pass(es) in parts reached the end of the address space (at least 1)\n", verdict(ends >= 1), ends
    printf "%s scale.parts: every read resumed where the last stopped (%d did not)\n", verdict(gaps == 0), gaps
    exit bad
  }' "$dir/reads" || fail=1
pr=$(sed -n 's/.*last interval: reported [0-9]*, precision \([0-9.]*\), recall \([0-9.]*\).*/\1 \2/p' "$dir/out")
if awk -v pr="$pr" 'BEGIN { split(pr, a, " "); exit !(a[1] >= 0.9 && a[2] >= 0.9) }'; then
  echo "ok: scale.parts: the hot chunks found at the end: precision and recall $pr (at least 0.9)"
else
  echo "FAIL: scale.parts: the hot chunks at the end: precision and recall '$pr' (expected at least 0.9)"
  fail=1
fi
exit $fail
