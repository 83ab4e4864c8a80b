#!/usr/bin/env bash
# Opens an HTML report in headless Chromium with every host name unresolvable, and fails if the
# page tried to reach the network (any request the page made, read from Chromium's net log: page
# requests carry the page's file:// site in their isolation key, Chromium's own background
# requests do not), logged anything to its console, or could not be rendered. Writes a screenshot.
#   scripts/check-report.sh REPORT.html [SCREENSHOT.png]
set -euo pipefail
report="$(realpath "$1")"
shot="${2:-${report%.html}.png}"
log="$(mktemp)"; netlog="$(mktemp)"
trap 'rm -f "$log" "$netlog"' EXIT
browser="$(command -v chromium || command -v chromium-browser || true)"
[ -n "$browser" ] || { echo "check-report: chromium is not installed (scripts/setup.sh installs it)" >&2; exit 2; }
timeout 120 "$browser" --headless --no-sandbox --disable-gpu --hide-scrollbars --no-first-run \
  --disable-background-networking --disable-component-update --disable-sync --disable-extensions \
  --enable-logging=stderr --v=0 --host-resolver-rules="MAP * ~NOTFOUND" --log-net-log="$netlog" \
  --window-size=1100,2400 --screenshot="$shot" "file://$report" 2> "$log" >/dev/null || true
requests="$(grep -oE 'https?://[^ "\\]+ \\u003Cfile://' "$netlog" | sed 's/ .*//' | sort -u || true)"
if [ -n "$requests" ]; then
  echo "check-report: $report tried to reach the network:" >&2
  echo "$requests" >&2
  exit 1
fi
if grep -E "CONSOLE|Failed to load resource|ERR_NAME_NOT_RESOLVED|Uncaught" "$log" >&2; then
  echo "check-report: $report logged console messages or tried the network (above)" >&2
  exit 1
fi
[ -s "$shot" ] || { echo "check-report: no screenshot was written" >&2; cat "$log" >&2; exit 1; }
echo "check-report: $report renders offline with a clean console; screenshot $shot"
