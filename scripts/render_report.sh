#!/usr/bin/env bash
# Renders a leakscope report.html to a PNG in headless Chromium, to check by eye that it and its charts display.
#
#   scripts/render_report.sh reports/sample/report.html [out.png] [height]
#
# Needs Debian's chromium (apt-get install -y chromium). The page is opened from the file
# system with the network left unused; report.html loads nothing from outside anyway.
set -euo pipefail

html="${1:?usage: $0 REPORT.html [OUT.png] [HEIGHT]}"
png="${2:-${html%.html}.png}"
height="${3:-4000}"

browser=""
for b in chromium chromium-browser google-chrome; do
  if command -v "$b" >/dev/null 2>&1; then browser="$b"; break; fi
done
if [ -z "$browser" ]; then
  echo "render_report.sh: no chromium on PATH (apt-get install -y chromium)" >&2
  exit 3
fi

abs_html="$(cd "$(dirname "$html")" && pwd)/$(basename "$html")"
case "$png" in /*) abs_png="$png" ;; *) abs_png="$(pwd)/$png" ;; esac
profile="$(mktemp -d)"
trap 'rm -rf "$profile"' EXIT

"$browser" --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
  --disable-background-networking --disable-component-update --disable-sync \
  --hide-scrollbars --user-data-dir="$profile" \
  --screenshot="$abs_png" --window-size=1280,"$height" "file://$abs_html" >/dev/null 2>&1

if [ ! -s "$abs_png" ]; then
  echo "render_report.sh: chromium wrote no screenshot for $html" >&2
  exit 1
fi
echo "$abs_png"
