#!/bin/bash
# /block and /mutex end to end: the demo target has a thread blocked on a
# mutex held by a sleeping thread, one on a condition variable, one in read
# on a pipe, one sleeping, one in epoll_wait. /mutex shows the mutex waiter
# alone with about the window's delay; /block shows every wait, labelled;
# nothing is interrupted (epoll_wait sees no EINTR).
. "$(dirname "$0")/lib.sh"
export HOME="$T" PPROF_TMPDIR="$T"

start_target || exit 1
start_app --target-pid "$TARGET_PID" || exit 1
NO_TOKEN=1 start_lighttpd || exit 1
P="$BASE/v1/sys/pprof"

# --- /mutex over 3 s: the mutex waiter, about 3 s of delay, nothing else
go tool pprof -top -unit=ms "$P/mutex?seconds=3" > "$T/mutex.txt" 2>&1
grep -q 'Type: delay' "$T/mutex.txt" && pass "mutex: a delay profile" || fail "mutex: $(head -5 "$T/mutex.txt")"
total=$(sed -n 's/.*Total samples = \([0-9.]*\)ms.*/\1/p' "$T/mutex.txt")
[ -n "$total" ] && [ "$(echo "$total >= 2400 && $total <= 3600" | bc)" = 1 ] \
	&& pass "mutex: ${total} ms of delay in a 3 s window" || fail "mutex: total '$total' ms, want 3000 +-20%"
grep -q 'wait_for_lock' "$T/mutex.txt" && grep -q 'lock_waiter' "$T/mutex.txt" \
	&& pass "mutex: the waiter's stack" || fail "mutex: $(cat "$T/mutex.txt")"
! grep -qE 'cond_waiter|pipe_reader|sleeper|epoll_waiter|hold_lock' "$T/mutex.txt" \
	&& pass "mutex: nothing but lock waits" || fail "mutex: other waits present"

# --- /block over 3 s: every wait, labelled with what it waits in
curl -s -o "$T/block.pb.gz" "$P/block?seconds=3"
go tool pprof -top "$T/block.pb.gz" > "$T/block.txt" 2>&1
for f in wait_for_lock wait_for_signal pipe_reader sleeper epoll_waiter; do
	grep -q "$f" "$T/block.txt" && pass "block: $f" || fail "block lacks $f"
done
go tool pprof -tags "$T/block.pb.gz" > "$T/tags.txt" 2>&1
grep -q 'read fd [0-9]* (pipe:\[' "$T/tags.txt" && pass "block: read labelled with its pipe" || fail "block tags: $(cat "$T/tags.txt")"
grep -q 'epoll_wait fd' "$T/tags.txt" && grep -q 'futex' "$T/tags.txt" && grep -q 'clock_nanosleep' "$T/tags.txt" \
	&& pass "block: futex, epoll_wait, clock_nanosleep labels" || fail "block labels: $(cat "$T/tags.txt")"
gunzip -c "$T/block.pb.gz" | protoc --proto_path="$top_srcdir/proto" --decode=perftools.profiles.Profile profile.proto > "$T/block.decoded" 2>&1
grep -q '"contentions"' "$T/block.decoded" && grep -q '"delay"' "$T/block.decoded" && pass "block: contentions/count, delay/nanoseconds" || fail "block types"
# the counts go to the log; the profile says only what a user can act on
grep -q 'wait stacks: [1-9][0-9]* without a stop, 0 with one' "$T/app.log" && ! grep -q 'stopped briefly' "$T/block.decoded" \
	&& pass "block: no thread stopped to read a wait" || fail "block: $(grep -o 'wait stacks: [^;]*' "$T/app.log"; grep -o 'pprof-fcgi: [^"]*' "$T/block.decoded")"

# --- debug=1: Go's contention text
get "/v1/sys/pprof/mutex?debug=1"
head -n3 "$T/body" | tr '\n' '|' | grep -q '^--- mutex:|cycles/second=1000000000|sampling period=1|$' \
	&& pass "mutex debug=1 header" || fail "mutex debug=1: $(head -n3 "$T/body")"
grep -qE '^[0-9]+ [0-9]+ @ 0x' "$T/body" && pass "mutex debug=1 samples" || fail "mutex debug=1 samples"
get "/v1/sys/pprof/block?seconds=1&debug=1"
expect_status "block: seconds with debug" 400
untraced "$TARGET_PID" && pass "target untraced" || fail "target traced"

kill -TERM "$TARGET_PID"
WAIT_S=10 wait_for grep -q '^eintr' "$T/target.out"
grep -q '^eintr 0$' "$T/target.out" && pass "epoll_wait never interrupted" || fail "epoll_wait saw $(grep eintr "$T/target.out")"
finish
