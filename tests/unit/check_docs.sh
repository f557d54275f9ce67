#!/usr/bin/env bash
# docs/configuration.md must carry the options table exactly as the library has it.
set -euo pipefail
tool=$1
doc=$2
want=$("$tool" --options-table)
have=$(sed -n '/<!-- options:begin -->/,/<!-- options:end -->/p' "$doc" | sed '1d;$d')
if [ "$want" != "$have" ]; then
  echo "docs/configuration.md options table is out of date (< library, > doc):"
  diff <(echo "$want") <(echo "$have") || true
  echo "regenerate with: strata-run --options-table"
  exit 1
fi
echo "docs/configuration.md matches the options table ($(echo "$want" | wc -l) lines)"
