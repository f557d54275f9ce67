#!/usr/bin/env bash
# Markdown tables from a bench/run-suite.sh output directory.
#   bench/suite-table.sh OUT_DIR PEER...
# Shapes: one row per shape, one column per peer, each cell
#   capture / promoted MiB / sampler CPU share
# capture = the run's fast-tier hits over the oracle's (strata-bench-suite's
# summary line); promoted MiB = strata's own counter for strata peers, the
# kernel's pgpromote_success for the others; sampler CPU share = strata's
# sampling CPU over the process CPU of the access loops ("-" without strata).
# Real programs: operations per second (share of first touch's) and the share
# of the program's memory on node 0 at the end.
set -euo pipefail
out=$1
shift
peers=("$@")
vm() { awk -v k="$2" '$1 == k { print $2 }' "$1" 2>/dev/null || true; }
field() { sed -n 's/^# summary.* '"$2"'=\([^ ]*\).*/\1/p' "$1" 2>/dev/null | tail -1; }
printf '| shape (seed) |'; for p in "${peers[@]}"; do printf ' %s |' "$p"; done; echo
printf '|---|'; for _ in "${peers[@]}"; do printf -- '---|'; done; echo
for dir in "$out"/*/; do
  s=$(basename "$dir")
  [ "$s" = redis ] || [ "$s" = sqlite ] && continue
  csvs=("$dir"/*.csv)
  [ -f "${csvs[0]}" ] || continue
  seed=$(field "${csvs[0]}" seed)
  row="| $s ($seed) |"
  for p in "${peers[@]}"; do
    f=$dir/$p.csv
    if [ -f "$dir/$p.na" ]; then row+=" n/a |"; continue; fi
    cap=$(field "$f" capture)
    if [ -z "$cap" ]; then row+=" failed |"; continue; fi
    case "$p" in
      strata*) promo=$(field "$f" promoted_MiB); share=$(awk -v x="$(field "$f" sampler_share)" 'BEGIN { printf "%.1f%%", 100 * x }') ;;
      *) promo=$(awk -v x="$(vm "$dir/$p.vmstat" pgpromote_success)" 'BEGIN { printf "%.1f", x * 4096 / 1048576 }'); share=- ;;
    esac
    row+=" $cap / $promo / $share |"
  done
  echo "$row"
done
echo
echo "Cells: capture (fast-tier hits / oracle's) / promoted MiB / sampler CPU share."
kd=$(cat "$out"/*/kernel.vmstat 2>/dev/null | awk '$1 ~ /^pgdemote/ { d += $2 } $1 == "numa_hint_faults" { h += $2 } END { printf "%.1f MiB demoted, %d NUMA hint faults", d * 4096 / 1048576, h }')
echo "Kernel tiering over all shapes: $kd (vmstat; promotion is pgpromote_success)."
na=$(awk 'NR == 1' "$out"/*/damon.na 2>/dev/null || true)
[ -n "$na" ] && echo "damon: $na."
for prog in redis sqlite; do
  [ -d "$out/$prog" ] || continue
  echo
  echo "| $prog | ops/s (vs first touch) / node-0 share of its memory |"
  echo "|---|---|"
  base=$(sed -n 's/^# summary.* \(ops\|queries\)_per_s=\([0-9]*\).*/\2/p' "$out/$prog/first-touch.csv" 2>/dev/null)
  for p in "${peers[@]}"; do
    f=$out/$prog/$p.csv
    if [ -f "$out/$prog/$p.na" ]; then echo "| $p | n/a |"; continue; fi
    [ -f "$f" ] || continue
    ops=$(sed -n 's/^# summary.* \(ops\|queries\)_per_s=\([0-9]*\).*/\2/p' "$f")
    [ -n "$ops" ] || { echo "| $p | failed |"; continue; }
    share=$(grep -v '^#' "$f" | tail -1 | awk -F, '{ t = 0; for (i = 4; i <= NF; i++) t += $i; printf "%.2f", t ? $4 / t : 0 }')
    rel=$(awk -v a="$ops" -v b="${base:-0}" 'BEGIN { printf "%.2f", b ? a / b : 0 }')
    echo "| $p | $ops ($rel) / $share |"
  done
done
