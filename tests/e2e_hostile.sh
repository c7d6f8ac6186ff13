#!/bin/bash
# A target whose threads spin in anonymous executable memory and on a stack
# of garbage, profiled while it receives queued signals and a SIGSTOP /
# SIGCONT: the app survives, the profile is valid, every signal reaches the
# target's handler, its stop stays a stop, and it ends untraced.
. "$(dirname "$0")/lib.sh"
export HOME="$T" PPROF_TMPDIR="$T"

TARGET_BIN="$top_builddir/tests/targets/hostile" start_target || exit 1
start_app --target-pid "$TARGET_PID" || exit 1
NO_TOKEN=1 start_lighttpd || exit 1

curl -s -o "$T/prof" -w '%{http_code}' "$BASE/v1/sys/pprof/profile?seconds=4&hz=200" > "$T/status" & c=$!
WAIT_S=10 wait_for sampling "$TARGET_PID" && pass "profiling the hostile target" || fail "never traced"
# 200 queued real-time signals and some SIGUSR1 while it is traced
for i in $(seq 200); do kill -RTMIN "$TARGET_PID"; done
for i in $(seq 20); do kill -USR1 "$TARGET_PID"; done
# a job-control stop: every thread stops and stays stopped until SIGCONT
kill -STOP "$TARGET_PID"
all_stopped() { ! grep -h '^State:' /proc/"$TARGET_PID"/task/*/status | grep -qv 'T (stopped)\|t (tracing stop)'; }
WAIT_S=10 wait_for all_stopped && pass "SIGSTOP stops every thread" || fail "SIGSTOP: $(grep -h '^State:' /proc/"$TARGET_PID"/task/*/status | sort | uniq -c)"
c0=$(cpu_ticks "$TARGET_PID")
# stays stopped while the collector ticks: no thread runs for 50 polls
still=1
for i in $(seq 50); do all_stopped || still=0; done
c1=$(cpu_ticks "$TARGET_PID")
[ "$still" = 1 ] && [ "$c1" -le $((c0 + 1)) ] && pass "stopped target stays stopped while profiled" || fail "stopped target ran ($c0 -> $c1)"
kill -CONT "$TARGET_PID"
WAIT_S=10 wait_for sh -c "[ \$(sed 's/.*) //' /proc/$TARGET_PID/stat | awk '{print \$12+\$13}') -gt $((c1 + 5)) ]" \
	&& pass "SIGCONT resumes it" || fail "no progress after SIGCONT"
wait $c
[ "$(cat "$T/status")" = 200 ] && pass "profile of the hostile target: 200" || fail "status $(cat "$T/status")"
go tool pprof -raw "$T/prof" > "$T/raw.txt" 2>&1 && pass "profile parses" || fail "go tool pprof: $(tail -3 "$T/raw.txt")"
grep -q 'anon-exec' "$T/raw.txt" && grep -q 'bad-stack' "$T/raw.txt" \
	&& pass "both odd threads sampled" || fail "odd threads missing: $(grep -c . "$T/raw.txt") lines"
kill -0 "$APP_PID" && pass "app survived" || fail "app died"
WAIT_S=10 wait_for untraced "$TARGET_PID" && pass "target untraced afterwards" || fail "target still traced"
get /v1/sys/pprof/cmdline
expect_status "app still answers" 200

kill -TERM "$TARGET_PID"
WAIT_S=10 wait_for grep -q '^signals' "$T/target.out"
counts=$(grep '^signals' "$T/target.out")
[ "$counts" = "signals rt 200 usr1 $(echo "$counts" | awk '{print $5}')" ] && [ "$(echo "$counts" | awk '{print $5}')" -ge 1 ] \
	&& pass "every queued signal handled: $counts" || fail "signals lost: '$counts', want rt 200 and usr1 >= 1"
finish
