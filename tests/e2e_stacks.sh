#!/bin/bash
# /goroutine (threads), /threadcreate and /symbol end to end, on the demo
# target whose threads sit in known places; a 1,000-thread dump; and the
# promise that a thread in epoll_wait is never interrupted (no EINTR).
. "$(dirname "$0")/lib.sh"
export HOME="$T" PPROF_TMPDIR="$T"

start_target || exit 1
start_app --target-pid "$TARGET_PID" || exit 1
NO_TOKEN=1 start_lighttpd || exit 1
P=/v1/sys/pprof

# --- debug=2: one block per thread, main thread first
get "$P/goroutine?debug=2"
expect_status "goroutine debug=2" 200
expect_header "goroutine debug=2" Content-Type "text/plain; charset=utf-8"
head -n1 "$T/body" | grep -q "^thread $TARGET_PID \"demo-target\" \[" && pass "main thread first" || fail "first line: $(head -n1 "$T/body")"
block() { sed -n "/^thread [0-9]* \"$1\"/,/^\$/p" "$T/body"; }
check_block() { # NAME HEADER-PATTERN FRAME...
	local name=$1 head=$2 b; shift 2
	b=$(block "$name")
	echo "$b" | head -n1 | grep -q "$head" || { fail "$name: header $(echo "$b" | head -n1)"; return; }
	local f last=0 at
	for f in "$@"; do
		at=$(echo "$b" | grep -n "^$f" | head -n1 | cut -d: -f1)
		if [ -z "$at" ] || [ "$at" -le "$last" ]; then fail "$name: no frame $f in order: $(echo "$b" | grep -v $'^\t' | tr '\n' ' ')"; return; fi
		last=$at
	done
	pass "$name: $head; $*"
}
check_block lock-waiter 'sleeping in futex' __pthread_mutex_lock wait_for_lock lock_waiter start_thread
check_block sleeper 'sleeping in clock_nanosleep' clock_nanosleep sleeper start_thread
check_block pipe-reader 'sleeping in read' pipe_reader start_thread
check_block epoll-waiter 'sleeping in epoll_wait, .*read without stopping it' epoll_wait epoll_waiter start_thread
check_block lock-holder 'sleeping' hold_lock_while_sleeping lock_holder
grep -q $'^\t/.*demo-target.c:[0-9]* +0x' "$T/body" && pass "frames carry file:line +offset" || fail "no file:line lines"
n=$(grep -c '^thread ' "$T/body")
[ "$n" = "$(ls /proc/$TARGET_PID/task | wc -l)" ] && pass "every thread listed ($n)" || fail "$n threads listed"

# --- debug=1: Go's counts text, read by go tool pprof (symbols via /symbolz)
get "$P/goroutine?debug=1"
head -n1 "$T/body" | grep -q '^goroutine profile: total 9$' && pass "debug=1 header" || fail "debug=1: $(head -n1 "$T/body")"
grep -q $'^#\t0x[0-9a-f]*\twait_for_lock+0x[0-9a-f]*\t.*demo-target.c:[0-9]*$' "$T/body" && pass "debug=1 frame lines" || fail "debug=1 frames"
go tool pprof -traces "$BASE$P/goroutine?debug=1" > "$T/traces1.txt" 2>&1
grep -q wait_for_lock "$T/traces1.txt" && pass "go tool pprof reads goroutine?debug=1 and symbolizes" || fail "pprof debug=1: $(tail -5 "$T/traces1.txt")"

# --- debug=0: pprof, identical stacks merged, thread names as labels
get "$P/goroutine"
expect_header "goroutine debug=0" Content-Disposition 'attachment; filename="goroutine"'
cp "$T/body" "$T/g.pb.gz"
go tool pprof -raw "$T/g.pb.gz" > "$T/raw.txt" 2>&1
grep -q 'goroutine/count' "$T/raw.txt" && grep -q 'thread_name:\[lock-waiter\]' "$T/raw.txt" \
	&& pass "debug=0: goroutine/count, thread_name labels" || fail "debug=0: $(head -20 "$T/raw.txt")"
go tool pprof -top "$T/g.pb.gz" 2>&1 | grep -q 'wait_for_lock' && pass "debug=0 symbolized" || fail "debug=0 not symbolized"

# --- seconds: Go's delta
get "$P/goroutine?seconds=1"
expect_status "goroutine delta" 200
expect_header "goroutine delta" Content-Disposition 'attachment; filename="goroutine-delta"'
go tool pprof -raw "$T/body" > /dev/null 2>&1 && pass "delta parses" || fail "delta does not parse"

# --- threadcreate: threads grouped by start routine, without the agent
get "$P/threadcreate?debug=1"
head -n1 "$T/body" | grep -q '^threadcreate profile: total 9$' && pass "threadcreate header" || fail "threadcreate: $(head -n1 "$T/body")"
grep -q $'^#\t0x[0-9a-f]*\thash_worker+0x0\t' "$T/body" && pass "threadcreate: start routine by its entry" || fail "threadcreate frames: $(head -12 "$T/body")"
get "$P/threadcreate"
gunzip -c "$T/body" | protoc --proto_path="$top_srcdir/proto" --decode=perftools.profiles.Profile profile.proto 2>&1 \
	| grep -q 'LD_PRELOAD=libpprof-agent.so' && pass "threadcreate comment names the agent" || fail "threadcreate comment"

# --- symbol: GET, POST, junk, bounds
get "$P/symbol"
expect_body "symbol GET" "num_symbols: 1"
exe=$(readlink "/proc/$TARGET_PID/exe")
base=$(awk -v f="$exe" '$6 == f && $3 == "00000000" { split($1, a, "-"); print a[1]; exit }' "/proc/$TARGET_PID/maps")
off=$(nm "$exe" | awk '$3 ~ /^hash_block/ { print $1; exit }')
addr=$(printf '0x%x' $(( 0x$base + 0x$off + 4 )))
get "$P/symbol" --data-binary "$addr+junk+0x1+$(printf '%d' "$addr")"$'\n'
expect_status "symbol POST" 200
[ "$(sed -n 2p "$T/body")" = "$addr hash_block" ] || [ "$(sed -n 2p "$T/body" | cut -d' ' -f2 | cut -d. -f1)" = hash_block ] \
	&& pass "symbol POST resolves hash_block at $addr" || fail "symbol POST: $(cat "$T/body")"
[ "$(wc -l < "$T/body")" = 3 ] && pass "symbol: junk and unmapped left out, decimal accepted" || fail "symbol lines: $(cat "$T/body")"
get "$P/symbol?$addr"
[ "$(sed -n 2p "$T/body" | cut -d' ' -f1)" = "$addr" ] && pass "symbol GET query" || fail "symbol GET query: $(cat "$T/body")"
seq 100001 | sed 's/^/0x/' | tr '\n' '+' > "$T/many"
get "$P/symbol" --data-binary "@$T/many"
expect_status "symbol: over 100,000 addresses" 413
untraced "$TARGET_PID" && pass "target untraced after the dumps" || fail "target traced"

# --- two dumps in a row, the sampling loop ended between them: the second
# stops no thread still in the wait the first one unwound it in (a new app:
# the first dump knows no stack yet)
kill -TERM "$APP_PID"; wait "$APP_PID" 2>/dev/null; rm -f "$SOCK"
start_app --target-pid "$TARGET_PID" || exit 1
get "$P/goroutine?debug=2"
first=$(grep -c 'read without stopping it' "$T/body")
get "$P/goroutine?debug=2"
reused=$(grep -c 'read without stopping it' "$T/body")
[ "$reused" -ge 4 ] && [ "$reused" -gt "$first" ] \
	&& pass "dump after a dump: $reused of $(grep -c '^thread ' "$T/body") threads not stopped (first: $first)" \
	|| fail "dump after a dump: $reused threads read without a stop (first: $first)"
untraced "$TARGET_PID" && pass "target untraced between requests" || fail "target traced"

# --- while sampling runs, a second dump stops no thread that has not run
# since the first one unwound it
curl -s -o /dev/null "$BASE$P/profile?seconds=3" & c=$!
WAIT_S=10 wait_for sampling "$TARGET_PID"
get "$P/goroutine?debug=2"
get "$P/goroutine?debug=2"
reused=$(grep -c 'read without stopping it' "$T/body")
[ "$reused" -ge 4 ] && pass "second dump during a profile: $reused of $(grep -c '^thread ' "$T/body") threads not stopped" \
	|| fail "second dump during a profile: only $reused threads read without a stop"
wait $c

# --- no EINTR for the epoll_wait thread, whatever we asked
kill -TERM "$TARGET_PID"
WAIT_S=10 wait_for grep -q '^eintr' "$T/target.out"
grep -q '^eintr 0$' "$T/target.out" && pass "epoll_wait never interrupted" || fail "epoll_wait saw $(grep eintr "$T/target.out")"

# --- 1,000 threads: every one listed, the target keeps running
start_target --idle-threads 1000 || exit 1
kill -TERM "$APP_PID"; wait "$APP_PID" 2>/dev/null; rm -f "$SOCK"
start_app --target-pid "$TARGET_PID" || exit 1
t0=$(date +%s%N)
get "$P/goroutine?debug=2"
t1=$(date +%s%N)
expect_status "1,000-thread dump" 200
n=$(grep -c '^thread ' "$T/body")
[ "$n" = 1009 ] && pass "1,000-thread dump lists $n threads in $(( (t1 - t0) / 1000000 )) ms" || fail "listed $n of 1009"
untraced "$TARGET_PID" && kill -0 "$TARGET_PID" && pass "1,000-thread target running, untraced" || fail "1,000-thread target state"
finish
