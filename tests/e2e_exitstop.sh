#!/bin/bash
# A thread in the exit stop pprof-fcgi asks for (PTRACE_O_TRACEEXIT) is
# shown as exiting in a thread dump, never as a "tracing stop": the exits
# target lets 64 threads exit at once, over and over, and dumps are taken
# until one catches some of them in their exit (a dump holds exit stops
# until it is done). pprof-fcgi is then killed in a dump: every thread
# runs on, untraced (the target joins all its threads to say how many
# bursts it made).
. "$(dirname "$0")/lib.sh"

TARGET_BIN="$top_builddir/tests/targets/exits" start_target || exit 1
start_app --target-pid "$TARGET_PID" || exit 1
NO_TOKEN=1 start_lighttpd || exit 1
P="$BASE/v1/sys/pprof"

dumps=0 caught=0 wrong=0
while [ "$dumps" -lt 300 ] && [ "$caught" = 0 ]; do
	curl -s -o "$T/dump.txt" "$P/goroutine?debug=2"
	dumps=$((dumps + 1))
	caught=$(grep -c '^thread [0-9]* "exiter" \[exiting' "$T/dump.txt")
	n=$(grep -c '^thread [0-9]* "exiter" \[tracing stop' "$T/dump.txt")
	wrong=$((wrong + n))
done
[ "$caught" -gt 0 ] && pass "dump $dumps of up to 300 shows $caught exiting threads" \
	|| fail "no exiting thread in $dumps dumps"
[ "$wrong" = 0 ] && pass "no exiting thread shown in a tracing stop ($dumps dumps)" \
	|| fail "$wrong threads shown in a tracing stop"
grep -A3 '"exiter" \[exiting' "$T/dump.txt" | head -4

untraced "$TARGET_PID" && pass "target untraced" || fail "target traced"

# pprof-fcgi killed in a dump, its exit stops held: the kernel lets them go
( while :; do curl -s -o /dev/null "$P/goroutine?debug=2"; done ) &
PIDS+=("$!")
WAIT_S=30 wait_for traced "$TARGET_PID" && kill -KILL "$APP_PID" && pass "killed in a dump" \
	|| fail "no dump seen tracing the target"
kill -TERM "${PIDS[-1]}"
WAIT_S=10 wait_for untraced "$TARGET_PID" && pass "target untraced after the kill" \
	|| fail "target still traced after the kill"
kill -TERM "$TARGET_PID"
WAIT_S=20 wait_for grep -q '^bursts' "$T/target.out"
grep -q '^bursts [1-9]' "$T/target.out" && pass "target ran on: $(grep '^bursts' "$T/target.out")" \
	|| fail "target: $(cat "$T/target.out")"
finish
