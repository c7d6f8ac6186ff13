#!/bin/bash
# make screenshot: docs/img/flame.png, the README's picture of the demo
# target's CPU flame graph, taken by tests/browser/screenshot.cjs in
# headless chromium through lighttpd as conf/lighttpd.conf serves the viewer
# (authentication left out, as ./run.sh does). Needs what e2e_browser.sh
# needs: chromium, node, tools/fetch-viewer.sh and --browser-test.
. "$(dirname "$0")/lib.sh"
OUT=${1:-$top_srcdir/docs/img/flame.png}
CACHE=${PPROF_FCGI_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/pprof-fcgi}
MODULES="$CACHE/browser-test/node_modules"
[ -f "$VIEWER/index.html" ] || { echo "screenshot: no viewer in $VIEWER (tools/fetch-viewer.sh, then configure)" >&2; exit 1; }
[ -d "$MODULES/puppeteer-core" ] || { echo "screenshot: no puppeteer-core (tools/fetch-viewer.sh --browser-test)" >&2; exit 1; }
LD_PRELOAD="$top_builddir/agent/.libs/libpprof-agent.so" start_target || exit 1
start_app --target-pid "$TARGET_PID" --viewer on || exit 1
NO_TOKEN=1 start_lighttpd || exit 1
mkdir -p "$(dirname "$OUT")" "$T/chromium"
PROFILE_DIR="$T/chromium" node "$top_srcdir/tests/browser/screenshot.cjs" "$MODULES" "$BASE" /v1/sys/pprof "$OUT"
