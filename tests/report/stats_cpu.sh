#!/usr/bin/env bash
# The stats line's "engine CPU x% of wall time" agrees with the metrics file
# (sampler + migrate CPU seconds over the engine's wall time), in the program
# and in a forked child that exits normally: the child reports its own engine,
# not the parent's CPU over the child's short life (which read 98% before).
#   stats_cpu.sh STRATA_RUN
set -euo pipefail
run=$1
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fail() { echo "stats_cpu: FAIL: $*"; exit 1; }
ok() { echo "stats_cpu: ok: $*"; }
command -v python3 >/dev/null || { echo "SKIP: no python3"; exit 77; }

# The parent touches 64 MiB for 2 s with a generous sampling budget (so its
# engine CPU is large), then forks a child that lives 0.5 s and exits through
# exit() (atexit: its own stats table), and writes its own wall time.
STRATA_MIGRATE=interval=100ms STRATA_SAMPLER=abit,cpu=20% \
  "$run" --profile "$work/p.prof" --metrics "$work/m.prom" --stats="$work/stats" -- \
  /usr/bin/python3 -c '
import os, sys, time
t0 = time.monotonic()
b = bytearray(64 << 20)
while time.monotonic() - t0 < 2.0:
    for i in range(0, len(b), 4096):
        b[i] = (b[i] + 1) & 255
pid = os.fork()
if pid == 0:
    time.sleep(0.5)
    sys.exit(0)
os.waitpid(pid, 0)
time.sleep(0.3)  # one more interval: the metrics file is the parent'"'"'s again
with open(sys.argv[1], "w") as f:
    f.write("%.3f\n" % (time.monotonic() - t0))
' "$work/wall"

mapfile -t pct < <(sed -n 's/.*engine CPU \([0-9.]*\)% of wall time.*/\1/p' "$work/stats")
[ "${#pct[@]}" -eq 2 ] || fail "expected 2 migration lines (child, parent), got ${#pct[@]}: $(cat "$work/stats")"
# The child exits first, so its table comes first.
child=${pct[0]} parent=${pct[1]}
cpu=$(awk '/^strata_(sampler|migrate)_cpu_seconds_total /{s += $2} END {print s + 0}' "$work/m.prom")
wall=$(cat "$work/wall")
echo "parent: $parent% in the stats line; metrics: $cpu s engine CPU over about $wall s"
echo "child: $child% in the stats line"
# The parent's engine started before the script's clock (interpreter start)
# and ran a little after the last metrics write: agreement within a quarter
# of the value or 1.5 points.
awk -v s="$parent" -v c="$cpu" -v w="$wall" 'BEGIN {
  m = 100 * c / w; d = s - m; if (d < 0) d = -d; tol = 0.25 * m; if (tol < 1.5) tol = 1.5
  exit !(d <= tol) }' || fail "parent: stats line $parent% vs metrics $(awk -v c="$cpu" -v w="$wall" 'BEGIN{printf "%.2f", 100*c/w}')%"
ok "the parent's stats line agrees with its metrics file"
# The child sampled for under 0.5 s at a 20% budget; with the parent's
# counters it read the parent's CPU (about 0.3 s) over its own wall time.
awk -v s="$child" 'BEGIN { exit !(s <= 50) }' || fail "child: engine CPU $child% of its wall time"
ok "the child reports its own engine CPU ($child%)"
echo "stats_cpu: all passed"
