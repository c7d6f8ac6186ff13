#!/bin/bash
# The perf_event CPU sampler end to end: no thread ever traced or stopped,
# a debugger free to attach meanwhile; attribution under contention against
# the target's own clocks; the profile's CPU time against /proc's; the
# fallback to ptrace when perf_event_open is refused, and the 503 when
# perf_event is asked for and refused; kernel frames, on, off, and with
# the unit's capabilities as another user.
. "$(dirname "$0")/lib.sh"
cpu_exclusive
export HOME="$T" PPROF_TMPDIR="$T"


# --- a 1000 Hz profile: TracerPid 0 and no thread in tracing stop, polled
# on every thread for the whole window; gdb attaches and detaches meanwhile
TARGET_BIN=$SPLIT start_target || exit 1
start_app --target-pid "$TARGET_PID" --cpu-sampler perf_event || exit 1
NO_TOKEN=1 start_lighttpd || exit 1
P="$BASE/v1/sys/pprof"
curl -s -o "$T/fast.pb.gz" -w '%{http_code}' "$P/profile?seconds=4&hz=1000" > "$T/fast.status" & c=$!
WAIT_S=10 wait_for sampling "$TARGET_PID" && pass "perf_event profile under way" || fail "profile never began"
polls=0 seen=0
while kill -0 $c 2>/dev/null; do
	polls=$((polls + 1))
	grep -h -e '^TracerPid:' -e '^State:' /proc/"$TARGET_PID"/task/*/status 2>/dev/null |
		grep -q -e $'^TracerPid:\t[1-9]' -e '^State:.*t (tracing stop)' && seen=$((seen + 1))
	[ "$polls" = 20 ] && gdb -batch -p "$TARGET_PID" -ex 'info threads' > "$T/gdb.txt" 2>&1
done
wait $c
[ "$seen" = 0 ] && [ "$polls" -gt 20 ] && pass "no thread traced or stopped in $polls polls of a 1000 Hz profile" \
	|| fail "traced or stopped in $seen of $polls polls"
grep -q 'split-a' "$T/gdb.txt" && pass "gdb attached and read the threads during the profile" \
	|| fail "gdb during the profile: $(tail -3 "$T/gdb.txt")"
[ "$(cat "$T/fast.status")" = 200 ] && go tool pprof -top "$T/fast.pb.gz" 2>/dev/null | grep -q spin_hot \
	&& pass "the profile completes with gdb in its window" || fail "profile with gdb: $(cat "$T/fast.status")"
gunzip -c "$T/fast.pb.gz" | protoc --proto_path="$top_srcdir/proto" --decode=perftools.profiles.Profile profile.proto > "$T/fast.txt" 2>&1
grep -q '"pprof-fcgi: CPU sampler: perf_event"' "$T/fast.txt" \
	&& pass "the comment says perf_event ran" || fail "comment: $(grep -i sampler "$T/fast.txt")"
curl -s -o "$T/index.html" "$P/"
grep -q 'CPU sampler: perf_event)' "$T/index.html" && pass "the index says perf_event" \
	|| fail "index: $(grep -o 'CPU sampler[^.]*' "$T/index.html")"
kill -TERM "$TARGET_PID"; wait "$TARGET_PID" 2>/dev/null

# --- attribution under contention: the loop thread's three burst
# functions against what it ran by its own clock, while hogs compete for
# every core. The bound is 4 standard deviations of a share estimated from
# n samples, sqrt(p (1 - p) / n), plus BIAS points. The bias once allowed
# here (4 points: burst_b 23.5-26.0% for 28.6%) was the target's rounds
# all alike: a fixed period locks onto them (perf record too), see
# targets/contend.c. With rounds of varying length (2026-12-06, 500 Hz x
# 20 s, load 25-75) burst_b read 27.5-29.9% in 6 windows with kernel
# frames (pooled 29.0% of 14,232 samples) and 28.1/28.9% without (28.5% of
# 3,382) for 28.6%, burst_c pooled 14.4 and 15.2% for 14.6%: within 1 sd
# of chance (docs/sampling.md). BIAS is 1 point for a busier machine.
BIAS=${PERF_BIAS:-1}
TARGET_BIN="$top_builddir/tests/targets/contend" start_target || exit 1
kill -TERM "$APP_PID"; wait "$APP_PID" 2>/dev/null; rm -f "$SOCK"
start_app --target-pid "$TARGET_PID" --cpu-sampler "${CONTEND_SAMPLER:-perf_event}" || exit 1
contend_profile "$T/contend.pb.gz" "${PERF_CONTEND_SECONDS:-20}"
go tool pprof -top -unit=ms -nodefraction=0 -tagfocus=thread_name=loop "$T/contend.pb.gz" > "$T/contend.txt" 2>&1
ms() { awk -v f="$1" '$NF == f || index($NF, f ".") == 1 { sub(/ms$/, "", $4); print $4 + 0; exit }' "$T/contend.txt"; }
a=$(ms burst_a); b=$(ms burst_b); cc=$(ms burst_c)
read -r _ a0 b0 c0 <<< "$ran0"; read -r _ a1 b1 c1 <<< "$ran1"
if [ -n "$a" ] && [ -n "$b" ] && [ -n "$cc" ]; then
	for f in a b c; do
		case $f in a) got=$a want=$((a1 - a0)) ;; b) got=$b want=$((b1 - b0)) ;; c) got=$cc want=$((c1 - c0)) ;; esac
		awk -v g="$got" -v w="$want" -v ga="$a" -v gb="$b" -v gc="$cc" \
			-v wa=$((a1 - a0)) -v wb=$((b1 - b0)) -v wc=$((c1 - c0)) -v f="$f" -v bias="$BIAS" 'BEGIN {
			n = (ga + gb + gc) / 2; p = w / (wa + wb + wc); s = g / (ga + gb + gc)
			bound = 4 * sqrt(p * (1 - p) / n) + bias / 100
			printf "burst_%s: %.1f%% of the loop thread in %d samples, ran %.1f%% (bound %.1f points)\n",
				f, 100 * s, n, 100 * p, 100 * bound
			exit !(s - p <= bound && p - s <= bound) }' > "$T/share.txt" \
			&& pass "$(cat "$T/share.txt")" || fail "$(cat "$T/share.txt")"
	done
else
	fail "burst functions missing: $(head -20 "$T/contend.txt")"
fi
# the profile's CPU time (every thread, the kernel's share included) against
# the kernel's accounting of the window
go tool pprof -top -unit=ms "$T/contend.pb.gz" > "$T/all.txt" 2>&1
total=$(sed -n 's/.*Total samples = \([0-9.]*\)ms.*/\1/p' "$T/all.txt")
kernel_ms=$(( (ticks1 - ticks0) * 1000 / $(getconf CLK_TCK) ))
[ -n "$total" ] && within "cpu/nanoseconds against /proc over the window (ms)" "$total" "$kernel_ms" 5
kill -TERM "$TARGET_PID"; wait "$TARGET_PID" 2>/dev/null

# --- perf_event_open refused (a test switch makes it fail with EACCES):
# auto falls back to ptrace and says why; perf_event forced answers 503
TARGET_BIN=$SPLIT start_target || exit 1
kill -TERM "$APP_PID"; wait "$APP_PID" 2>/dev/null; rm -f "$SOCK"
PPROF_FCGI_TEST_PERF_EACCES=1 start_app --target-pid "$TARGET_PID" --cpu-sampler auto || exit 1
get /v1/sys/pprof/profile?seconds=1
expect_status "perf_event refused, auto" 200
gunzip -c "$T/body" | protoc --proto_path="$top_srcdir/proto" --decode=perftools.profiles.Profile profile.proto > "$T/fb.txt" 2>&1
grep -q 'CPU sampler: ptrace (perf_event refused: perf_event_open: permission denied' "$T/fb.txt" \
	&& pass "fallback: the comment says ptrace ran and why" || fail "fallback comment: $(grep -i ptrace "$T/fb.txt")"
grep -q '"spin_hot' "$T/fb.txt" && pass "fallback: ptrace profile has samples" || fail "fallback profile empty"
grep -q 'perf_event_open: permission denied' "$T/app.log" \
	&& pass "fallback: the log says why" || fail "fallback: nothing in the log"
get /v1/sys/pprof/
grep -q 'CPU sampler: ptrace (perf_event refused: perf_event_open: permission denied' "$T/body" \
	&& pass "fallback: the index says ptrace and why" || fail "fallback index: $(grep -o 'CPU sampler[^.]*' "$T/body")"
kill -TERM "$APP_PID"; wait "$APP_PID" 2>/dev/null; rm -f "$SOCK"
PPROF_FCGI_TEST_PERF_EACCES=1 start_app --target-pid "$TARGET_PID" --cpu-sampler perf_event || exit 1
get /v1/sys/pprof/profile?seconds=1
expect_status "perf_event refused, forced" 503
expect_body_has "perf_event refused, forced" "perf_event_open: permission denied"
untraced "$TARGET_PID" && pass "target untraced after all" || fail "target still traced"
kill -TERM "$TARGET_PID"; wait "$TARGET_PID" 2>/dev/null

# --- kernel frames: a thread reading /dev/zero spends its time in the
# kernel. Where perf_event may sample the kernel (root here, or
# CAP_PERFMON) its frames are in the profile, named from /proc/kallsyms
# (CAP_SYSLOG at paranoid >= 2); off, or refused, they are one
# [kernel: not sampled] frame. Each window is timed by pprof-fcgi's events
# (open from its start to its end) against /proc's count of the target.
kprofile() { # NAME SECONDS: $T/NAME.pb.gz, .txt (decoded), .top, .ms (/proc)
	curl -s -o "$T/$1.pb.gz" "$P/profile?seconds=$2&hz=200" & local c=$!
	# /proc's count of the target with the time it was read, until the
	# profile is in: the count over the profile's own window is
	# interpolated from them (a poll's delay on a loaded machine is not).
	# Builtins only, and ahead of the load where allowed: with a fork per
	# read, a storm target on both CPUs once left a 10 s gap between reads.
	local ticks_ms=$((1000 / $(getconf CLK_TCK)))
	mkfifo "$T/nap.$1"
	(
		renice -n -10 -p "$BASHPID" > /dev/null 2>&1
		exec 8<> "$T/nap.$1"
		while kill -0 $c 2>/dev/null; do
			read -r stat < "/proc/$TARGET_PID/stat" || break
			f=(${stat##*) })
			echo "${EPOCHREALTIME/./}000 $((f[11] + f[12]))"
			read -r -t 0.02 -u 8 # the poll's rate, not a wait for anything
		done
	) > "$T/$1.ticks"
	wait $c
	gunzip -c "$T/$1.pb.gz" | protoc --proto_path="$top_srcdir/proto" \
		--decode=perftools.profiles.Profile profile.proto > "$T/$1.txt" 2>&1
	go tool pprof -top -unit=ms -nodefraction=0 "$T/$1.pb.gz" > "$T/$1.top" 2>&1
	awk -v t0="$(sed -n 's/^time_nanos: //p' "$T/$1.txt")" -v d="$(sed -n 's/^duration_nanos: //p' "$T/$1.txt")" \
		-v ms="$ticks_ms" 'function at(t,  i) { # ticks at time t, linear between reads
			for (i = 2; i <= n; i++) if (ts[i] >= t) break
			if (i > n) i = n
			return v[i - 1] + (v[i] - v[i - 1]) * (t - ts[i - 1]) / (ts[i] - ts[i - 1] + 1)
		}
		{ n++; ts[n] = $1; v[n] = $2 }
		END { printf "%d\n", (at(t0 + d) - at(t0)) * ms }' "$T/$1.ticks" > "$T/$1.ms"
}
top_ms() { # NAME FUNCTION COLUMN (1: flat, 4: cum) from $T/NAME.top, 0 when absent
	awk -v f="  $2" -v col="$3" 'substr($0, length($0) - length(f) + 1) == f {
		v = $col; sub(/ms$/, "", v); print v + 0; found = 1; exit } END { if (!found) print 0 }' "$T/$1.top"
}
kernel_named() { grep -qE ' (vfs_read|ksys_read|read_zero)$' "$T/$1.top"; }
restart_app() {
	kill -TERM "$APP_PID"; wait "$APP_PID" 2>/dev/null; rm -f "$SOCK"
	start_app --target-pid "$TARGET_PID" --cpu-sampler perf_event "$@"
}
CHURN="$top_builddir/tests/targets/churn"
TARGET_BIN=$CHURN start_target --read --busy || exit 1
restart_app || exit 1
kprofile kauto 6
kernel_named kauto && grep -q '"\[kernel.kallsyms\]"' "$T/kauto.txt" \
	&& pass "kernel frames: named from kallsyms, in [kernel.kallsyms]" \
	|| fail "kernel frames missing: $(head -20 "$T/kauto.top")"
grep -q 'kernel: not sampled' "$T/kauto.txt" && fail "kernel frames: a [kernel: not sampled] frame besides" \
	|| pass "kernel frames: no [kernel: not sampled] frame"
total=$(sed -n 's/.*Total samples = \([0-9.]*\)ms.*/\1/p' "$T/kauto.top")
[ -n "$total" ] && within "kernel frames: cpu/nanoseconds against /proc over the window (ms)" "$total" "$(cat "$T/kauto.ms")" 5
# long-lived threads' samples carry their time: /proc's rest is only what
# ran while the events were being opened (and /proc's rounding beyond the
# margin kept for it), measured 0-1%
awk -v u="$(top_ms kauto '[not sampled]' 1)" -v t="${total:-0}" 'BEGIN {
	printf "long-lived threads: [not sampled] %.0f of %.0f ms, under 2%%\n", u, t
	exit !(t > 0 && u <= 0.02 * t) }' > "$T/rest.txt" && pass "$(cat "$T/rest.txt")" || fail "$(cat "$T/rest.txt")"
restart_app --kernel-frames off || exit 1
kprofile koff 3
! grep -q 'kernel.kallsyms' "$T/koff.txt" && ! kernel_named koff && grep -q '"\[kernel: not sampled\]"' "$T/koff.txt" \
	&& pass "kernel-frames = off: no kernel frame, [kernel: not sampled] instead" \
	|| fail "kernel-frames = off: $(head -20 "$T/koff.top")"
# the reader's kernel time carried by [kernel: not sampled], read from
# /proc only for threads that can have moved (collect/perf_rec.c)
total=$(sed -n 's/.*Total samples = \([0-9.]*\)ms.*/\1/p' "$T/koff.top")
[ -n "$total" ] && within "kernel-frames = off: cpu/nanoseconds against /proc over the window (ms)" "$total" "$(cat "$T/koff.ms")" 5 \
	|| fail "kernel-frames = off: no total in $(head -5 "$T/koff.top")"
kill -TERM "$TARGET_PID"; wait "$TARGET_PID" 2>/dev/null

# --- 1,000 sleeping threads add nothing: no sample of theirs, the busy
# thread's alone
TARGET_BIN=$CHURN start_target --sleepers 1000 --busy || exit 1
restart_app || exit 1
kprofile ksleep 3
go tool pprof -tags "$T/ksleep.pb.gz" > "$T/ksleep.tags" 2>&1
grep -q 'busy' "$T/ksleep.tags" && ! grep -q 'sleeper' "$T/ksleep.tags" \
	&& pass "1,000 sleeping threads: no sample of theirs ($(grep -c '"thread_id"' "$T/ksleep.txt") thread_id labels)" \
	|| fail "sleeping threads in the profile: $(head -20 "$T/ksleep.tags")"
kill -TERM "$TARGET_PID"; wait "$TARGET_PID" 2>/dev/null

# --- 2,000 threads a second, each living ~1 ms of CPU in storm_work (a
# fifth of the 5 ms period), against /proc's count of the process over the
# profile's window (which counts reaped threads too). The amount is the
# kernel's process total, the shape the samples': what /proc counts beyond
# all the samples carried (mostly threads that lived less than a period,
# which no sample carries) is one [not sampled] frame on the spawner,
# docs/sampling.md. Measured on 2026-12-06 at load 37-170 on this 2-CPU
# machine, 10 s at 200 Hz: 98.2-102.0% in 4 windows, 98.3-99.6% in 4
# beside two busy-loop hogs; a step before (a margin of 2 ticks + a
# period per CPU kept back while threads are created too) 96.3-99.7% in
# 18 and 94.8-99.0% in 5 beside hogs, and once 68.7% (the sampler's own
# span held 2,380 ms of the window's 3,421: not found). What is low is
# the window's edges: taken ~150 ms before the events open and ~150 ms
# after they close. The layers this replaced read 98.1-104.0% side by
# side (5 windows each), 100-121% earlier. The bound is the issue's 5%.
TARGET_BIN=$CHURN start_target --storm 2000 || exit 1
restart_app || exit 1
kprofile kstorm 10
total=$(sed -n 's/.*Total samples = \([0-9.]*\)ms.*/\1/p' "$T/kstorm.top")
[ -n "$total" ] && within "2,000 threads a second: cpu/nanoseconds against /proc over the window (ms)" \
	"$total" "$(cat "$T/kstorm.ms")" 5 || fail "2,000 threads a second: no total: $(head -5 "$T/kstorm.top")"
grep -q 'of this profile is \[not sampled\]: /proc counted it for the process and no sample carried it' "$T/kstorm.txt" \
	&& pass "2,000 threads a second: the comment says how much is [not sampled] and why" \
	|| fail "2,000 threads a second: no [not sampled] line: $(grep -o '"pprof-fcgi: [^"]*"' "$T/kstorm.txt")"
awk -v c="$(top_ms kstorm __clone3 1)" -v w="$(top_ms kstorm storm_work 4)" -v u="$(top_ms kstorm '[not sampled]' 1)" -v t="${total:-0}" 'BEGIN {
	printf "2,000 threads a second: storm_work %.1f%%, [not sampled] %.1f%%, __clone3 alone %.1f%% of %d ms; storm_work %.1f%% of the sampled\n",
		100 * w / t, 100 * u / t, 100 * c / t, t, (t > u ? 100 * w / (t - u) : 0)
	exit !(t > u && c <= 0.05 * t && w >= 0.5 * (t - u)) }' > "$T/storm.txt" && pass "$(cat "$T/storm.txt")" || fail "$(cat "$T/storm.txt")"
kill -TERM "$TARGET_PID"; wait "$TARGET_PID" 2>/dev/null

# --- threads there when sampling began have events of their own (one per
# CPU); those whose events no thread inherited are closed at their exit,
# their counts read first, not when the window ends
TARGET_BIN=$CHURN start_target --leavers 100 --busy || exit 1
restart_app || exit 1
curl -s -o "$T/leave.pb.gz" -w '%{http_code}' "$P/profile?seconds=8&hz=200" > "$T/leave.status" & c=$!
fds_at_least() { [ "$(perf_fds "$APP_PID")" -ge "$1" ]; }
WAIT_S=10 wait_for fds_at_least 200; before=$(perf_fds "$APP_PID")
kill -USR2 "$TARGET_PID"
WAIT_S=6 wait_for eval '! fds_at_least 11'; after=$(perf_fds "$APP_PID")
[ "$before" -ge 200 ] && [ "$after" -le 10 ] && kill -0 $c 2>/dev/null \
	&& pass "100 threads exiting mid-window: $before perf descriptors, then $after before the window ended" \
	|| fail "descriptors of exited threads: $before, then $after (window over: $(kill -0 $c 2>/dev/null || echo yes))"
wait $c
[ "$(cat "$T/leave.status")" = 200 ] && go tool pprof -top "$T/leave.pb.gz" 2>/dev/null | grep -q busy_spin \
	&& pass "the profile completes after their exit" || fail "profile after the exits: $(cat "$T/leave.status")"
kill -TERM "$TARGET_PID"; wait "$TARGET_PID" 2>/dev/null

# --- the unit's capabilities, not root: pprof-fcgi and its target as
# nobody, pprof-fcgi with CAP_SYS_PTRACE, CAP_PERFMON and CAP_SYSLOG as
# ambient capabilities (conf/pprof-fcgi.service.in); then without
# CAP_SYSLOG (kernel frames sampled, kallsyms shows no addresses), then
# without CAP_PERFMON (paranoid 2 refuses the kernel's frames)
if [ "$(id -u)" = 0 ] && [ "$(cat /proc/sys/kernel/perf_event_paranoid)" -ge 2 ]; then
	chmod 777 "$T"
	NOBODY="setpriv --reuid=nobody --regid=nogroup --init-groups"
	TARGET_BIN=setpriv start_target ${NOBODY#setpriv } "$CHURN" --read --busy || exit 1
	unit_caps() { echo "$NOBODY --inh-caps=$1 --ambient-caps=$1"; }
	AS=$(unit_caps +sys_ptrace,+perfmon,+syslog) restart_app || exit 1
	kprofile kunit 3
	kernel_named kunit && ! grep -q 'unnamed' "$T/kunit.txt" \
		&& pass "unit's capabilities: perf_event with kernel frames named" \
		|| fail "unit's capabilities: $(head -12 "$T/kunit.top"; grep -i 'kernel\|sampler' "$T/kunit.txt" | head -5)"
	AS=$(unit_caps +sys_ptrace,+perfmon) restart_app || exit 1
	kprofile knosyslog 3
	grep -q 'kernel frames are unnamed (\[kernel\]): /proc/kallsyms shows pprof-fcgi no addresses (.*no CAP_SYSLOG)' \
		"$T/knosyslog.txt" && grep -q '"\[kernel\]"' "$T/knosyslog.txt" && ! kernel_named knosyslog \
		&& pass "without CAP_SYSLOG: frames [kernel], the comment says why" \
		|| fail "without CAP_SYSLOG: $(grep -i 'kernel' "$T/knosyslog.txt" | head -5)"
	AS=$(unit_caps +sys_ptrace) restart_app || exit 1
	kprofile knoperfmon 3
	grep -q 'kernel frames not sampled: perf_event_open refused them (kernel.perf_event_paranoid = [0-9]*, no CAP_PERFMON' \
		"$T/knoperfmon.txt" && grep -q '"\[kernel: not sampled\]"' "$T/knoperfmon.txt" \
		&& pass "without CAP_PERFMON: [kernel: not sampled], the comment says why" \
		|| fail "without CAP_PERFMON: $(grep -i 'kernel' "$T/knoperfmon.txt" | head -5)"
	untraced "$TARGET_PID" && pass "the nobody target untraced after all" || fail "nobody target traced"
fi
finish
