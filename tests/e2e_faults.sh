#!/bin/bash
# Faults around a profile in progress: a target that forks, execs and
# churns threads; a client that leaves; the web server restarted; a target
# already under a debugger. Afterwards the target always runs on, untraced,
# its own children reaped by its own waitpid, its epoll_wait undisturbed.
. "$(dirname "$0")/lib.sh"
export HOME="$T" PPROF_TMPDIR="$T"

start_target --churn || exit 1
start_app --target-pid "$TARGET_PID" || exit 1
NO_TOKEN=1 start_lighttpd || exit 1
P="$BASE/v1/sys/pprof"

# --- threads born and gone, children forked and exec'd, while profiled
get "/v1/sys/pprof/profile?seconds=3&hz=200"
expect_status "profile of a churning target" 200
go tool pprof -top "$T/body" > "$T/top.txt" 2>&1 && grep -q 'short_lived\|churner\|hash_block' "$T/top.txt" \
	&& pass "churning target: valid profile" || fail "churning target: $(head -5 "$T/top.txt")"
get "/v1/sys/pprof/goroutine?debug=2"
expect_status "dump of a churning target" 200
get "/v1/sys/pprof/block?seconds=2"
expect_status "block of a churning target" 200

# --- the client leaves mid-profile: the app answers the next request and
# lets the target go when the window ends
curl -s -o /dev/null --max-time 1 "$P/profile?seconds=3"
get /v1/sys/pprof/cmdline
expect_status "after a client left" 200
WAIT_S=15 wait_for untraced "$TARGET_PID" && pass "client left: target untraced after the window" || fail "client left: still traced"

# --- the web server restarted mid-profile
curl -s -o /dev/null "$P/profile?seconds=4" & c=$!
WAIT_S=10 wait_for sampling "$TARGET_PID"
kill -TERM "$SERVER_PID"; wait "$SERVER_PID" 2>/dev/null
wait $c 2>/dev/null
NO_TOKEN=1 start_lighttpd || exit 1
get /v1/sys/pprof/cmdline
expect_status "after lighttpd restarted" 200
WAIT_S=15 wait_for untraced "$TARGET_PID" && pass "lighttpd restarted: target untraced" || fail "lighttpd restarted: still traced"
kill -0 "$APP_PID" && pass "app survived the restart" || fail "app died"

# --- SIGKILL of the app during a block profile, and during a dump of
# many threads: the target is left running and untraced
curl -s -o /dev/null "$P/block?seconds=10" & c=$!
WAIT_S=10 wait_for sampling "$TARGET_PID"
kill -KILL "$APP_PID"; wait "$APP_PID" 2>/dev/null; wait $c 2>/dev/null
WAIT_S=10 wait_for untraced "$TARGET_PID" && pass "SIGKILL during block: target untraced" || fail "SIGKILL during block: traced"
rm -f "$SOCK"
start_app --target-pid "$TARGET_PID" || exit 1
for i in $(seq 20); do curl -s -o /dev/null "$P/goroutine?debug=2"; done &
c=$!
WAIT_S=10 wait_for sampling "$TARGET_PID"
kill -KILL "$APP_PID"; wait "$APP_PID" 2>/dev/null; wait $c 2>/dev/null
WAIT_S=10 wait_for untraced "$TARGET_PID" && pass "SIGKILL during a dump: target untraced" || fail "SIGKILL during a dump: traced"
stopped=$(grep -h '^State:' /proc/"$TARGET_PID"/task/*/status | grep -c 't (tracing stop)\|T (stopped)')
[ "$stopped" = 0 ] && pass "no thread left stopped" || fail "$stopped threads left stopped"
rm -f "$SOCK"
start_app --target-pid "$TARGET_PID" || exit 1
get /v1/sys/pprof/goroutine?debug=1
expect_status "a new app after the kills" 200

# --- the target's own accounting: children reaped, no failed thread, no EINTR
kill -TERM "$TARGET_PID"
WAIT_S=20 wait_for grep -q '^churn' "$T/target.out"
grep -q '^eintr 0$' "$T/target.out" && pass "epoll_wait never interrupted" || fail "$(grep eintr "$T/target.out")"
line=$(grep '^churn' "$T/target.out")
[ "$(echo "$line" | awk '{print $4}')" = 0 ] && [ "$(echo "$line" | awk '{print $2}')" -gt 10 ] \
	&& pass "target's forks, execs, waitpids and threads all fine: $line" || fail "target: $line"

# --- the target's binary replaced on disk while it runs: stacks still go
# through it (unwind tables read from the file as mapped), its functions are
# named from the file as mapped (/proc/PID/map_files, /proc/PID/exe), and no
# name ever comes from the new file at that path
kill -TERM "$APP_PID"; wait "$APP_PID" 2>/dev/null; rm -f "$SOCK"
mkdir -p "$T/bin"
cp "$DEMO" "$T/bin/svc"
TARGET_BIN="$T/bin/svc" start_target || exit 1
start_app --target-pid "$TARGET_PID" || exit 1
cp /bin/sleep "$T/bin/svc.new" && mv "$T/bin/svc.new" "$T/bin/svc"
grep -q "$T/bin/svc (deleted)" "/proc/$TARGET_PID/maps" && pass "binary replaced under the running target" || fail "replacement not visible"
get /v1/sys/pprof/goroutine?debug=2
b=$(sed -n '/"hash-worker"/,/^$/p' "$T/body")
echo "$b" | grep -q '^start_thread' && pass "replaced binary: stacks unwind through it to start_thread" \
	|| fail "replaced binary: $(echo "$b" | head -8)"
echo "$b" | grep -q '^hash_worker(' && pass "replaced binary: its own functions named (hash_worker)" \
	|| fail "replaced binary: no hash_worker in $(echo "$b" | head -8)"
! grep -qE '^(usage|xnanosleep|close_stdout)\(' "$T/body" && pass "replaced binary: no name from the new file" \
	|| fail "names from the new file: $(grep -E '^(usage|xnanosleep|close_stdout)\(' "$T/body" | head -3)"
kill -TERM "$TARGET_PID"; wait "$TARGET_PID" 2>/dev/null

# --- the target execs itself mid-profile (same pid, new image, its other
# threads gone): the profile ends, the new image runs untraced, unstopped,
# and the next profile follows it
kill -TERM "$APP_PID"; wait "$APP_PID" 2>/dev/null; rm -f "$SOCK"
TARGET_BIN=$SPLIT start_target || exit 1
start_app --target-pid "$TARGET_PID" || exit 1
curl -s -o "$T/exec.pb.gz" -w '%{http_code}' "$BASE/v1/sys/pprof/profile?seconds=4" > "$T/exec.status" & c=$!
WAIT_S=10 wait_for sampling "$TARGET_PID" || fail "exec: profile never began"
kill -USR2 "$TARGET_PID"
WAIT_S=10 wait_for sh -c "[ \$(grep -c '^ready' '$T/target.out') -ge 2 ]" \
	&& pass "target exec'd itself mid-profile" || fail "target did not exec: $(cat "$T/target.err")"
wait $c
[ "$(cat "$T/exec.status")" = 200 ] && pass "exec: the profile across it answers 200" \
	|| fail "exec: profile status $(cat "$T/exec.status")"
gunzip -c "$T/exec.pb.gz" 2>/dev/null | tr -c '[:print:]' '\n' | grep -q "exec'd a new image" \
	&& pass "exec: the profile's comment says so" || fail "exec: no comment about the exec"
WAIT_S=10 wait_for untraced "$TARGET_PID" && pass "exec: target untraced after the profile" || fail "exec: target still traced"
stopped=$(grep -h '^State:' /proc/"$TARGET_PID"/task/*/status | grep -c 't (tracing stop)\|T (stopped)')
[ "$stopped" = 0 ] && pass "exec: no thread stopped" || fail "exec: $stopped threads stopped"
get "/v1/sys/pprof/profile?seconds=2"
expect_status "exec: profile of the new image" 200
cp "$T/body" "$T/exec2.pb.gz"
go tool pprof -top "$T/exec2.pb.gz" 2>/dev/null | grep -q spin_hot \
	&& pass "exec: the new image profiled (spin_hot)" || fail "exec: no spin_hot in the next profile"
kill -TERM "$TARGET_PID"; wait "$TARGET_PID" 2>/dev/null

# --- a debugger holds a target: 503 naming it where ptrace is needed (the
# ptrace sampler, thread dumps; a perf_event profile needs no tracer, as
# e2e_perf shows). (gdb's own attach stops every thread with SIGSTOP, so
# this target's EINTR count is gdb's, not checked.)
start_target || exit 1
kill -TERM "$APP_PID"; wait "$APP_PID" 2>/dev/null; rm -f "$SOCK"
start_app --target-pid "$TARGET_PID" --cpu-sampler ptrace || exit 1
gdb -q -batch -p "$TARGET_PID" -ex 'shell touch '"$T"'/gdb.attached' -ex 'shell sleep 3' > "$T/gdb.out" 2>&1 & g=$!
WAIT_S=20 wait_for test -e "$T/gdb.attached"
get /v1/sys/pprof/profile?seconds=1
expect_status "target under gdb" 503
expect_body_has "target under gdb" "already traced by pid $g (gdb)"
get /v1/sys/pprof/goroutine?debug=2
expect_status "dump of a target under gdb" 503
wait $g
WAIT_S=10 wait_for untraced "$TARGET_PID"
get /v1/sys/pprof/goroutine?debug=1
expect_status "after gdb detached" 200

finish
