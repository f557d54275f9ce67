#!/usr/bin/env bash
# Many processes, one report: a program forks four workers, each with its own
# hot site; the profiles (PATH and PATH.PID) are merged from their directory,
# and every worker's hot site is in the merged report and its policy. Merging
# a profile with itself doubles every site's counters (sites keyed by hash).
#   merge.sh STRATA_RUN STRATA_REPORT WORKERS_PROGRAM RECORDED_PROFILE
set -euo pipefail
run=$1 report=$2 prog=$3 recorded=$4
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fail() { echo "merge: FAIL: $*"; exit 1; }
ok() { echo "merge: ok: $*"; }

# 1. Same program twice: counters add up per site hash, heat stays.
"$report" "$recorded" --format json -o "$work/one.json"
"$report" "$recorded" "$recorded" --format json -o "$work/two.json"
python3 - "$work/one.json" "$work/two.json" <<'PY' || fail "self-merge"
import json, sys
one, two = (json.load(open(p)) for p in sys.argv[1:3])
a = {s["hash"]: s for s in one["sites"]}
b = {s["hash"]: s for s in two["sites"]}
assert a.keys() == b.keys(), "different site sets"
assert len(two["sources"]) == 2 and "sources" not in one
for h, s in a.items():
    t = b[h]
    for k in ("allocations", "bytes_allocated", "live_bytes"):
        assert t[k] == 2 * s[k], (h, k, s[k], t[k])
    assert t["heat"] == s["heat"], (h, s["heat"], t["heat"])
    assert t["sources"] == [0, 1], (h, t["sources"])
assert one["hot"] == two["hot"], (one["hot"], two["hot"])
print("merge: self-merge doubles %d sites, keeps heat and ranking" % len(a))
PY

# 2. Four forked workers, each with its own hot site.
mkdir "$work/prof"
# A sampling budget of 2% gives each short-lived worker a dozen intervals. The
# workers' buffers are touched every millisecond and the parent's never, but on
# a loaded two-core machine a worker is not always scheduled within a sampling
# window: hot from 0.15 keeps the classes apart (the parent's stays below 0.05).
# Two tiers on the one node, so that the suggested policy places sites.
STRATA_TIERS="dram:nodes=0;slow:nodes=0" STRATA_SAMPLER=abit,cpu=2% \
  STRATA_MIGRATE=interval=200ms,promote=0.15,demote=0.05 \
  "$run" --profile "$work/prof/w.prof" -- "$prog" 4 >"$work/out.txt"
grep -c '^worker' "$work/out.txt" | grep -qx 4 || fail "the program did not run four workers"
n=$(ls "$work/prof" | wc -l)
[ "$n" -eq 5 ] || fail "expected 5 profiles (parent + 4 workers), found $n: $(ls "$work/prof")"
: >"$work/prof/not-a-profile.txt"  # skipped: a directory may hold other files
"$report" "$work/prof" --format json -o "$work/m.json" --top 20
"$report" "$work/prof" --format policy -o "$work/m.policy"
"$report" "$work/prof" --top 20 >"$work/m.txt"
python3 - "$work/m.json" "$work/m.policy" <<'PY' || fail "merged report"
import json, sys
d = json.load(open(sys.argv[1]))
policy = open(sys.argv[2]).read()
assert len(d["sources"]) == 5, len(d["sources"])
found = {}
for s in d["sites"]:
    fn = next((f["function"] for f in s["frames"] if (f["function"] or "").startswith("worker_")), None)
    if fn:
        found[fn] = s
bad = 0
for k in range(4):
    fn = "worker_%d" % k
    s = found.get(fn)
    if s is None:
        print("merge: FAIL: no site in %s" % fn); bad = 1; continue
    in_policy = ("site=" + s["hash"]) in policy
    ok = s["class"] == "hot" and s["hot_rank"] is not None and in_policy and len(s["sources"]) == 1
    bad |= not ok
    print("merge: %s: %s hash %s heat %s hot_rank %s, from source %s, in policy: %s" %
          ("ok" if ok else "FAIL", fn, s["hash"], s["heat"], s["hot_rank"], s["sources"], in_policy))
sys.exit(bad)
PY
grep -q "merged from 5 profiles of 1 program" "$work/m.txt" || fail "text report does not name its inputs"
ok "text report lists the 5 inputs"

# 3. A directory without profiles is an error that names it.
mkdir "$work/empty"
if "$report" "$work/empty" 2>"$work/err"; then fail "an empty directory was accepted"; fi
grep -q "no strata profile in the directory" "$work/err" || fail "unclear error: $(cat "$work/err")"
ok "empty directory: $(cat "$work/err")"
