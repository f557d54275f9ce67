#!/usr/bin/env bash
# The preload's profile and metrics files on this machine (one NUMA node is
# enough): written at exit, on demand through PATH.dump, by a forked child
# under PATH.PID; the metrics file is well-formed Prometheus text.
#   live.sh STRATA_RUN STRATA_REPORT HOTCOLD_PROGRAM
set -euo pipefail
run=$1 report=$2 prog=$3
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fail() { echo "live: FAIL: $*"; exit 1; }
ok() { echo "live: ok: $*"; }
export STRATA_MIGRATE=interval=200ms

# 1. At exit: a profile strata-report reads, naming the program's sites.
"$run" --profile "$work/exit.prof" --metrics "$work/m.prom" -- "$prog" 2 >/dev/null
[ -s "$work/exit.prof" ] || fail "no profile at exit"
"$report" "$work/exit.prof" --format json -o "$work/exit.json"
grep -q make_hot_buffer "$work/exit.json" || fail "the profile does not name make_hot_buffer"
grep -q make_cold_buffer "$work/exit.json" || fail "the profile does not name make_cold_buffer"
ok "profile at exit names both sites"

# 2. Metrics: every sample line is NAME{labels} VALUE, every metric has HELP and TYPE.
[ -s "$work/m.prom" ] || fail "no metrics file"
bad=$(grep -v '^#' "$work/m.prom" | grep -Ev '^[a-z_]+(\{[a-z]+="[^"]*"\})? [0-9]+(\.[0-9]+)?$' || true)
[ -z "$bad" ] || fail "malformed metric lines: $bad"
for m in $(grep -v '^#' "$work/m.prom" | sed 's/[{ ].*//' | sort -u); do
  grep -q "^# HELP $m " "$work/m.prom" || fail "$m has no HELP"
  grep -q "^# TYPE $m \(gauge\|counter\)$" "$work/m.prom" || fail "$m has no TYPE"
done
grep -Eq '^strata_tier_live_bytes\{tier="[a-z0-9]+"\} [0-9]+$' "$work/m.prom" ||
  fail "no per-tier live bytes"
intervals=$(sed -n 's/^strata_migrate_intervals_total \([0-9]*\)$/\1/p' "$work/m.prom")
[ "${intervals:-0}" -ge 2 ] || fail "metrics show ${intervals:-no} intervals after 2 s at 200 ms"
ok "metrics well-formed, $intervals intervals"

# 3. On demand: PATH.dump makes a running program write its profile.
"$run" --profile "$work/live.prof" -- "$prog" 6 >/dev/null &
pid=$!
sleep 1.5
touch "$work/live.prof.dump"
for _ in $(seq 50); do [ -e "$work/live.prof" ] && break; sleep 0.1; done
[ -s "$work/live.prof" ] || fail "no profile within 5 s of creating PATH.dump"
kill -0 "$pid" 2>/dev/null || fail "the program had already exited: not an on-demand write"
[ ! -e "$work/live.prof.dump" ] || fail "the control file was not removed"
"$report" "$work/live.prof" >/dev/null || fail "the on-demand profile is unreadable"
wait "$pid"
ok "on-demand profile written while the program ran"

# 4. A forked child writes PATH.PID.
out=$("$run" --profile "$work/fork.prof" -- /usr/bin/python3 -c '
import os, time
pid = os.fork()
if pid == 0:
    b = [bytearray(1 << 20) for _ in range(8)]
    time.sleep(0.5)
    os._exit(0)
os.waitpid(pid, 0)
print(pid)')
[ -s "$work/fork.prof" ] || fail "no parent profile"
[ -s "$work/fork.prof.$out" ] || fail "no child profile fork.prof.$out: $(ls "$work")"
"$report" "$work/fork.prof.$out" | grep -q "pid $out" || fail "the child profile is not the child's"
ok "forked child wrote fork.prof.$out"
echo "live: all passed"
