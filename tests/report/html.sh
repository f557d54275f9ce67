#!/usr/bin/env bash
# The HTML page rendered by headless Chromium: the screenshot's heatmap must
# show the recorded profile (check_png.py checks pixels). A second screenshot
# of the page without its heatmap drawn must fail the same check (the check
# is not vacuous).
#   html.sh STRATA_REPORT PROFILE CHECK_PNG_PY
# Exits 77 (skipped) only when Chromium is not installed.
set -euo pipefail
report=$1
profile=$2
checker=$3

chromium=""
for c in /usr/bin/chromium chromium chromium-browser google-chrome; do
  if command -v "$c" >/dev/null 2>&1; then
    chromium=$(command -v "$c")
    break
  fi
done
if [ -z "$chromium" ]; then
  echo "SKIP: chromium is not installed (Debian package chromium; scripts/install-deps.sh installs it)"
  exit 77
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"$report" "$profile" --format html -o "$tmp/report.html"

shoot() {  # OUT.png; $page names the page in $tmp (default report.html)
  local out=$1
  if ! timeout 90 "$chromium" --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
    --disable-background-networking --disable-component-update --disable-sync --disable-dev-shm-usage \
    --user-data-dir="$(mktemp -d "$tmp/chromium.XXXXXX")" \
    --screenshot="$out" --window-size=1200,1600 "file://$tmp/${page:-report.html}" >"$tmp/chromium.log" 2>&1 ||
    [ ! -s "$out" ]; then
    echo "FAIL: chromium did not write a screenshot:"
    tail -20 "$tmp/chromium.log"
    exit 1
  fi
}

shoot "$tmp/page.png"
# Keep the page and its screenshot next to the test for people to look at.
cp "$tmp/report.html" "$tmp/page.png" . 2>/dev/null || true
python3 "$checker" "$tmp/page.png"

# Negative control: the same page with the heatmap's draw() call removed.
sed 's/^  draw();$/  \/\/ not drawn/' "$tmp/report.html" >"$tmp/undrawn.html"
grep -q '// not drawn' "$tmp/undrawn.html" || { echo "FAIL: html.sh no longer finds the draw() call"; exit 1; }
page=undrawn.html shoot "$tmp/undrawn.png"
if python3 "$checker" "$tmp/undrawn.png" >"$tmp/undrawn.log" 2>&1; then
  echo "FAIL: the pixel check passes on a page whose heatmap was never drawn:"
  cat "$tmp/undrawn.log"
  exit 1
fi
echo "ok: with the heatmap not drawn the same check fails ($(tail -1 "$tmp/undrawn.log"))"
