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
echo "exports: $(echo "$actual" | wc -l) symbols, all on the allow-list"
