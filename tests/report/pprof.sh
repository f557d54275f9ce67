#!/usr/bin/env bash
# strata-report --format pprof, read by the Go toolchain's pprof: `-top` lists
# strata-report's hot sites in strata-report's order (sample type "heat") and
# its cold sites in its order (sample type "live_space"), for
# the recorded profile and for a profile of a real program (sqlite3). Exit 77
# (skipped) when go is not installed.
#   pprof.sh STRATA_REPORT RECORDED_PROFILE STRATA_RUN GO SQLITE3
set -euo pipefail
report=$1 recorded=$2 run=$3 go=$4 sqlite=$5
if [ -z "$go" ] || [ ! -x "$go" ]; then
  echo "pprof: SKIP: go is not installed (Debian package golang-go; scripts/install-deps.sh)"
  exit 77
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export HOME=$work PPROF_TMPDIR=$work GOCACHE=$work/gocache GOFLAGS=-mod=mod
fail() { echo "pprof: FAIL: $*"; exit 1; }

# check NAME PROFILE: compares `go tool pprof -top` with strata-report's JSON.
check() {
  local name=$1 prof=$2
  "$report" "$prof" --format json --top 1000 -o "$work/$name.json"
  "$report" "$prof" --format pprof -o "$work/$name.pb.gz"
  gzip -t "$work/$name.pb.gz" || fail "$name: not gzip"
  "$go" tool pprof -symbolize=none -top -addresses -nodecount=10000 -nodefraction=0 -sample_index=heat \
    "$work/$name.pb.gz" >"$work/$name.top" 2>"$work/$name.err" ||
    fail "$name: go tool pprof failed: $(cat "$work/$name.err")"
  "$go" tool pprof -symbolize=none -top -addresses -nodecount=10000 -nodefraction=0 \
    -sample_index=alloc_space "$work/$name.pb.gz" \
    >"$work/$name.space" 2>>"$work/$name.err" || fail "$name: -sample_index=alloc_space failed"
  "$go" tool pprof -symbolize=none -tags "$work/$name.pb.gz" >"$work/$name.tags" 2>>"$work/$name.err" ||
    fail "$name: -tags failed"
  "$go" tool pprof -symbolize=none -top -addresses -nodecount=10000 -nodefraction=0 -sample_index=live_space \
    "$work/$name.pb.gz" >"$work/$name.live" 2>>"$work/$name.err" || fail "$name: live_space failed"
  python3 - "$name" "$work/$name.json" "$work/$name.top" "$work/$name.live" "$work/$name.tags" \
    "$work/$name.space" <<'PY'
import json, re, sys
name, jpath, heatpath, livepath, tagpath, spacepath = sys.argv[1:7]
d = json.load(open(jpath))
sites = {s["hash"]: s for s in d["sites"]}

def pprof_order(path):
    # pprof -top -addresses: "flat flat% sum% cum cum%  ADDRESS [function] [module]".
    out = []
    for line in open(path):
        m = re.match(r"\s*([0-9.]+)([A-Za-z]*)\s+\S+\s+\S+\s+\S+\s+\S+\s+([0-9a-f]{6,})\b", line)
        if m and float(m.group(1)) > 0:
            out.append(int(m.group(3), 16))
    return {a: i for i, a in enumerate(out)}

def agree(ranking, path, key, what):
    """strata's ranking must appear in pprof's order; sites whose sort key is
    equal may swap (strata breaks ties by another field, pprof by name)."""
    pos = pprof_order(path)
    bad, last = 0, None
    for rank, h in enumerate(ranking, 1):
        s = sites[h]
        addr = int(s["frames"][0]["address"], 16)
        if addr not in pos:
            print("pprof: FAIL: %s: %s site #%d %s is not in pprof -top" % (name, what, rank, h))
            bad = 1
            continue
        k = key(s)
        if last is not None and last[1] != k and pos[addr] < last[0]:
            print("pprof: FAIL: %s: %s site #%d %s comes before #%d in pprof -top" %
                  (name, what, rank, h, rank - 1))
            bad = 1
        last = (pos[addr], k)
        print("pprof: %s: %s #%d %s = pprof -top line %d (%s)" %
              (name, what, rank, h, pos[addr] + 1, s["frames"][0]["label"]))
    return bad

hot = [h for h in d["hot"]]
cold = [h for h in d["cold"]]
# Sites by bytes allocated: strata-report's order and pprof's alloc_space order
# agree whatever the heat (a real program's sites may all be mixed).
by_bytes = sorted(sites, key=lambda h: -sites[h]["bytes_allocated"])[:5]
if not by_bytes:
    print("pprof: FAIL: %s: the profile has no site" % name); sys.exit(1)
bad = agree(by_bytes, spacepath, lambda s: s["bytes_allocated"], "allocated")
if not hot and not cold:
    print("pprof: %s: no site is clearly hot or cold; compared by bytes allocated" % name)
bad |= agree(hot, heatpath, lambda s: round(s["heat"] * 100), "hot")
bad |= agree(cold, livepath, lambda s: s["mean_live_bytes"], "cold")
tags = open(tagpath).read()
for h in hot + cold:
    tier = sites[h]["main_tier"]
    if tier is not None and (not re.search(r"^\s*tier:", tags, re.M) or tier not in tags):
        print("pprof: FAIL: %s: no tier label %s in pprof -tags" % (name, tier)); bad = 1
sys.exit(bad)
PY
  head -n 12 "$work/$name.top"
}

check recorded "$recorded"

# A real program: sqlite3 building and scanning an in-memory table.
if [ -z "$sqlite" ] || [ ! -x "$sqlite" ]; then fail "sqlite3 is not installed (scripts/install-deps.sh)"; fi
sql="CREATE TABLE t(k INTEGER PRIMARY KEY, v TEXT);
WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 100000)
INSERT INTO t SELECT x, printf('%080d', x) FROM c;
CREATE INDEX tv ON t(v);"
for _ in $(seq 20); do sql="$sql SELECT count(*), sum(length(v)) FROM t WHERE v LIKE '%7%';"; done
STRATA_SAMPLER=abit,cpu=5% STRATA_MIGRATE=interval=100ms "$run" --profile "$work/sqlite.prof" -- "$sqlite" :memory: "$sql" \
  >/dev/null
check sqlite3 "$work/sqlite.prof"
echo "pprof: ok: go tool pprof -top agrees with strata-report on the hot sites"
