#!/bin/bash
# The viewer in a real browser: Debian's chromium, headless, driven by
# puppeteer-core (tests/browser/viewer.cjs) through lighttpd as
# conf/lighttpd.conf serves it: the index's flame-graph links, the viewer's
# files and their types, the demo target's CPU and heap flame graphs, the
# server's errors in the page; through nginx and Apache as their examples
# serve it, the index and a heap flame graph.
# Never skips: a missing browser, viewer or puppeteer-core fails, naming
# what installs it.
. "$(dirname "$0")/lib.sh"
CHROMIUM=${CHROMIUM:-/usr/bin/chromium}
CACHE=${PPROF_FCGI_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/pprof-fcgi}
MODULES="$CACHE/browser-test/node_modules"
AGENT="$top_builddir/agent/.libs/libpprof-agent.so"
missing=
[ -x "$CHROMIUM" ] || missing="$missing; no $CHROMIUM (tools/install-deps.sh installs chromium)"
command -v node > /dev/null || missing="$missing; no node (apt-get install nodejs npm)"
[ -d "$MODULES/puppeteer-core" ] || missing="$missing; no puppeteer-core in $MODULES (tools/fetch-viewer.sh --browser-test)"
[ -f "$VIEWER/index.html" ] || missing="$missing; no viewer in $VIEWER (tools/fetch-viewer.sh, then configure)"
if [ -n "$missing" ]; then
	fail "cannot run the browser test${missing}"
	finish
	exit 1
fi

# the demo with the agent, so heap and allocs have stacks
LD_PRELOAD="$AGENT" start_target --pidfile "$T/target.pid" || exit 1
start_app --target-pid "$TARGET_PID" --viewer on || exit 1
# lighttpd as conf/lighttpd.conf asks for credentials (the browser logs in
# by basic auth), and its token-only variant (a 403 the page must show)
AUTH=token-only start_lighttpd || exit 1
TOKEN_ONLY_BASE=$BASE
# nginx and Apache as shipped, for the index and one flame graph each;
# Apache's children run as www-data and reach the socket through its group
chmod 711 "$T"
chgrp www-data "$SOCK"
start_nginx || exit 1
OTHER_SERVERS="nginx=$BASE"
start_apache || exit 1
OTHER_SERVERS="$OTHER_SERVERS apache=$BASE"
start_lighttpd || exit 1

mkdir -p "$T/chromium"
# make screenshot's picture can be taken: a PNG of the CPU flame graph
PROFILE_DIR="$T/chromium-shot" CHROMIUM="$CHROMIUM" BASIC_USER="$BASIC_USER" BASIC_PASSWORD="$BASIC_PASSWORD" \
	node "$top_srcdir/tests/browser/screenshot.cjs" "$MODULES" "$BASE" /v1/sys/pprof "$T/flame.png" > "$T/shot.out" 2>&1
png=$(python3 -c 'import struct, sys
b = open(sys.argv[1], "rb").read()
print("%dx%d %d" % (struct.unpack(">II", b[16:24]) + (len(b),)) if b[:8] == b"\x89PNG\r\n\x1a\n" else "not a PNG")' "$T/flame.png" 2>&1)
[[ $png =~ ^1200x560\ ([0-9]+)$ ]] && [ "${BASH_REMATCH[1]}" -lt 200000 ] &&
	pass "make screenshot's flame graph: a PNG, $png bytes" || fail "screenshot: $png; $(cat "$T/shot.out")"
PROFILE_DIR="$T/chromium" CHROMIUM="$CHROMIUM" TOKEN="$TOKEN" TOKEN_ONLY_BASE="$TOKEN_ONLY_BASE" OTHER_SERVERS="$OTHER_SERVERS" \
	BASIC_USER="$BASIC_USER" BASIC_PASSWORD="$BASIC_PASSWORD" \
	node "$top_srcdir/tests/browser/viewer.cjs" "$MODULES" "$BASE" /v1/sys/pprof > "$T/browser.out" 2>&1
cat "$T/browser.out"
line=$(tail -n1 "$T/browser.out")
if [[ $line =~ ^([0-9]+)\ passed,\ ([0-9]+)\ failed$ ]]; then
	PASSES=$((PASSES + BASH_REMATCH[1])); FAILS=$((FAILS + BASH_REMATCH[2]))
else
	fail "the browser test ended without its summary"
fi
finish
