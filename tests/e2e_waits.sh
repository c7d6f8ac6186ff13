#!/bin/bash
# /block, /mutex and /trace against ground truth: the waits target's
# threads time their own waits (a mutex waiter, a condition variable, a
# pipe read, epoll_wait, short and long sleeps, CPU bursts between short
# sleeps, a long nap then a second of CPU, 50 ms asleep then 50 ms of CPU)
# and say, for a profile's own window (time_nanos, duration_nanos), how
# long they waited in each function and how many waits began. The delay
# per function is within 10% of that, the contentions within 10% (or one
# wait) of the waits counted; /mutex has the lock waiter and nothing else.
# A trace's waiting slices per thread add up to the same truth over the
# trace's window, and its running slices to the rest of the window for
# the threads that alternate. epoll_wait is never interrupted. Once on an
# idle machine, once with two CPU hogs running.
. "$(dirname "$0")/lib.sh"
cpu_exclusive
export HOME="$T" PPROF_TMPDIR="$T"

TARGET_BIN="$top_builddir/tests/targets/waits" start_target "$T/window" || exit 1
# the polled accounting is what is checked: under perf_event a trace's
# waits come from switch records, which count the run-queue time after a
# wake-up as waiting (e2e_trace_switch.sh checks its running slices)
CPU_SAMPLER=ptrace start_app --target-pid "$TARGET_PID" || exit 1
NO_TOKEN=1 start_lighttpd || exit 1
P="$BASE/v1/sys/pprof"
FUNCS="wait_for_lock wait_for_signal read_pipe wait_epoll short_sleep long_sleep burst_sleep long_nap pulse_sleep"
# each thread of the target (pthread_setname_np) and the function it waits in
THREADS="lock_waiter:wait_for_lock cond_waiter:wait_for_signal pipe_reader:read_pipe
	epoll_waiter:wait_epoll short_sleeper:short_sleep long_sleeper:long_sleep
	burster:burst_sleep napper:long_nap pulser:pulse_sleep"
reports=0

reported() { [ "$(grep -c '^done' "$T/target.out")" -ge "$1" ]; }

# truth FILE: the target's totals over FILE's profile window, as
# "FUNCTION MS WAITS" lines in $T/truth.txt
truth() {
	gunzip -c "$1" | protoc --proto_path="$top_srcdir/proto" --decode=perftools.profiles.Profile profile.proto > "$1.decoded"
	local start dur
	start=$(sed -n 's/^time_nanos: //p' "$1.decoded")
	dur=$(sed -n 's/^duration_nanos: //p' "$1.decoded")
	report "$start $((start + dur))"
}

# report WINDOW: the target's totals over WINDOW ("START END", or
# "boottime START END") into $T/truth.txt
report() {
	echo "$1" > "$T/window"
	reports=$((reports + 1))
	kill -USR1 "$TARGET_PID"
	WAIT_S=30 wait_for reported "$reports"
	awk -v k="$reports" '/^done/{n++; next} n == k - 1 && /^truth/{print $2, $3, $4}' "$T/target.out" > "$T/truth.txt"
}

# measured FILE INDEX FUNCTION: the cumulative value of FUNCTION (or a
# clone of it, FUNCTION.constprop.0) in FILE's sample INDEX, 0 if absent
measured() {
	go tool pprof -top -cum -unit=ms -nodefraction=0 -nodecount=1000 -sample_index="$2" "$1" 2>/dev/null |
		awk -v f="$3" '$NF == f || index($NF, f ".") == 1 { sub(/ms$/, "", $4); print $4 + 0; found=1; exit } END { if (!found) print 0 }'
}

# near WHAT GOT WANT SLACK: GOT within 10% of WANT, or SLACK
near() {
	local ok
	ok=$(echo "d = $2 - $3; if (d < 0) d = -d; d * 10 <= $3 || d <= $4" | bc)
	[ "$ok" = 1 ] && pass "$1: $2, truth $3" || fail "$1: $2, truth $3 (want within 10%)"
}

check_window() {
	local label=$1 f ms n want_ms want_n
	curl -s -o "$T/block.pb.gz" "$P/block?seconds=10" &
	local block=$!
	curl -s -o "$T/mutex.pb.gz" "$P/mutex?seconds=10"
	wait "$block"
	truth "$T/block.pb.gz"
	for f in $FUNCS; do
		read -r want_ms want_n < <(awk -v f="$f" '$1 == f {print $2, $3}' "$T/truth.txt")
		ms=$(measured "$T/block.pb.gz" delay "$f")
		near "$label block delay $f (ms)" "$ms" "$want_ms" 0
		n=$(measured "$T/block.pb.gz" contentions "$f")
		near "$label block contentions $f" "$n" "$want_n" 1
	done
	truth "$T/mutex.pb.gz"
	read -r want_ms want_n < <(awk '$1 == "wait_for_lock" {print $2, $3}' "$T/truth.txt")
	near "$label mutex delay wait_for_lock (ms)" "$(measured "$T/mutex.pb.gz" delay wait_for_lock)" "$want_ms" 0
	near "$label mutex contentions wait_for_lock" "$(measured "$T/mutex.pb.gz" contentions wait_for_lock)" "$want_n" 1
	for f in $FUNCS; do
		[ "$f" = wait_for_lock ] && continue
		ms=$(measured "$T/mutex.pb.gz" delay "$f")
		[ "$(echo "$ms < $want_ms / 100" | bc)" = 1 ] && pass "$label mutex: $f ${ms} ms" \
			|| fail "$label mutex: $f has ${ms} ms, not a lock wait"
	done
}

# trace_slices FILE: "window START END" (the first slice's start and the
# last one's end, CLOCK_BOOTTIME: the window's first and last looks), then
# "THREAD WAITING_MS RUNNING_MS" per thread track of the decoded trace FILE
trace_slices() {
	awk '/^packet \{/ { ts = uuid = name = type = track = thread = "" }
	     /^  timestamp: / { ts = $2 }
	     /^    uuid: / { uuid = $2 }
	     /^      thread_name: / { thread = $2; gsub(/"/, "", thread) }
	     /^    type: TYPE_SLICE_BEGIN/ { type = "B" }
	     /^    type: TYPE_SLICE_END/ { type = "E" }
	     /^    track_uuid: / { track = $2 }
	     /^    name: / { name = $0; sub(/^ *name: "/, "", name); sub(/"$/, "", name) }
	     /^}/ {
		if (thread != "") names[uuid] = thread
		if (type == "B") { begin[track] = ts; what[track] = name; if (lo == "" || ts < lo) lo = ts }
		if (type == "E" && track in begin) {
			if (what[track] == "running") run[track] += ts - begin[track]
			else wait[track] += ts - begin[track]
			if (ts > hi) hi = ts
			delete begin[track]
		}
	     }
	     END {
		printf "window %.0f %.0f\n", lo, hi
		for (u in names) printf "%s %.1f %.1f\n", names[u], wait[u] / 1e6, run[u] / 1e6
	     }' "$1"
}

check_trace() {
	local label=$1 pair th f waiting running want_ms window_ms
	curl -s -o "$T/trace.pftrace" "$P/trace?seconds=5"
	protoc --proto_path="$top_srcdir/proto" --decode=perfetto.protos.Trace perfetto_trace.proto \
		< "$T/trace.pftrace" > "$T/trace.txt" || { fail "$label trace: does not decode"; return; }
	trace_slices "$T/trace.txt" > "$T/slices.txt"
	read -r _ lo hi < <(grep '^window ' "$T/slices.txt")
	report "boottime $lo $hi"
	window_ms=$(( (hi - lo) / 1000000 ))
	for pair in $THREADS; do
		th=${pair%%:*} f=${pair#*:}
		read -r waiting running < <(awk -v t="$th" '$1 == t {print $2, $3}' "$T/slices.txt")
		want_ms=$(awk -v f="$f" '$1 == f {print $2}' "$T/truth.txt")
		# slack: a look interval, what the last look may credit a thread
		# woken since and still queued for a CPU (the kernel adds that
		# queueing to its counts only when it runs)
		near "$label trace waiting $th (ms)" "${waiting:-0}" "$want_ms" 50
		# what was not waiting was running or queued for a CPU: the
		# looks between two waits say so exactly, CPU samples elsewhere
		case $th in burster|pulser)
			near "$label trace running $th (ms)" "${running:-0}" "$((window_ms - want_ms))" 50 ;;
		esac
	done
}

check_window idle
check_trace idle
# two CPU hogs: the waiting threads now queue for a CPU after each wake-up,
# which is not waiting
for _ in 1 2; do
	sh -c 'while :; do :; done' &
	PIDS+=("$!")
done
check_window busy
check_trace busy
kill -TERM "${PIDS[@]: -2}"

untraced "$TARGET_PID" && pass "target untraced" || fail "target traced"
kill -TERM "$TARGET_PID"
WAIT_S=10 wait_for grep -q '^eintr' "$T/target.out"
grep -q '^eintr 0$' "$T/target.out" && pass "epoll_wait never interrupted" || fail "epoll_wait saw $(grep eintr "$T/target.out")"
finish
