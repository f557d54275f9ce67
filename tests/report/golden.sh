#!/usr/bin/env bash
# Golden-file test of strata-report on the recorded profile.
#   golden.sh STRATA_REPORT MAKE_PROFILE GOLDEN_DIR
# 1. MAKE_PROFILE writes the deterministic profile (tests/report/sample_profile.cc)
#    with two buffer sizes; both must equal GOLDEN_DIR/recorded.prof byte for byte
#    (the writer's output is stable, so old recorded profiles stay readable).
# 2. strata-report's text, JSON and policy outputs on GOLDEN_DIR/recorded.prof must
#    equal summary.txt, report.json and policy.txt byte for byte; the JSON must parse.
# STRATA_UPDATE_GOLDEN=1 rewrites the golden files instead (review the diff).
set -euo pipefail
report=$1
make_profile=$2
golden=$3
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
update=${STRATA_UPDATE_GOLDEN:-0}
status=0

check() {  # NAME FILE
  if [ "$update" = 1 ]; then
    cp "$2" "$golden/$1"
    echo "updated $golden/$1"
  elif cmp -s "$2" "$golden/$1"; then
    echo "ok: $1 matches the golden file"
  else
    echo "FAIL: $1 differs from $golden/$1 (< golden, > now):"
    diff "$golden/$1" "$2" | head -80 || true
    status=1
  fi
}

"$make_profile" "$tmp/small-buffer.prof" 64
"$make_profile" "$tmp/recorded.prof" 1048576
if ! cmp "$tmp/small-buffer.prof" "$tmp/recorded.prof"; then
  echo "FAIL: the writer's output depends on its buffer size"
  exit 1
fi
check recorded.prof "$tmp/recorded.prof"

# Run from the golden directory so the profile's name in the output is stable.
cd "$golden"
"$report" recorded.prof >"$tmp/summary.txt"
"$report" recorded.prof --format json >"$tmp/report.json"
"$report" recorded.prof --format policy >"$tmp/policy.txt"
check summary.txt "$tmp/summary.txt"
check report.json "$tmp/report.json"
check policy.txt "$tmp/policy.txt"

python3 - "$tmp/report.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
assert d["schema"] == "strata-report" and d["schema_version"] == 1, "schema"
assert len(d["intervals"]) == d["run"]["intervals"], "intervals"
print("ok: report.json is valid JSON, schema_version 1")
PY

lines=$(wc -l <"$tmp/summary.txt")
if [ "$lines" -gt 42 ]; then
  echo "FAIL: the text summary has $lines lines (expected at most 42 with the default --top)"
  status=1
fi
exit $status
