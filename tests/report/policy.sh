#!/usr/bin/env bash
# The suggested policy is accepted by strata as-is:
#   policy.sh STRATA_REPORT PROFILE POLICY_TEST STRATA_RUN
# 1. `strata-report --format policy` prints comments and one STRATA_POLICY='...'
#    line; the text summary carries the same line.
# 2. policy_test parses it with strata's parser and checks the hot/cold rules.
# 3. `strata-run --check` accepts it with the profile's tier names.
set -euo pipefail
report=$1
profile=$2
policy_test=$3
strata_run=$4

out=$("$report" "$profile" --format policy)
printf '%s\n' "$out"
line=$(printf '%s\n' "$out" | grep '^STRATA_POLICY=')
[ "$(printf '%s\n' "$out" | grep -vc '^#')" -eq 1 ] || { echo "FAIL: more than one non-comment line"; exit 1; }
"$report" "$profile" | grep -qxF "  $line" || { echo "FAIL: the text summary has another policy line"; exit 1; }
eval "$line"  # sets STRATA_POLICY exactly as a shell user pasting it would
[ -n "$STRATA_POLICY" ] || { echo "FAIL: empty policy"; exit 1; }

tiers=$("$policy_test" "$profile" "$STRATA_POLICY" | tee /dev/stderr | tail -n 1)
echo "strata-run --check with STRATA_TIERS='$tiers':"
STRATA_TIERS="$tiers" STRATA_POLICY="$STRATA_POLICY" STRATA_STRICT=1 "$strata_run" --check
echo "ok: strata-run accepts the suggested policy"
