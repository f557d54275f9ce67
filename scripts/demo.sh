#!/usr/bin/env bash
# Installs everything, builds strata, and runs an unmodified program (python3)
# under it with two tiers, then prints the per-tier report.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
bash scripts/build.sh
build=${STRATA_BUILD_DIR:-build}
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
"$run" --stats --tiers "$tiers" --policy "$policy" -- /usr/bin/python3 - <<'PY'
import hashlib, json, sqlite3
rows = [{"id": i, "name": f"item-{i}", "tags": list(range(i % 17))} for i in range(200_000)]
blob = json.dumps(rows)
db = sqlite3.connect(":memory:")
db.execute("create table t (id integer primary key, name text, ntags integer)")
db.executemany("insert into t values (?, ?, ?)", ((r["id"], r["name"], len(r["tags"])) for r in rows))
total = db.execute("select sum(ntags) from t").fetchone()[0]
big = bytearray(64 << 20)
print(f"python3: {len(rows)} rows, json {len(blob) >> 20} MiB, sum {total}, "
      f"sha256 {hashlib.sha256(blob.encode()).hexdigest()[:16]}, buffer {len(big) >> 20} MiB")
PY
