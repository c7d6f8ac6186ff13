#!/bin/bash
# The perf_event sampler's per-thread layout (perf-layout = per-thread, and
# auto's fallback to it): the index and the comment say it ran and why; the
# CPU split is right; a thread started mid-window is sampled and its
# buffer closed when it exits; SIGKILL of the app mid-window leaves the
# target running with nothing of ours; past the open-file limit auto takes
# it; past the locked-memory limit the threads left unsampled are said.
. "$(dirname "$0")/lib.sh"
cpu_exclusive
export HOME="$T" PPROF_TMPDIR="$T"
PLUGIN="$top_builddir/tests/targets/.libs/plugin.so"
CHURN="$top_builddir/tests/targets/churn"
PERF_LAYOUT=per-thread
restart_app() {
	if [ -n "${APP_PID:-}" ]; then kill -TERM "$APP_PID"; wait "$APP_PID" 2>/dev/null; fi
	rm -f "$SOCK"
	start_app --target-pid "$TARGET_PID" --cpu-sampler perf_event "$@" || exit 1
}
comments() { gunzip -c "$1" | tr -c '[:print:]' '\n'; }

# --- the layout said on the index and in the comment; the 75/25 split of
# cpu-split against what it ran by its own clocks, within 4 points as
# e2e_profile checks it; a thread started mid-window (the plugin's) is
# sampled, and its event closed once it exited
TARGET_BIN=$SPLIT start_target --plugin "$PLUGIN" --unload-after 2500 || exit 1
restart_app
NO_TOKEN=1 start_lighttpd || exit 1
P="$BASE/v1/sys/pprof"
curl -s "$P/" | grep -q 'CPU sampler: perf_event, a ring buffer per thread (perf-layout = per-thread)' \
	&& pass "the index says the layout" || fail "index: $(curl -s "$P/" | grep -o 'CPU sampler:[^.]*')"
curl -s -o "$T/split.pb.gz" "$P/profile?seconds=5&hz=500" & c=$!
WAIT_S=10 wait_for sampling "$TARGET_PID" || fail "profile never began"
fds0=$(perf_fds "$APP_PID")
[ "$fds0" = 3 ] && pass "an event per thread: $fds0 for 3 threads" || fail "$fds0 perf events for 3 threads"
kill -USR1 "$TARGET_PID"
WAIT_S=10 wait_for grep -q '^plugin loaded' "$T/target.out" || fail "plugin not loaded: $(cat "$T/target.err")"
WAIT_S=10 wait_for sh -c "[ \$(ls -l /proc/$APP_PID/fd | grep -c perf_event) = 4 ]" \
	&& pass "the thread started mid-window got its event" || fail "no event for the new thread: $(perf_fds "$APP_PID")"
WAIT_S=10 wait_for grep -q '^plugin unloaded' "$T/target.out" || fail "plugin not unloaded"
WAIT_S=10 wait_for sh -c "[ \$(ls -l /proc/$APP_PID/fd | grep -c perf_event) = 3 ]" \
	&& pass "its event closed once it exited" || fail "events after its exit: $(perf_fds "$APP_PID")"
wait $c
comments "$T/split.pb.gz" | grep -q 'perf_event layout: a buffer per thread (perf-layout = per-thread)' \
	&& pass "the comment says the layout and why" || fail "no layout comment: $(comments "$T/split.pb.gz" | grep pprof-fcgi)"
go tool pprof -top -unit=ms "$T/split.pb.gz" > "$T/split.txt" 2>&1
TOP="$T/split.txt"
[ "$(TOP=$TOP ms_of plugin_spin)" -gt 0 ] 2>/dev/null && pass "the mid-window thread sampled: plugin_spin $(TOP=$TOP ms_of plugin_spin) ms" \
	|| fail "no plugin_spin: $(head -14 "$TOP")"
hot=$(TOP=$TOP ms_of spin_hot); cold=$(TOP=$TOP ms_of spin_cold)
kill -TERM "$TARGET_PID"; wait "$TARGET_PID" 2>/dev/null
read -r _ ran_hot ran_cold < <(grep '^split ' "$T/target.out")
awk -v h="${hot:-0}" -v c="${cold:-0}" -v rh="${ran_hot:-0}" -v rc="${ran_cold:-0}" 'BEGIN {
	if (h + c == 0 || rh + rc == 0) { print "no split: profile " h "/" c ", ran " rh "/" rc; exit 1 }
	p = 100 * h / (h + c); r = 100 * rh / (rh + rc); d = p - r; if (d < 0) d = -d
	printf "hot/cold split %.1f%%, ran %.1f%% (%d ms sampled), within 4 points\n", p, r, h + c
	exit !(d <= 4) }' > "$T/split.res" && pass "$(cat "$T/split.res")" || fail "$(cat "$T/split.res")"

# --- SIGKILL of the app mid-window: the target runs on, untraced and
# unstopped, no event is left anywhere, a new profile works at once
TARGET_BIN=$SPLIT start_target || exit 1
restart_app
curl -s -o /dev/null "$P/profile?seconds=10" & c=$!
WAIT_S=10 wait_for sampling "$TARGET_PID" && pass "per-thread profile under way" || fail "never sampled"
kill -KILL "$APP_PID"; wait "$APP_PID" 2>/dev/null
held=0
for d in /proc/[0-9]*; do
	[ "${d#/proc/}" = "$TARGET_PID" ] || tr '\0' ' ' 2>/dev/null < "$d/cmdline" | grep -qF "$T" || continue
	held=$((held + $(perf_fds "${d#/proc/}")))
done
[ "$held" = 0 ] && pass "SIGKILL mid-profile: no perf event left" || fail "$held perf event descriptors left"
untraced "$TARGET_PID" && pass "SIGKILL mid-profile: target untraced" || fail "target traced"
stopped=$(grep -h '^State:' /proc/"$TARGET_PID"/task/*/status | grep -c 't (tracing stop)\|T (stopped)')
[ "$stopped" = 0 ] && pass "SIGKILL mid-profile: no thread stopped" || fail "$stopped threads stopped"
for tid in $(ls /proc/"$TARGET_PID"/task); do
	[ "$tid" = "$TARGET_PID" ] && continue # the main thread naps
	c0=$(awk '{ print $14 + $15 }' /proc/"$TARGET_PID"/task/"$tid"/stat)
	WAIT_S=10 wait_for sh -c "[ \$(awk '{ print \$14 + \$15 }' /proc/$TARGET_PID/task/$tid/stat) -gt $((c0 + 5)) ]" \
		&& pass "SIGKILL mid-profile: thread $tid runs on" || fail "thread $tid makes no progress"
done
wait $c 2>/dev/null
APP_PID=
restart_app
get /v1/sys/pprof/profile?seconds=2
expect_status "a new profile after SIGKILL" 200
go tool pprof -top "$T/body" 2>/dev/null | grep -q spin_hot && pass "it has samples" || fail "no spin_hot after SIGKILL"
kill -TERM "$TARGET_PID"; wait "$TARGET_PID" 2>/dev/null

# --- auto: threads x CPUs events past the open-file limit take the
# per-thread layout, and the comment says why
PERF_LAYOUT=
TARGET_BIN=$CHURN start_target --sleepers 100 --busy || exit 1
ncpu=$(getconf _NPROCESSORS_CONF)
nofile=$((102 * ncpu + 200)) # under 102 threads x CPUs + the 256 kept for the rest
AS="prlimit --nofile=$nofile:$nofile" restart_app
get /v1/sys/pprof/profile?seconds=2
expect_status "auto past RLIMIT_NOFILE $nofile" 200
cp "$T/body" "$T/nofile.pb.gz"
comments "$T/nofile.pb.gz" | grep -q 'a buffer per thread (an event per thread and CPU would pass the open-file limit' \
	&& pass "auto past the open-file limit: per-thread buffers, said" \
	|| fail "no per-thread for RLIMIT_NOFILE: $(comments "$T/nofile.pb.gz" | grep pprof-fcgi)"
go tool pprof -top "$T/nofile.pb.gz" 2>/dev/null | grep -q busy_spin && pass "and the busy thread sampled" \
	|| fail "no busy_spin: $(go tool pprof -top "$T/nofile.pb.gz" 2>&1 | head -12)"
AS= restart_app
get /v1/sys/pprof/profile?seconds=1
! comments "$T/body" | grep -q 'a buffer per thread' && pass "auto within the limit: per-CPU buffers" \
	|| fail "per-thread buffers without a cause"

# --- past the locked-memory limit (not root: no CAP_IPC_LOCK; memlock 0
# beyond kernel.perf_event_mlock_kb): threads get no buffer, and the
# comment says how many are not sampled
if [ "$(id -u)" = 0 ]; then
	kill -TERM "$TARGET_PID"; wait "$TARGET_PID" 2>/dev/null
	chmod 777 "$T"
	NOBODY="setpriv --reuid=nobody --regid=nogroup --init-groups"
	TARGET_BIN=setpriv start_target ${NOBODY#setpriv } "$CHURN" --sleepers 100 --busy || exit 1
	PERF_LAYOUT=per-thread AS="prlimit --memlock=0:0 $NOBODY --inh-caps=+sys_ptrace,+perfmon --ambient-caps=+sys_ptrace,+perfmon" \
		restart_app
	get /v1/sys/pprof/profile?seconds=2
	expect_status "per-thread past RLIMIT_MEMLOCK" 200
	comments "$T/body" | grep -q '[0-9]* threads were not sampled: no locked memory was left for their ring buffers' \
		&& pass "threads without a buffer: $(comments "$T/body" | grep -o '[0-9]* threads were not sampled')" \
		|| fail "no comment on locked memory: $(comments "$T/body" | grep pprof-fcgi)"
fi
finish
