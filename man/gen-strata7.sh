#!/usr/bin/env bash
# Writes strata(7): strata.7.in with @VERSION@ and @VARIABLES@ filled in, the
# latter generated from the options table (strata-run --options-table), so the
# page lists every STRATA_* variable exactly as the library knows it.
#   gen-strata7.sh STRATA_RUN TEMPLATE OUTPUT VERSION
set -euo pipefail
tool=$1 template=$2 out=$3 version=$4
table=$("$tool" --options-table)
vars=$(printf '%s\n' "$table" | awk -F' [|] ' '
  function roff(s) {
    gsub(/\\/, "\\e", s)
    gsub(/-/, "\\-", s)
    sub(/^[.'"'"']/, "\\\\\\&&", s)
    gsub(/[,;|]/, "&\\:", s)  # optional break points in long specs
    return s
  }
  NR > 2 {
    name = $1; sub(/^[|] `/, "", name); sub(/`$/, "", name)
    doc = $5; sub(/ [|]$/, "", doc)
    printf ".TP\n.B %s\n%s; default: %s; accepted: %s.\n.br\n%s\n", \
      name, $2, roff($3), roff($4), roff(doc)
  }')
n=$(printf '%s\n' "$vars" | grep -c '^\.B STRATA_')
[ "$n" -gt 0 ] || { echo "gen-strata7: no variables in the options table" >&2; exit 1; }
awk -v version="$version" -v vars="$vars" '
  { gsub(/@VERSION@/, version) }
  /^@VARIABLES@$/ { print vars; next }
  { print }' "$template" >"$out.tmp"
mv "$out.tmp" "$out"
