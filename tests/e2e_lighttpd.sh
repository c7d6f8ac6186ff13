#!/bin/bash
# End to end through a real lighttpd (conf/lighttpd.conf) with curl: every
# implemented endpoint's status, headers and body, every error row of the
# SPEC that applies, the target followed across a restart, a clean stop.
. "$(dirname "$0")/lib.sh"

start_target --pidfile "$T/target.pid" || exit 1
start_app --target-pidfile "$T/target.pid" || exit 1
start_lighttpd || exit 1
P=/v1/sys/pprof
[ "$(stat -c %a "$SOCK")" = 660 ] && pass "socket created 0660" || fail "socket mode $(stat -c %a "$SOCK")"

# --- authentication happens in the web server
STATUS=$(curl -s -o /dev/null -w '%{http_code}' "$BASE$P/cmdline")
[ "$STATUS" = 401 ] && pass "no credentials: 401" || fail "no credentials: status $STATUS, want 401"

# --- index
get "$P/"
expect_status index 200
expect_header index Content-Type "text/html; charset=utf-8"
expect_header index X-Content-Type-Options nosniff
expect_header index Cache-Control no-store
expect_body_has index "pid $TARGET_PID"
expect_body_has index "demo-target"
expect_body_has index "href=\"goroutine?debug=2\""
expect_body_has index "<tr><td class=\"count\">9</td><td><a href=\"goroutine?debug=1\">goroutine</a>"
for p in allocs block cmdline goroutine heap mutex profile threadcreate trace; do
	grep -qF "href=\"$p?debug=1\"" "$T/body" || fail "index: no link to $p"
done
get "$P/" -I
expect_status "HEAD index" 200
[ "$(header Content-Length)" -gt 1000 ] && pass "HEAD index: Content-Length" || fail "HEAD index: Content-Length $(header Content-Length)"

# --- the bare mount redirects, as Go's mux does
get "$P"
expect_status "bare mount" 301
expect_header "bare mount" Location "$P/"
get "$P?debug=1"
expect_header "bare mount with query" Location "$P/?debug=1"

# --- cmdline: /proc/PID/cmdline minus its final NUL
get "$P/cmdline"
expect_status cmdline 200
expect_header cmdline Content-Type "text/plain; charset=utf-8"
if head -c -1 "/proc/$TARGET_PID/cmdline" | cmp -s - "$T/body"; then pass "cmdline: body is argv joined by NUL"
else fail "cmdline: body $(od -c "$T/body" | head -3)"; fi
get "$P/cmdline?debug=1"
expect_status "cmdline ignores debug" 200
get /debug/pprof/cmdline
expect_status "cmdline under /debug/pprof" 200

# --- errors, with Go's and Vault's texts
err_case() { # NAME PATH STATUS BODY [curl options]
	local name=$1 path=$2 status=$3 body=$4; shift 4
	get "$path" "$@"
	expect_status "$name" "$status"
	expect_body "$name" "$body"
	expect_header "$name" X-Go-Pprof 1
	expect_header "$name" Content-Type "text/plain; charset=utf-8"
}
SECS='invalid value for "seconds" - must be a positive integer'
err_case "unknown profile" "$P/nosuch" 404 "Unknown profile"
err_case "unknown profile, debug" "$P/nosuch?debug=1" 404 "Unknown profile"
err_case "seconds=abc" "$P/profile?seconds=abc" 400 "$SECS"
err_case "seconds=0" "$P/profile?seconds=0" 400 "$SECS"
err_case "seconds=-1" "$P/trace?seconds=-1" 400 "$SECS"
err_case "seconds=1e9" "$P/heap?seconds=1e9" 400 "$SECS"
err_case "seconds too long" "$P/profile?seconds=301" 400 "seconds 301 exceeds max request duration of 300"
err_case "hz=0" "$P/profile?hz=0" 400 'invalid value for "hz" - must be an integer from 1 to 1000'
err_case "hz=1001" "$P/profile?hz=1001" 400 'invalid value for "hz" - must be an integer from 1 to 1000'
err_case "seconds on cmdline" "$P/cmdline?seconds=1" 400 '"seconds" parameter is not supported for this profile type'
err_case "seconds on symbol" "$P/symbol?seconds=1" 400 '"seconds" parameter is not supported for this profile type'
err_case "debug=3" "$P/goroutine?debug=3" 400 'invalid value for "debug" - must be 0, 1 or 2'
err_case "debug=x" "$P/heap?debug=x" 400 'invalid value for "debug" - must be 0, 1 or 2'
err_case "seconds with debug" "$P/goroutine?seconds=1&debug=1" 400 "seconds and debug params are incompatible"
err_case "POST cmdline" "$P/cmdline" 405 "method POST not allowed for /cmdline" --data ""
expect_header "POST cmdline" Allow "GET, HEAD"
err_case "DELETE index" "$P/" 405 "method DELETE not allowed for /index" -X DELETE
head -c 2000000 /dev/zero | tr '\0' '1' > "$T/big"
get "$P/symbol" --data-binary "@$T/big"
expect_status "2 MB symbol body" 413

# --- heap and allocs without the preload agent: Go's empty profile, and why
for p in heap allocs; do
	get "$P/$p"
	expect_status "$p without agent" 200
	expect_header "$p without agent" Content-Disposition "attachment; filename=\"$p\""
	gunzip -c "$T/body" | protoc --proto_path="$top_srcdir/proto" --decode=perftools.profiles.Profile profile.proto > "$T/heap.txt" 2>&1
	grep -q '"inuse_space"' "$T/heap.txt" && grep -q 'preload agent' "$T/heap.txt" \
		&& pass "$p: four sample types, comment names the agent" || fail "$p: $(head -5 "$T/heap.txt")"
done
get "$P/heap?debug=1"
head -n1 "$T/body" | grep -q '^heap profile: 0: 0 \[0: 0\] @ heap/' && pass "heap debug=1" || fail "heap debug=1: $(head -n2 "$T/body")"
get "$P/heap?gc=1"
expect_status "heap gc=1 accepted" 200
get /symbolz
expect_status "/symbolz routed" 200
expect_body "/symbolz routed" "num_symbols: 1"

# --- the target is followed through its pidfile across a restart
kill -TERM "$TARGET_PID"; wait "$TARGET_PID" 2>/dev/null
get "$P/cmdline"
expect_status "target stopped" 503
expect_body_has "target stopped" "$T/target.pid"
# a browser gets a page saying which target and what pprof-fcgi waits for
get "$P/" -H 'Accept: text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8'
expect_status "target stopped, browser" 503
expect_header "target stopped, browser" Content-Type "text/html; charset=utf-8"
expect_body_has "target stopped, browser" "<code>pidfile $T/target.pid</code>"
expect_body_has "target stopped, browser" "waiting for <code>$T/target.pid</code> to name a running process"
get "$P/"
expect_status "target stopped, scraper" 503
expect_header "target stopped, scraper" Content-Type "text/plain; charset=utf-8"
expect_body_has "target stopped, scraper" "target not running"
OLD=$TARGET_PID
start_target --pidfile "$T/target.pid" || exit 1
[ "$TARGET_PID" != "$OLD" ] || fail "restarted target kept its pid"
get "$P/"
expect_status "restarted target" 200
expect_body_has "restarted target" "pid $TARGET_PID"

# --- run.sh --help: its usage and no line of its shell source
help=$("$top_srcdir/run.sh" --help); rc=$?
grep -v '^#' "$top_srcdir/run.sh" | grep -v '^$' > "$T/run.sh.code"
if [ "$rc" = 0 ] && grep -qF './run.sh [--target-pid PID]' <<< "$help" &&
   ! grep -qxFf "$T/run.sh.code" <<< "$help"; then pass "run.sh --help: usage only, exit 0"
else fail "run.sh --help: exit $rc: $help"; fi

# --- SIGTERM: the app stops at once and removes its socket
kill -TERM "$APP_PID"
if WAIT_S=10 wait_for sh -c "! kill -0 $APP_PID"; then pass "SIGTERM stops the app"
else fail "app still running 10 s after SIGTERM"; fi
wait "$APP_PID"; rc=$?
[ "$rc" = 0 ] && pass "app exit status 0" || fail "app exit status $rc"
[ ! -e "$SOCK" ] && pass "socket removed" || fail "socket left behind"
grep -q "stopping" "$T/app.log" && pass "stop logged" || fail "stop not logged: $(tail -3 "$T/app.log")"

finish
