#!/bin/bash
# A ptrace stop never ends a wait with EINTR. The sampler stops only
# threads it saw running, but a thread can enter an EINTR-prone wait
# (epoll_wait...) between that look and the stop, which then ends the wait
# with EINTR: no signal of the target's, an error it did not cause. The
# epoll-racer target goes in and out of epoll_pwait2 every ~60 us in two
# threads and counts its EINTRs. A 1,000 Hz ptrace profile and thread
# dumps (each stops every running thread once) meet that race: without the
# restart (target_undo_eintr) 10-120 EINTRs in 5 s were counted
# (2026-12-06); with it, none, and the sampler's log counts the waits it
# restarted (32-85 in 5 s), so the race was met. The target runs on,
# untraced, also after pprof-fcgi is killed in the middle of such a
# profile.
. "$(dirname "$0")/lib.sh"
export HOME="$T" PPROF_TMPDIR="$T"

TARGET_BIN="$top_builddir/tests/targets/epoll-racer" start_target || exit 1
CPU_SAMPLER=ptrace start_app --target-pid "$TARGET_PID" || exit 1
NO_TOKEN=1 start_lighttpd || exit 1

get "/v1/sys/pprof/profile?seconds=6&hz=1000"
expect_status "a 1,000 Hz ptrace profile" 200
for i in $(seq 20); do
	get "/v1/sys/pprof/goroutine?debug=2"
	[ "$STATUS" = 200 ] || break
done
expect_status "20 thread dumps" 200

restarted=$(sed -n 's/.* \([0-9]*\) waits restarted.*/\1/p' "$T/app.log" | awk '{ n += $1 } END { print n + 0 }')
[ "$restarted" -gt 0 ] && pass "the race was met: $restarted waits restarted" \
	|| fail "no wait restarted: the race was not met (log: $(grep -c 'ptrace sampler' "$T/app.log") sampler lines)"
untraced "$TARGET_PID" && pass "target untraced" || fail "target traced"

# SIGKILL of pprof-fcgi in a 1,000 Hz ptrace profile of these threads
# (stops, and waits restarted by rewriting registers, all the time): the
# target runs on, untraced, no thread left stopped, its threads still use
# CPU
curl -s -o /dev/null "$BASE/v1/sys/pprof/profile?seconds=10&hz=1000" & c=$!
WAIT_S=10 wait_for traced "$TARGET_PID" || fail "the second profile never began"
kill -KILL "$APP_PID"; wait "$APP_PID" 2>/dev/null; wait $c 2>/dev/null
WAIT_S=10 wait_for untraced "$TARGET_PID" && pass "SIGKILL mid-profile: target untraced" \
	|| fail "SIGKILL mid-profile: traced"
stopped=$(grep -h '^State:' /proc/"$TARGET_PID"/task/*/status | grep -c 't (tracing stop)\|T (stopped)')
[ "$stopped" = 0 ] && pass "no thread left stopped" || fail "$stopped threads left stopped"
cpu0=$(awk '{ print $14 + $15 }' /proc/"$TARGET_PID"/stat)
WAIT_S=10 wait_for sh -c "[ \$(awk '{ print \$14 + \$15 }' /proc/$TARGET_PID/stat) -gt $((cpu0 + 10)) ]" \
	&& pass "its threads run on" || fail "its threads do not run: $cpu0 ticks"
kill -TERM "$TARGET_PID"
WAIT_S=10 wait_for grep -q '^eintr' "$T/target.out"
grep -q '^eintr 0 of [1-9]' "$T/target.out" && pass "no EINTR: $(grep eintr "$T/target.out")" \
	|| fail "the target saw $(grep eintr "$T/target.out")"
finish
