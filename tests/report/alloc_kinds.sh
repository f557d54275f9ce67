#!/usr/bin/env bash
# Every allocation call is sampled by the profiler, with its bytes: malloc,
# calloc, posix_memalign and realloc (each realloc counts its new size).
#   alloc_kinds.sh STRATA_RUN STRATA_REPORT ALLOC_KINDS_PROGRAM
# Each function of the program allocates 64 MiB through one kind of call; with
# STRATA_PROFILE_RATE=64K that is about 1000 samples each, so the estimate's
# relative error is about 3%: the check allows 25%.
set -euo pipefail
run=$1 report=$2 prog=$3
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
STRATA_PROFILE_RATE=64K "$run" --profile "$work/k.prof" -- "$prog" >/dev/null
"$report" "$work/k.prof" --format json -o "$work/k.json"
python3 - "$work/k.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
want = {"via_malloc": 64 << 20, "via_calloc": 64 << 20, "via_posix_memalign": 64 << 20,
        "via_realloc": (64 << 20) - 4096}
got = {k: 0 for k in want}
for s in d["sites"]:
    fn = next((f["function"] for f in s["frames"] if f["function"] in want), None)
    if fn is not None:
        got[fn] += s["bytes_allocated"]
bad = 0
for fn, w in want.items():
    ratio = got[fn] / w
    ok = 0.75 <= ratio <= 1.25
    bad += not ok
    print("alloc_kinds: %s: %s: %d bytes sampled, %.2f of the %d allocated" %
          ("ok" if ok else "FAIL", fn, got[fn], ratio, w))
sys.exit(1 if bad else 0)
PY
