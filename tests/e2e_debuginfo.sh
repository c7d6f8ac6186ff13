#!/bin/bash
# A stripped program says so: a stripped copy of the demo target leaves its
# frames unnamed, and the profile's comment and the debug=1 text name the
# file, its build-id, how many frames, and the debug file that would name
# them; put there (a debug-dir of the test's own, not the host's), the
# next request names them and the line is gone. Run through a symlink, as
# Debian runs redis-server (a link to redis-check-rdb), the profiles are
# named after the link, the name the user knows.
. "$(dirname "$0")/lib.sh"
export HOME="$T" PPROF_TMPDIR="$T"
P=/v1/sys/pprof

cp "$DEMO" "$T/demo-stripped"
objcopy --only-keep-debug "$T/demo-stripped" "$T/demo.debug"
strip --strip-all "$T/demo-stripped"
ID=$(readelf -n "$T/demo-stripped" | sed -n 's/.*Build ID: *//p')
[ -n "$ID" ] && pass "the stripped copy has build-id $ID" || fail "no build-id in the stripped copy"
DEBUG="$T/debug/.build-id/${ID:0:2}/${ID:2}.debug"

ln -s demo-stripped "$T/my-service"
TARGET_BIN="$T/my-service" start_target || exit 1
start_app --target-pid "$TARGET_PID" --debug-dir "$T/debug" || exit 1
NO_TOKEN=1 start_lighttpd || exit 1

# --- debug=1: the line, once, with everything the user needs
get "$P/goroutine?debug=1"
expect_status "goroutine debug=1" 200
line=$(grep "^# no symbols for $T/demo-stripped " "$T/body")
[ "$(printf '%s\n' "$line" | grep -c .)" = 1 ] && pass "debug=1: one line for the stripped program" \
	|| fail "debug=1: $(grep '^# no symbols' "$T/body")"
case $line in
*"(build-id $ID)"*"frames, in "*" samples, are unnamed; to name them put its debug file at $DEBUG (no Debian package owns the file), or set DEBUGINFOD_URLS"*)
	pass "the line names the build-id, the count, the path, that no package owns it, debuginfod" ;;
*) fail "the line: $line" ;;
esac
grep -q 'wait_for_lock' "$T/body" && fail "debug=1 names a static function of a stripped file" \
	|| pass "debug=1: the stripped program's functions are unnamed"

# --- the index: the same, once per module
curl -s -o "$T/index.html" "$BASE$P/"
grep -q "^<li>$T/demo-stripped (build-id $ID): to name its frames, put its debug file at $DEBUG (no Debian package owns the file), " \
	"$T/index.html" && pass "the index names the stripped module and its debug file" \
	|| fail "index: $(grep -A3 'without symbols' "$T/index.html")"

# --- the pprof profile: its comment, which go tool pprof shows
get "$P/goroutine"
cp "$T/body" "$T/g.pb.gz"
go tool pprof -comments "$T/g.pb.gz" > "$T/comments.txt" 2>&1
grep -q "^no symbols for $T/demo-stripped (build-id $ID)" "$T/comments.txt" \
	&& pass "go tool pprof -comments shows the line" || fail "comments: $(cat "$T/comments.txt")"

# --- named as it was run: File: is the link, the build-id the file's
go tool pprof -top "$T/g.pb.gz" 2>&1 | grep -q '^File: my-service$' \
	&& pass "go tool pprof -top: File: my-service" || fail "$(go tool pprof -top "$T/g.pb.gz" 2>&1 | head -3)"
go tool pprof -raw "$T/g.pb.gz" 2>&1 | grep -q "/my-service $ID " \
	&& pass "the main mapping is the link, with the file's build-id" \
	|| fail "mappings: $(go tool pprof -raw "$T/g.pb.gz" 2>&1 | sed -n '/^Mappings/,$p')"

# --- the debug file where the line says: read at the next request
mkdir -p "$(dirname "$DEBUG")"
cp "$T/demo.debug" "$DEBUG"
get "$P/goroutine?debug=1"
grep -q "^# no symbols for $T/demo-stripped " "$T/body" && fail "the line stays with the debug file in place" \
	|| pass "the line is gone once the debug file is in place"
grep -q $'^#\t0x[0-9a-f]*\twait_for_lock+0x[0-9a-f]*\t.*demo-target.c:[0-9]*$' "$T/body" \
	&& pass "the next request names the frames from the debug file, with lines" \
	|| fail "not named: $(grep -m3 $'^#\t' "$T/body")"
curl -s -o "$T/index.html" "$BASE$P/"
grep -q "^<li>$T/demo-stripped" "$T/index.html" && fail "the index still names the stripped module" \
	|| pass "the index no longer names it"
finish
