#!/usr/bin/env bash
# strata-judge-summary on hand-written judge output: per-window shares, estimated
# accesses (samples x period) and the modelled time; bad files are refused with exit 2.
#   check_judge_summary.sh BUILD/bin/strata-judge-summary
set -euo pipefail
summary=${1:?usage: check_judge_summary.sh STRATA_JUDGE_SUMMARY}
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
failures=0
expect() { # expect WHAT GOT WANTED
	if [ "$2" = "$3" ]; then echo "ok: $1"; else echo "FAIL: $1: got '$2', expected '$3'"; failures=$((failures + 1)); fi
}
cat >"$dir/j.csv" <<'CSV'
# strata-judge 1: period=4 nodes=3 latency_ns=100:250:350 interval_ms=100
t_ms,window,target_node0,target_node1,target_node2,target_unmapped,other_user,kernel_node0,kernel_node1,kernel_node2,kernel_unmapped
100.0,-,7,0,0,0,0,5,0,0,0
200.0,w1,30,10,0,0,3,1,1,0,0
300.0,w1,30,20,10,0,9,0,0,2,0
400.0,w2,0,0,0,0,0,0,0,0,0
500.0,-,1,2
CSV
line=$(python3 "$summary" "$dir/j.csv" --totals --window w1)
# w1: 60 / 30 / 10 samples of 100; x4 accesses; time = 4 * (60*100 + 30*250 + 10*350) ns = 0.068 ms
expect "w1 totals" "$line" \
	"window w1 rows=2 samples=100 accesses=400 share_node0=0.6000 share_node1=0.3000 share_node2=0.1000 share_unmapped=0.0000 mean_ns=170.0000 modelled_ms=0.0680"
line=$(python3 "$summary" "$dir/j.csv" --totals --kernel --window w1 | sed -n 's/^kernel w1 //p')
expect "w1 kernel" "$line" \
	"rows=2 samples=4 accesses=16 share_node0=0.2500 share_node1=0.2500 share_node2=0.5000 share_unmapped=0.0000 mean_ns=262.5000 modelled_ms=0.0042"
expect "windows in order, empty window has zero shares" \
	"$(python3 "$summary" "$dir/j.csv" --totals | cut -d' ' -f1-4)" \
	"$(printf 'window - rows=1 samples=7\nwindow w1 rows=2 samples=100\nwindow w2 rows=1 samples=0')"
expect "per-interval table has one line per row plus a header and the totals" \
	"$(python3 "$summary" "$dir/j.csv" | wc -l)" 8

echo "not a judge file" >"$dir/bad.csv"
set +e
err=$(python3 "$summary" "$dir/bad.csv" 2>&1 >/dev/null)
rc=$?
set -e
expect "a file without the header: exit 2" "$rc" 2
expect "... and says why" "$(grep -c 'not a strata-judge output' <<<"$err")" 1
sed 's/latency_ns=100:250:350/latency_ns=100:250/' "$dir/j.csv" >"$dir/lat.csv"
set +e
python3 "$summary" "$dir/lat.csv" >/dev/null 2>&1
rc=$?
set -e
expect "latencies that do not match the node count: exit 2" "$rc" 2
[ "$failures" -eq 0 ] || exit 1
