#!/usr/bin/env bash
# Installs everything, builds strata, and runs an unmodified program (python3)
# under it with two tiers: once with the per-tier statistics, once profiled
# with the migration engine on, then prints strata-report's summary and writes
# its HTML page.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
bash scripts/build.sh
build=${BUILD_DIR:-build}
run="$build/bin/strata-run"
echo
echo "== strata-run --show-tiers"
"$run" --show-tiers
# Two heaps: the fastest tier, and a second one that takes every block of
# 64 KiB or more. On a one-node machine both live on node 0; on a machine with
# a CPU-less (CXL) node, name it instead: --tiers 'dram;cxl'.
nodes=$(cat /sys/devices/system/node/online 2>/dev/null || echo 0)
first=${nodes%%[-,]*}
tiers="fast:nodes=$first;big:nodes=$first,cap=512M"
policy="size>=64K -> big"
echo
echo "== strata-run --tiers '$tiers' --policy '$policy' --explain"
"$run" --tiers "$tiers" --policy "$policy" --explain
echo
echo "== strata-run --stats --tiers ... --policy ... -- /usr/bin/python3 (unmodified)"
workload=$(cat <<'PY'
import hashlib, json, sqlite3
rows = [{"id": i, "name": f"item-{i}", "tags": list(range(i % 17))} for i in range(200_000)]
blob = json.dumps(rows)
db = sqlite3.connect(":memory:")
db.execute("create table t (id integer primary key, name text, ntags integer)")
db.executemany("insert into t values (?, ?, ?)", ((r["id"], r["name"], len(r["tags"])) for r in rows))
total = db.execute("select sum(ntags) from t").fetchone()[0]
big = bytearray(64 << 20)  # written once, then left alone: a cold site
index = {r["name"]: r for r in rows}  # looked up for 4 seconds: a hot one
import random, time
random.seed(1)
end, hits = time.time() + 4, 0
while time.time() < end:
    for _ in range(10000):
        hits += len(index[f"item-{random.randrange(200_000)}"]["tags"])
print(f"python3: {len(rows)} rows, json {len(blob) >> 20} MiB, sum {total}, {hits} tag hits, "
      f"sha256 {hashlib.sha256(blob.encode()).hexdigest()[:16]}, buffer {len(big) >> 20} MiB")
PY
)
"$run" --stats --tiers "$tiers" --policy "$policy" -- /usr/bin/python3 -c "$workload"
profile="$build/demo.prof"
echo
echo "== strata-run --profile $profile --migrate interval=500ms --tiers ... -- /usr/bin/python3 (unmodified)"
"$run" --profile "$profile" --migrate interval=500ms --tiers "$tiers" --policy "$policy" -- \
  /usr/bin/python3 -c "$workload"
echo
echo "== strata-report $profile"
"$build/bin/strata-report" "$profile"
"$build/bin/strata-report" "$profile" --format html -o "$build/demo-report.html"
echo
echo "HTML report (heatmap, tier occupancy, sites): $build/demo-report.html"
