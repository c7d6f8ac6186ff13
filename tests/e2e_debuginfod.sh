#!/bin/bash
# Debug files from DEBUGINFOD_URLS are fetched in the background, never
# inside a request: against a debuginfod server of the test's own
# (tests/fake-debuginfod.py) that holds its answer until the test releases
# it, a profile of a stripped target completes while the server still
# holds, and says the debug file is being fetched; once released, the file
# lands in DEBUGINFOD_CACHE_PATH and a later profile names the frames.
# pprof-fcgi stopped while a fetch is held ends at once, its fetcher with
# it. A server that has none is said in the line. --check says whether DEBUGINFOD_URLS is set and where the cache is.
. "$(dirname "$0")/lib.sh"
export HOME="$T"
P=/v1/sys/pprof

cp "$DEMO" "$T/demo-stripped"
mkdir -p "$T/srv" "$T/debug"
objcopy --only-keep-debug "$T/demo-stripped" "$T/demo.debug"
strip --strip-all "$T/demo-stripped"
ID=$(readelf -n "$T/demo-stripped" | sed -n 's/.*Build ID: *//p')
[ -n "$ID" ] && pass "the stripped copy has build-id $ID" || fail "no build-id in the stripped copy"
cp "$T/demo.debug" "$T/srv/$ID.debug"

# server SUFFIX: a held fake debuginfod; sets URL
server() {
	python3 "$(dirname "$0")/fake-debuginfod.py" "$T/port$1" "$T/srv" "$T/release$1" &
	PIDS+=("$!")
	WATCH=$! wait_for test -s "$T/port$1" || return 1
	URL="http://127.0.0.1:$(cat "$T/port$1")"
}
server 1 || exit 1

TARGET_BIN="$T/demo-stripped" start_target || exit 1
DEBUGINFOD_URLS=$URL DEBUGINFOD_CACHE_PATH=$T/cache start_app --target-pid "$TARGET_PID" \
	--debug-dir "$T/debug" || exit 1
NO_TOKEN=1 start_lighttpd || exit 1

# --- the first profile asks for it; the server is asked and holds
# (--max-time: a request that waited for the server would wait for ever)
get "$P/goroutine?debug=1" --max-time 60
expect_status "goroutine debug=1, first" 200
wait_for test -e "$T/srv/$ID.asked" && pass "the server was asked for build-id $ID" \
	|| fail "the server was never asked: $(cat "$T/app.log")"

# --- a profile while the server holds: it completes, and says so
[ ! -e "$T/release1" ] || fail "released too early"
get "$P/goroutine?debug=1" --max-time 60
expect_status "goroutine debug=1 while the server holds its answer" 200
line=$(grep "^# no symbols for $T/demo-stripped " "$T/body")
case $line in
*"(build-id $ID)"*"are unnamed"*"put its debug file at $T/debug/.build-id/"*"its debug file is being fetched from DEBUGINFOD_URLS, and the next profile will name them"*)
	pass "the profile says the debug file is being fetched" ;;
*) fail "the line: $line" ;;
esac
grep -q 'wait_for_lock' "$T/body" && fail "named before the server answered" \
	|| pass "unnamed while the server holds"
[ ! -e "$T/cache/$ID/debuginfo" ] && pass "nothing in the cache yet" || fail "cached before release"

# --- released: it lands in the cache; a later profile names the frames
touch "$T/release1"
wait_for test -s "$T/cache/$ID/debuginfo" && pass "the debug file is in DEBUGINFOD_CACHE_PATH" \
	|| fail "not cached: $(ls -R "$T/cache" 2>&1 | head)"
named() {
	get "$P/goroutine?debug=1"
	grep -q $'^#\t0x[0-9a-f]*\twait_for_lock+0x[0-9a-f]*\t.*demo-target.c:[0-9]*$' "$T/body"
}
wait_for named && pass "a later profile names the frames from the fetched file, with lines" \
	|| fail "never named: $(grep -m3 '^#' "$T/body")"
grep -q "^# no symbols for $T/demo-stripped " "$T/body" && fail "the line stays once fetched" \
	|| pass "the line is gone once fetched"

# --- --check: set, and where the cache is; and unset
DEBUGINFOD_URLS=$URL DEBUGINFOD_CACHE_PATH=$T/cache "$APP" --check --target-pid "$TARGET_PID" \
	--debug-dir "$T/debug" > "$T/check.txt" 2>&1
grep -q "debuginfod.*DEBUGINFOD_URLS=$URL: .*fetched in the background (never inside a request) into $T/cache" \
	"$T/check.txt" && pass "--check: DEBUGINFOD_URLS set, the cache directory" \
	|| fail "--check: $(grep -i debuginfod "$T/check.txt")"
env -u DEBUGINFOD_URLS DEBUGINFOD_CACHE_PATH=$T/cache "$APP" --check --target-pid "$TARGET_PID" \
	> "$T/check.txt" 2>&1
grep -q "debuginfod.*DEBUGINFOD_URLS is not set" "$T/check.txt" \
	&& pass "--check: DEBUGINFOD_URLS not set" || fail "--check: $(grep -i debuginfod "$T/check.txt")"

# --- a server that has none: the line says so (and the log)
mv "$T/srv/$ID.debug" "$T/srv/$ID.kept"
start_app3() {
	DEBUGINFOD_URLS=$URL1 DEBUGINFOD_CACHE_PATH=$T/cache3 "$APP" --listen "unix:$T/app3.sock" \
		--target-pid "$TARGET_PID" --debug-dir "$T/debug" 2>> "$T/app3.log" &
	APP3=$!
	PIDS+=("$APP3")
	WATCH=$APP3 wait_for test -S "$T/app3.sock"
}
URL1=$URL
start_app3 || fail "the third pprof-fcgi did not start"
none_line() {
	SCRIPT_NAME=$P PATH_INFO=/goroutine REQUEST_METHOD=GET QUERY_STRING=debug=1 \
		cgi-fcgi -bind -connect "$T/app3.sock" > "$T/body3"
	grep -q "^# no symbols for $T/demo-stripped .*; DEBUGINFOD_URLS gave none: no server of DEBUGINFOD_URLS has it" "$T/body3"
}
wait_for none_line && pass "a server without the file: the line says DEBUGINFOD_URLS gave none" \
	|| fail "$(grep '^# no symbols' "$T/body3")"
grep -q "debuginfod: no debug file for build-id $ID from DEBUGINFOD_URLS" "$T/app3.log" \
	&& pass "and the log" || fail "log: $(cat "$T/app3.log")"
mv "$T/srv/$ID.kept" "$T/srv/$ID.debug"

# --- stopped while a fetch is held: pprof-fcgi ends at once, its fetch too
server 2 || exit 1
rm -f "$T/srv/$ID.asked"
DEBUGINFOD_URLS=$URL DEBUGINFOD_CACHE_PATH=$T/cache2 "$APP" --listen "unix:$T/app2.sock" \
	--target-pid "$TARGET_PID" --debug-dir "$T/debug" 2>> "$T/app2.log" &
APP2=$!
PIDS+=("$APP2")
WATCH=$APP2 wait_for test -S "$T/app2.sock" || fail "the second pprof-fcgi did not start"
SCRIPT_NAME=$P PATH_INFO=/goroutine REQUEST_METHOD=GET QUERY_STRING=debug=1 \
	cgi-fcgi -bind -connect "$T/app2.sock" > "$T/body2"
grep -q "its debug file is being fetched" "$T/body2" && pass "the second pprof-fcgi asks for it too" \
	|| fail "second: $(grep '^# no symbols' "$T/body2")"
wait_for test -e "$T/srv/$ID.asked" || fail "the second server was never asked"
fetching() { pgrep -f -- "--fetch-debuginfo $ID" > /dev/null; }
fetching && pass "its fetch is under way, held" || fail "no fetch under way"
kill -TERM "$APP2"
gone() { ! kill -0 "$APP2" 2>/dev/null; }
wait_for gone && pass "pprof-fcgi stopped while a fetch was held ends" || fail "pprof-fcgi did not end"
wait "$APP2"
echo "exit $?" >> "$T/app2.log"
fetching && fail "its fetcher outlived it" || pass "its fetch ended with it"
[ ! -e "$T/cache2/$ID/debuginfo" ] && pass "nothing was cached by the stopped one" \
	|| fail "the stopped one cached the file"
touch "$T/release2"
finish
