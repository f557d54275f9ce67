#!/usr/bin/env bash
# Compares the dynamic symbols libstrata.so defines with the allow-list.
set -euo pipefail
lib=$1
list=$2
actual=$(nm -D --defined-only "$lib" | awk '{print $3}' | sed 's/@.*//' | sort -u)
expected=$(grep -v '^#' "$list" | sed '/^$/d' | sort -u)
if [ "$actual" != "$expected" ]; then
  echo "exported symbols differ from $list (< exported, > allowed):"
  diff <(echo "$actual") <(echo "$expected") || true
  exit 1
fi
# strata's API is versioned (strata_*@@STRATA_0.1); the interposed names are
# not: a versioned malloc would not bind the programs' malloc@GLIBC_* references.
wrong=$(nm -D --defined-only "$lib" | awk '$2 != "A" {
  v = ($3 ~ /^strata_/) ? ($3 ~ /@@STRATA_[0-9.]+$/) : ($3 !~ /@/); if (!v) print $3 }')
if [ -n "$wrong" ]; then
  echo "symbols with the wrong version (strata_* need @@STRATA_*, the rest none):"
  echo "$wrong"
  exit 1
fi
soname=$(readelf -d "$lib" | sed -n 's/.*(SONAME).*\[\(.*\)\]/\1/p')
case "$soname" in
  libstrata.so.[0-9]*) ;;
  *) echo "libstrata has no versioned SONAME (found \"$soname\")"; exit 1 ;;
esac
echo "exports: $(echo "$actual" | wc -l) symbols, all on the allow-list; SONAME $soname"
