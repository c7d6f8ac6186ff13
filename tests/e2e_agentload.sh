#!/bin/bash
# POST /agent: the agent loaded into a target started without it, through
# lighttpd. A probe library stands in for the agent (AGENT below; the heap
# check is the probe's record of its call): it records each call and what
# the lent thread looked like. The lent thread of regs-target checks its
# own registers, vector state, MXCSR, signal mask and that its wait ran
# its full time, every round. Faults: pprof-fcgi killed at each step (and
# the target stopped past the idle timeout after: it leaves at once), a
# call longer than agent-load-timeout, a signal during the call, the
# target exiting during it, the target exec'ing itself between the
# look-up of its functions and the stop, a thread that misses its stop
# (in vfork) during a CPU profile, a target still in its dynamic loader;
# afterwards the target runs on, untraced, with no memfd of the load left
# open, and the agent is loaded once or not at all. Each refusal has its line. agent-load = at-start: loaded with no
# POST (the real agent into the demo target), again after an exec and a
# restart; killed mid-load; a failure logged once.
. "$(dirname "$0")/lib.sh"
export HOME="$T" PPROF_TMPDIR="$T"

AGENT="$top_builddir/tests/targets/.libs/libload-probe.so"
REGS="$top_builddir/tests/targets/regs-target"
export LOAD_PROBE_OUT="$T/probe.out"
P=/v1/sys/pprof

# the number of the last round the lender reported
last_round() { awk '/^round/ { n = $2 } END { print n + 0 }' "$T/target.out"; }
past_round() { [ "$(last_round)" -ge "$1" ]; }
# after_load NAME: the target runs on, untraced, no thread stopped, and two
# more rounds of the lender come, all OK
after_load() {
	WAIT_S=10 wait_for untraced "$TARGET_PID" && pass "$1: every thread untraced" \
		|| fail "$1: still traced"
	local r; r=$(last_round)
	WAIT_S=10 wait_for past_round $((r + 2)) && pass "$1: the lender runs on" \
		|| fail "$1: the lender stopped at round $r"
	local stopped
	stopped=$(grep -h '^State:' /proc/"$TARGET_PID"/task/*/status | grep -c 't (tracing stop)\|T (stopped)')
	equal "$1: threads left stopped" "$stopped" 0
	if grep -q FAIL "$T/target.out"; then fail "$1: $(grep -m1 FAIL "$T/target.out")"
	else pass "$1: registers, vector state, mask and waits intact"; fi
	# closed by the trampoline as it leaves, at the latest after its idle
	# timeout when pprof-fcgi is gone
	WAIT_S=20 wait_for no_memfd && pass "$1: no memfd left open in the target" \
		|| fail "$1: $(memfds) memfd left open in the target"
}
# the load's memfds open in the target (a link "/memfd:NAME (deleted)")
memfds() { ls -l /proc/"$TARGET_PID"/fd 2>/dev/null | grep -c '/memfd:'; }
no_memfd() { [ "$(memfds)" = 0 ]; }
attaches() { cat "$LOAD_PROBE_OUT" 2>/dev/null | grep -c '^attach'; }
# fresh TARGET_ARGS...: a new regs-target and a new app (options in APP_OPTS)
fresh() {
	[ -n "${TARGET_PID:-}" ] && kill -KILL "$TARGET_PID" 2>/dev/null
	[ -n "${APP_PID:-}" ] && kill -KILL "$APP_PID" 2>/dev/null && wait "$APP_PID" 2>/dev/null
	rm -f "$SOCK" "$LOAD_PROBE_OUT"
	TARGET_BIN=${BIN:-$REGS} start_target "$@" || exit 1
	LENDER=$(awk '/^lender/ { print $2 }' "$T/target.out")
	# before pprof-fcgi: one with agent-load = at-start loads at once
	WAIT_S=10 wait_for past_round 1 || fail "the lender did not start"
	start_app --target-pid "$TARGET_PID" --agent-path "$AGENT" ${APP_OPTS:-} || exit 1
}

fresh
NO_TOKEN=1 start_lighttpd || exit 1

# --- the index offers the load, and a GET of it loads nothing
get $P/
expect_status "index" 200
expect_body_has "index: the load button" '<form method="post" action="agent">'
expect_body_has "index: what it does" "this changes the process"
equal "index: no attach" "$(attaches)" 0

# --- the load, then idempotence; a GET never loads
get $P/agent -d ''
expect_status "POST /agent" 200
expect_body_has "POST /agent" "agent loaded into pid $TARGET_PID at "
equal "the agent's attach called once" "$(attaches)" 1
grep -q "^attach rate=524288 calls=1 sigblocked=1 aligned=1 tid=$LENDER$" "$LOAD_PROBE_OUT" \
	&& pass "attach ran on the lender, every signal blocked, stack aligned, the rate given" \
	|| fail "attach saw: $(cat "$LOAD_PROBE_OUT")"
after_load "after the load"
get $P/agent -d ''
expect_status "a second POST" 200
expect_body_has "a second POST" "agent already present since "
get $P/agent
expect_status "GET /agent" 405
expect_header "GET /agent" Allow POST
expect_body_has "GET /agent" "POST it to load the heap agent"
equal "no second attach" "$(attaches)" 1
grep -q "agent load: pid $TARGET_PID user -: 200 agent loaded" "$T/app.log" \
	&& pass "the load is logged" || fail "no log line of the load"

# --- agent-load = never
APP_OPTS="--agent-load never" fresh
get $P/agent -d ''
expect_status "agent-load = never" 403
expect_body_has "agent-load = never" "agent-load = never"
get $P/
grep -q 'action="agent"' "$T/body" && fail "never: the index offers the load" || pass "never: no button on the index"
equal "never: no attach" "$(attaches)" 0

# --- pprof-fcgi killed at each step: the target runs on untraced, the
# agent loaded once or not at all; a new pprof-fcgi loads it
for step in seized bootstrap after; do
	export PPROF_FCGI_TEST_AGENT_PAUSE=$step
	fresh
	curl -s -o /dev/null -d '' "$BASE$P/agent" & c=$!
	WAIT_S=20 wait_for grep -q "agent load: paused at $step" "$T/app.log" \
		|| fail "kill at $step: never paused there"
	kill -KILL "$APP_PID"; wait "$APP_PID" 2>/dev/null; wait $c 2>/dev/null
	after_load "killed at $step"
	unset PPROF_FCGI_TEST_AGENT_PAUSE
	if [ $step = after ]; then
		equal "killed at $step: the agent attached once" "$(attaches)" 1
		continue
	fi
	equal "killed at $step: not loaded" "$(attaches)" 0
	rm -f "$SOCK"
	start_app --target-pid "$TARGET_PID" --agent-path "$AGENT" || exit 1
	get $P/agent -d ''
	expect_status "killed at $step: a new pprof-fcgi's load" 200
	equal "killed at $step: attach calls after the new load" "$(attaches)" 1
done

# --- the idle wait is a time, not a count of waits: pprof-fcgi killed
# while the trampoline waits for its next call, the target then stopped
# (SIGSTOP: no CPU at all, a loaded machine's extreme) past the 1 s
# agent-load-timeout. Once continued, the trampoline finds its deadline
# gone and leaves without another 50 us wait: the lender's
# voluntary switches from SIGCONT to its leaving are its own 300 ms rounds
# and the stop's. Counted in waits (before), it waited all ~20,000 of them
# once continued.
export PPROF_FCGI_TEST_AGENT_PAUSE=after
APP_OPTS="--agent-load-timeout 1" fresh
unset PPROF_FCGI_TEST_AGENT_PAUSE
n=$(grep -c "agent load: paused at after" "$T/app.log")
curl -s -o /dev/null -d '' "$BASE$P/agent" & c=$!
WAIT_S=20 wait_for eval '[ "$(grep -c "agent load: paused at after" "$T/app.log")" -gt "$n" ]' \
	|| fail "stopped past the timeout: the load never paused after its calls"
kill -STOP "$TARGET_PID"
kill -KILL "$APP_PID"; wait "$APP_PID" 2>/dev/null; wait $c 2>/dev/null
# not a synchronisation: the scenario is a stop longer than the timeout
t0=$(date +%s%N)
while [ $(( $(date +%s%N) - t0 )) -lt 1500000000 ]; do sleep 0.05; done
vol() { awk '/^voluntary_ctxt_switches/ { print $2 }' /proc/"$TARGET_PID"/task/"$LENDER"/status; }
v0=$(vol)
kill -CONT "$TARGET_PID"
WAIT_S=20 wait_for no_memfd || fail "stopped past the timeout: the trampoline never left"
v1=$(vol)
[ $((v1 - v0)) -lt 100 ] && pass "stopped past the timeout: left at once when continued ($((v1 - v0)) waits of the lender)" \
	|| fail "stopped past the timeout: $((v1 - v0)) waits of the lender before it left"
after_load "stopped past the timeout"
equal "stopped past the timeout: the agent attached once" "$(attaches)" 1

# --- a signal during the call, then pprof-fcgi killed in it: the signal
# is delivered after the call, the call finishes on its own
mkfifo "$T/block"
export LOAD_PROBE_BLOCK="$T/block"
fresh
curl -s -o /dev/null -d '' "$BASE$P/agent" & c=$!
WAIT_S=20 wait_for grep -q '^blocking' "$LOAD_PROBE_OUT" || fail "the probe never blocked"
kill -USR1 "$TARGET_PID"
kill -KILL "$APP_PID"; wait "$APP_PID" 2>/dev/null; wait $c 2>/dev/null
WAIT_S=10 wait_for untraced "$TARGET_PID" && pass "killed in the call: untraced" || fail "killed in the call: traced"
grep -q 'signals=1' "$T/target.out" && fail "the signal came during the call" || pass "the signal waits while the call runs"
timeout 20 sh -c "echo x > '$T/block'" || fail "the probe never read $T/block"
WAIT_S=10 wait_for grep -q 'signals=1' "$T/target.out" && pass "the signal is delivered after the call" \
	|| fail "the signal was lost: $(tail -2 "$T/target.out")"
after_load "killed in the call"

# --- the call outlasting agent-load-timeout: the answer says so, the
# target finishes the call later and runs on
APP_OPTS="--agent-load-timeout 1" fresh
get $P/agent -d ''
expect_status "a call past the timeout" 504
expect_body_has "a call past the timeout" "did not answer within 1000 ms (agent-load-timeout)"
timeout 20 sh -c "echo x > '$T/block'" || fail "the probe never read $T/block"
WAIT_S=10 wait_for grep -q '^unblocked' "$LOAD_PROBE_OUT" && pass "the call finished later" || fail "the call never finished"
after_load "after the timeout"

# --- the target exiting during the load
fresh
curl -s -o "$T/exit.body" -w '%{http_code}' -d '' "$BASE$P/agent" > "$T/exit.status" & c=$!
WAIT_S=20 wait_for grep -q '^blocking' "$LOAD_PROBE_OUT" || fail "the probe never blocked"
kill -KILL "$TARGET_PID"
wait $c
equal "the target exited during the load: status" "$(cat "$T/exit.status")" 503
grep -q "the target exited during the load" "$T/exit.body" && pass "the target exited: said so" \
	|| fail "the target exited: $(cat "$T/exit.body")"
unset LOAD_PROBE_BLOCK
kill -0 "$APP_PID" && pass "pprof-fcgi runs on" || fail "pprof-fcgi died"

# --- a step paused at "resolved" (the target's functions found, no thread
# picked yet) goes on when the test writes to $T/resume; a bounded write,
# in case pprof-fcgi is gone
mkfifo "$T/resume"
resume() { timeout 20 sh -c "echo x > '$T/resume'" || fail "$1: the paused load never read $T/resume"; }
pauses() { grep -c "agent load: paused at resolved" "$T/app.log"; }

# --- the target exec'd itself between the look-up of its C library's
# functions and the stop (a pid file read while a wrapper script still
# ran): those were the old program's addresses, and calling one crashed
# the target (SIGSEGV at memfd_create's old address, seen in the bench
# under load). The load gives up at the stop with a 503 and the next POST
# loads into the new program
export PPROF_FCGI_TEST_AGENT_PAUSE="resolved:$T/resume"
fresh --exec-on-hup
n=$(pauses)
curl -s -o "$T/exec.body" -w '%{http_code}' -d '' "$BASE$P/agent" > "$T/exec.status" & c=$!
WAIT_S=20 wait_for eval '[ "$(pauses)" -gt "$n" ]' || fail "exec: the load never paused"
kill -HUP "$TARGET_PID"
# the new program's lender waits (its first round came)
new_lender() { awk '/^lender/ { n++ } n == 2 && /^round/ { f = 1 } END { exit !f }' "$T/target.out"; }
WAIT_S=20 wait_for new_lender || fail "exec: the target did not exec itself"
resume "exec"
wait $c
equal "exec'd during the load: status" "$(cat "$T/exec.status")" 503
grep -q "pid $TARGET_PID exec'd a new program while the load looked at it: POST again" "$T/exec.body" \
	&& pass "exec'd during the load: said so" || fail "exec'd during the load: $(cat "$T/exec.body")"
unset PPROF_FCGI_TEST_AGENT_PAUSE
kill -0 "$TARGET_PID" && pass "exec'd during the load: the target lives" \
	|| fail "exec'd during the load: the target died"
equal "exec'd during the load: no attach" "$(attaches)" 0
after_load "exec'd during the load"
# this pprof-fcgi pauses every load
n=$(pauses)
curl -s -o /dev/null -w '%{http_code}' -d '' "$BASE$P/agent" > "$T/exec.status" & c=$!
WAIT_S=20 wait_for eval '[ "$(pauses)" -gt "$n" ]' || fail "exec: the next load never paused"
resume "exec, the next POST"
wait $c
equal "exec'd during the load: the next POST: status" "$(cat "$T/exec.status")" 200
equal "exec'd during the load: attach calls after the next POST" "$(attaches)" 1
after_load "exec'd, then loaded"

# --- a thread that misses its stop (settle in inject.c): the thread
# chosen waits in vfork, where no ptrace stop reaches it, for 4 s, longer
# than agent-load-timeout (1 s). The answer is a 503; the stop it comes to
# when its child exits is waited for and the thread let go: it runs on,
# untraced. A CPU profile (perf_event) runs meanwhile: it keeps the tracer
# thread, so a thread left seized would stay in that stop
kill -KILL "$TARGET_PID" "$APP_PID" 2>/dev/null; wait "$APP_PID" 2>/dev/null; rm -f "$SOCK" "$LOAD_PROBE_OUT"
mkfifo "$T/vfork"
TARGET_BIN=$REGS start_target --vfork "$T/vfork" || exit 1
VFORKER=$(awk '/^vforker/ { print $2 }' "$T/target.out")
WAIT_S=10 wait_for past_round 1 || fail "missed stop: the lender did not start"
export PPROF_FCGI_TEST_AGENT_PAUSE="resolved:$T/resume" PPROF_FCGI_TEST_AGENT_TID=$VFORKER
CPU_SAMPLER=perf_event start_app --target-pid "$TARGET_PID" --agent-path "$AGENT" --agent-load-timeout 1 \
	|| exit 1
unset PPROF_FCGI_TEST_AGENT_PAUSE PPROF_FCGI_TEST_AGENT_TID
curl -s -o /dev/null "$BASE$P/profile?seconds=60" & prof=$!
WAIT_S=20 wait_for sampling "$TARGET_PID" || fail "missed stop: no CPU profile under way"
n=$(pauses)
curl -s -o "$T/missed.body" -w '%{http_code}' -d '' "$BASE$P/agent" > "$T/missed.status" & c=$!
WAIT_S=20 wait_for eval '[ "$(pauses)" -gt "$n" ]' || fail "missed stop: the load never paused"
timeout 10 sh -c "echo x > '$T/vfork'" || fail "missed stop: the vforker never read"
in_vfork() { read -r nr _ < /proc/"$TARGET_PID"/task/"$VFORKER"/syscall && [ "$nr" = 58 ]; }
WAIT_S=10 wait_for in_vfork || fail "missed stop: the thread never waited in vfork"
resume "missed stop"
wait $c
equal "missed stop: status" "$(cat "$T/missed.status")" 503
grep -q "thread $VFORKER did not stop in time" "$T/missed.body" && pass "missed stop: said so" \
	|| fail "missed stop: $(cat "$T/missed.body")"
WAIT_S=10 wait_for grep -q '^vfork 1 done' "$T/target.out" && pass "missed stop: the thread came back from vfork" \
	|| fail "missed stop: the thread never came back from vfork"
grep -q "did not stop within" "$T/app.log" && fail "missed stop: the late stop was not waited for" \
	|| pass "missed stop: the late stop was waited for"
after_load "missed stop"
timeout 10 sh -c "echo x > '$T/vfork'" || fail "missed stop: the vforker no longer reads"
WAIT_S=10 wait_for grep -q '^vfork 2 done' "$T/target.out" && pass "missed stop: the thread runs on" \
	|| fail "missed stop: the thread did not run on"
equal "missed stop: no attach" "$(attaches)" 0
kill "$prof" 2>/dev/null; wait "$prof" 2>/dev/null

# --- refusals, each with its status and line
fresh --seccomp
get $P/agent -d ''
expect_status "seccomp" 403
expect_body_has "seccomp" "agent-load-seccomp = try"
equal "seccomp: no attach" "$(attaches)" 0
APP_OPTS="--agent-load-seccomp try" fresh --seccomp
get $P/agent -d ''
expect_status "seccomp, agent-load-seccomp = try" 200
after_load "seccomp, tried"

# a thread waiting inside the dynamic loader (a function named so) is never lent
rm -f "$SOCK" "$LOAD_PROBE_OUT"; kill -KILL "$TARGET_PID" "$APP_PID" 2>/dev/null; wait "$APP_PID" 2>/dev/null
TARGET_BIN=$REGS start_target --unfit || exit 1
start_app --target-pid "$TARGET_PID" --agent-path "$AGENT" || exit 1
get $P/agent -d ''
expect_status "a thread inside the loader" 503
expect_body_has "a thread inside the loader" "a thread waits inside _dl_stand_in"
equal "inside the loader: no attach" "$(attaches)" 0
WAIT_S=10 wait_for untraced "$TARGET_PID" && pass "inside the loader: untraced" || fail "inside the loader: traced"

BIN="$top_builddir/tests/targets/regs-static" fresh
get $P/agent -d ''
expect_status "a static binary" 501
expect_body_has "a static binary" "has no glibc (a static binary?)"
get $P/agent -d ''
expect_body_has "a failure remembered" "the last load's answer: POST with ?retry=1"
get "$P/agent?retry=1" -d ''
expect_status "retry=1" 501
grep -q "the last load's answer" "$T/body" && fail "retry=1 answered the remembered failure" \
	|| pass "retry=1 tries again"

# --- a target still starting: its dynamic loader waits opening a
# "preload" that is a fifo, before it maps the C library. A 503 to POST
# again, not remembered as the static binary it looks like then; once the
# loader read the fifo's end (a preload it ignores), the next POST loads
kill -KILL "$TARGET_PID" "$APP_PID" 2>/dev/null; wait "$APP_PID" 2>/dev/null; rm -f "$SOCK" "$LOAD_PROBE_OUT"
mkfifo "$T/preload"
rm -f "$T/target.out"
LD_PRELOAD="$T/preload" "$REGS" > "$T/target.out" 2> "$T/target.err" & TARGET_PID=$!
PIDS+=("$TARGET_PID")
in_loader() {
	read -r nr _ < /proc/"$TARGET_PID"/syscall && [ "$nr" = 257 ] &&
		[ "$(readlink /proc/"$TARGET_PID"/exe)" = "$(readlink -f "$REGS")" ]
}
WAIT_S=10 wait_for in_loader || fail "starting: the loader never waited on the fifo"
start_app --target-pid "$TARGET_PID" --agent-path "$AGENT" || exit 1
get $P/agent -d ''
expect_status "still starting" 503
expect_body_has "still starting" "pid $TARGET_PID is still starting (its dynamic loader has not mapped the C library yet): POST again"
timeout 10 sh -c ": > '$T/preload'" || fail "starting: the loader never read the fifo"
WAIT_S=10 wait_for past_round 1 || fail "starting: the lender did not start"
get $P/agent -d ''
expect_status "started: the next POST" 200
equal "started: attach calls" "$(attaches)" 1
after_load "started"

BIN="$top_builddir/tests/targets/regs-asan" fresh
get $P/agent -d ''
expect_status "an ASan build" 501
expect_body_has "an ASan build: why" "it is built with ASan (-fsanitize=address), whose allocator the agent cannot wrap"
expect_body_has "an ASan build: what instead" "run a build without ASan, with LD_PRELOAD=libpprof-agent.so or POST /agent"
equal "an ASan build: no attach" "$(attaches)" 0
WAIT_S=10 wait_for untraced "$TARGET_PID" && pass "an ASan build: untraced" || fail "an ASan build: traced"

# --- no thread may lend itself (every one in epoll_wait or pause): a 503
# (curl's bound only catches a hang) saying what to do, the next requests
# answered, and a second POST tries again rather than repeating it
kill -KILL "$TARGET_PID" "$APP_PID" 2>/dev/null; wait "$APP_PID" 2>/dev/null; rm -f "$SOCK" "$LOAD_PROBE_OUT"
TARGET_BIN=$REGS start_target --epoll 3 || exit 1
start_app --target-pid "$TARGET_PID" --agent-path "$AGENT" || exit 1
for try in 1 2; do
	code=$(curl -s -m 60 -o "$T/busy.body" -w '%{http_code}' -d '' "$BASE$P/agent")
	equal "no thread fit, POST $try: status" "$code" 503
	grep -q "could lend itself to the load in .* POST again when one waits on a lock" "$T/busy.body" \
		&& pass "no thread fit, POST $try: says what to do" || fail "no thread fit, POST $try: $(cat "$T/busy.body")"
	get $P/
	expect_status "no thread fit, POST $try: the index after it" 200
done
equal "no thread fit: both POSTs tried" "$(grep -c "agent load: pid $TARGET_PID user -: 503 no thread" "$T/app.log")" 2
grep -q "the last load's answer" "$T/busy.body" && fail "no thread fit: a 503 was kept" || pass "no thread fit: a 503 is not kept"
equal "no thread fit: no attach" "$(attaches)" 0
WAIT_S=10 wait_for untraced "$TARGET_PID" && pass "no thread fit: untraced" || fail "no thread fit: traced"

# --- agent-load = at-start, pprof-fcgi killed during its load (no POST):
# the target runs on untraced, the agent loaded once or not at all
for step in seized after; do
	export PPROF_FCGI_TEST_AGENT_PAUSE=$step
	# app.log holds the earlier pauses at this step: wait for one more
	paused=$(grep -c "agent load: paused at $step" "$T/app.log")
	paused_again() { [ "$(grep -c "agent load: paused at $step" "$T/app.log")" -gt "$paused" ]; }
	APP_OPTS="--agent-load at-start --agent-load-poll 1" fresh
	WAIT_S=20 wait_for paused_again || fail "at-start, kill at $step: never paused there"
	kill -KILL "$APP_PID"; wait "$APP_PID" 2>/dev/null
	unset PPROF_FCGI_TEST_AGENT_PAUSE
	after_load "at-start, killed at $step"
	equal "at-start, killed at $step: attach calls" "$(attaches)" "$([ $step = after ] && echo 1 || echo 0)"
done

# --- at-start, a failure: logged once, not every look
BIN="$top_builddir/tests/targets/regs-static" APP_OPTS="--agent-load at-start --agent-load-poll 1 --log-level debug" fresh
looks() { grep -c "agent-load = at-start: pid $TARGET_PID: " "$T/app.log"; }
looked() { [ "$(looks)" -ge "$1" ]; }
WAIT_S=30 wait_for looked 3 || fail "at-start: fewer than 3 looks in 30 s"
equal "at-start: a failed load logged once in $(looks) looks" \
	"$(grep -c "agent load: pid $TARGET_PID user - (agent-load = at-start): 501" "$T/app.log")" 1
get $P/
expect_body_has "at-start: the index says the mode and the failure" \
	"not loaded yet (agent-load = at-start looks every 1 s); the last load: cannot load"

# --- at-start with the real agent into the demo target: /allocs has data
# with no POST, and again after the target execs itself (same pid, a new
# program) and after it is replaced under the same pid file
kill -KILL "$TARGET_PID" "$APP_PID" 2>/dev/null; wait "$APP_PID" 2>/dev/null; rm -f "$SOCK"
TARGET_BIN=$DEMO start_target --pidfile "$T/demo.pid" --exec-on-hup || exit 1
start_app --target-pidfile "$T/demo.pid" --agent-load at-start --agent-load-poll 1 --agent-rate 1 \
	--agent-path "$top_builddir/agent/.libs/libpprof-agent.so" || exit 1
loads() { grep -c "agent load: pid $TARGET_PID user - (agent-load = at-start): 200 agent loaded into pid $TARGET_PID at" "$T/app.log"; }
loaded() { [ "$(loads)" -ge "$1" ]; }
readies() { [ "$(grep -c '^ready' "$T/target.out")" -ge "$1" ]; }
# allocs_data NAME: /allocs counts remember_result's allocations since a load
has_results() { get $P/allocs; RESULTS=$(value "$T/body" alloc_space remember_result); [ "${RESULTS%.*}" -gt 0 ]; }
allocs_data() {
	WAIT_S=30 wait_for has_results && pass "$1: /allocs counts remember_result ($RESULTS B)" \
		|| fail "$1: /allocs has no remember_result"
}
WAIT_S=30 wait_for loaded 1 && pass "at-start: loaded with no POST" \
	|| fail "at-start: not loaded: $(grep 'agent load' "$T/app.log" | tail -2)"
allocs_data "at-start"
get $P/
expect_body_has "at-start: the index says the mode" "(agent-load = at-start)"
"$APP" --check --target-pid "$TARGET_PID" --agent-load at-start > "$T/check.out" 2>&1
grep -q "^ok   agent: loaded .*(agent-load = at-start)" "$T/check.out" && pass "at-start: --check says the mode" \
	|| fail "at-start: --check: $(grep agent "$T/check.out")"
kill -HUP "$TARGET_PID"
WAIT_S=30 wait_for readies 2 || fail "the target did not exec itself"
WAIT_S=30 wait_for loaded 2 && pass "at-start: loaded again after an exec" \
	|| fail "at-start: not loaded after the exec"
allocs_data "at-start, after the exec"
old=$TARGET_PID
kill -TERM "$TARGET_PID"; wait "$TARGET_PID" 2>/dev/null
TARGET_BIN=$DEMO start_target --pidfile "$T/demo.pid" || exit 1
WAIT_S=30 wait_for loaded 1 && pass "at-start: loaded into the new process ($old, then $TARGET_PID)" \
	|| fail "at-start: not loaded into the new process"
allocs_data "at-start, a new process"
WAIT_S=10 wait_for untraced "$TARGET_PID" && pass "at-start: untraced" || fail "at-start: traced"
WAIT_S=20 wait_for no_memfd && pass "at-start: no memfd left open" || fail "at-start: $(memfds) memfd left open"

finish
