#!/bin/bash
# /trace under the perf_event sampler: running slices come from the
# kernel's context-switch records, and no thread is ever traced. The
# truth is targets/duty: a thread that runs 5 ms of its own CPU and sleeps
# 5 ms, timing both itself, beside a busy thread that takes its CPU now
# and then. Its running slices between two of its sleeps add up to the
# CPU its own clock says it ran (less the kernel's switch path, up to 40 us
# a slice; never more than 3% + 1 ms over), and a running slice lies inside
# a sleep (beyond the 200 us it takes to go to sleep and wake) for at most
# 3% of the sleeps. A defect not yet found, measured on 2026-12-06: in
# about half the windows, 1-4 of ~300 sleeps (one of 5 ms; the records of
# a switch off and back seemingly missing) lie whole inside a running
# slice, which then exceeds the CPU by up to 1.5%; a window without it is
# 1-2% under, 4-21 us a slice. A slice misplaced in every sleep, or a
# systematic excess, still fails.
. "$(dirname "$0")/lib.sh"
cpu_exclusive

TARGET_BIN="$top_builddir/tests/targets/duty" start_target 1 || exit 1
DUTY_TID=$(awk '/^ready/ { print $3; exit }' "$T/target.out")
start_app --target-pid "$TARGET_PID" --cpu-sampler perf_event || exit 1
start_lighttpd || exit 1

# TracerPid and thread states polled on every thread through the window
watch_tracer() {
	local polls=0 bad=0
	while [ ! -e "$T/window.done" ]; do
		untraced "$TARGET_PID" || bad=$((bad + 1))
		grep -qh '^State:.*t (tracing stop)' /proc/"$TARGET_PID"/task/*/status 2>/dev/null && bad=$((bad + 1))
		polls=$((polls + 1))
	done
	echo "$polls $bad" > "$T/watch"
}
watch_tracer & watcher=$!
get "/v1/sys/pprof/trace?seconds=5&hz=1000"
touch "$T/window.done"; wait "$watcher"
expect_status trace 200
read -r polls bad < "$T/watch"
[ "$polls" -gt 10 ] && [ "$bad" -eq 0 ] && pass "TracerPid 0 and no thread in state t in $polls polls" \
	|| fail "$bad of $polls polls saw a thread traced or in state t"

protoc --proto_path="$top_srcdir/proto" --decode=perfetto.protos.Trace perfetto_trace.proto \
	< "$T/body" > "$T/trace.txt" 2> "$T/protoc.err" || fail "protoc: $(head -3 "$T/protoc.err")"
# the duty thread's slices: "start end name", in order
awk -v uuid=$(( (2 << 40) + DUTY_TID )) '
	/^packet \{/ { ts = ""; tr = ""; ty = ""; nm = "" }
	/^  timestamp: / { ts = $2 }
	/track_uuid: / { tr = $2 }
	/ type: TYPE_SLICE/ { ty = $2 }
	/^    name: / { nm = substr($0, index($0, "\"") + 1); sub(/"$/, "", nm) }
	/^}/ { if (tr == uuid && ty == "TYPE_SLICE_BEGIN") { s = ts; n = nm }
	       if (tr == uuid && ty == "TYPE_SLICE_END") print s, ts, n }' "$T/trace.txt" > "$T/slices"
grep -q ' running$' "$T/slices" && pass "duty has running slices ($(grep -c ' running$' "$T/slices"))" \
	|| fail "no running slice of the duty thread"
grep -q ' clock_nanosleep$' "$T/slices" && pass "its sleeps are named clock_nanosleep" \
	|| fail "no clock_nanosleep slice: $(cut -d' ' -f3- "$T/slices" | sort | uniq -c | head -5)"
echo "slices by name: $(cut -d' ' -f3- "$T/slices" | sort | uniq -c | tr '\n' ' ')"
# as root the samples carry the kernel's frames: named from kallsyms, as
# in a CPU profile (a syscall's frames below do_syscall_64)
grep -q 'str: "\[kernel.kallsyms\]"' "$T/trace.txt" && grep -q 'str: "do_syscall_64"' "$T/trace.txt" \
	&& pass "kernel frames named from [kernel.kallsyms]" \
	|| fail "no kernel frame named: $(grep -c 'str: "??"' "$T/trace.txt") named ??"

# the sleeps inside the slices' span, against the running slices
grep '^sleep ' "$T/target.out" > "$T/sleeps"
awk 'NR == FNR { if ($3 == "running") { n++; rs[n] = $1; re[n] = $2 }
		  if (NR == 1 || $1 < lo) lo = $1; if ($2 > hi) hi = $2; next }
     $2 > lo && $3 < hi { k++; ss[k] = $2; se[k] = $3; cpu[k] = $4 }
     END {
	# at load ~75 on 2 cores it got 17 (85 ms of CPU in 3 s)
	if (k < 10) { print "too few sleeps in the window:", k; exit 1 }
	a = ss[1]; b = ss[k]; ran = 0
	for (i = 1; i <= n; i++) { s = rs[i] < a ? a : rs[i]; e = re[i] > b ? b : re[i]; if (e > s) { ran += e - s; runs++ } }
	worst = 0; inside = 0
	for (j = 1; j <= k; j++) for (i = 1; i <= n; i++) {
		s = rs[i] < ss[j] ? ss[j] : rs[i]; e = re[i] > se[j] ? se[j] : re[i]
		if (e > s) { inside += e - s; in_j[j] += e - s; if (e - s > worst) worst = e - s }
	}
	for (j = 1; j <= k; j++) if (in_j[j] > 200000) bad++
	printf "%d %.3f %.3f %.1f %.1f %d %d\n", k, ran / 1e6, (cpu[k] - cpu[1]) / 1e6, worst / 1e3, inside / 1e3, runs, bad
     }' "$T/slices" "$T/sleeps" > "$T/sums" || { fail "$(cat "$T/sums")"; finish; exit 1; }
read -r nsleeps ran cpu worst inside runs bad < "$T/sums"
echo "over $nsleeps sleeps: $runs running slices, $ran ms, CPU by the thread's clock $cpu ms;" \
	"running inside sleeps: $inside us in all, $worst us at most, over 200 us in $bad"
# the kernel's switch path between a record and the switch is CPU time of
# the thread outside its slices: measured 4-11 us a slice at load 30-100
awk -v r="$ran" -v c="$cpu" -v n="$runs" 'BEGIN { exit !(c > 0 && r <= c * 1.03 + 1 && c - r <= 1 + n * 0.04) }' \
	&& pass "running slices $ran ms for $cpu ms of CPU (3% + 1 ms over, 1 ms + 40 us a slice under)" \
	|| fail "running slices $ran ms for $cpu ms of CPU in $runs slices (3% + 1 ms over, 1 ms + 40 us a slice under)"
awk -v b="$bad" -v k="$nsleeps" 'BEGIN { exit !(b <= 0.03 * k) }' \
	&& pass "a running slice inside $bad of $nsleeps sleeps ($worst us at most; 3% allowed)" \
	|| fail "a running slice inside $bad of $nsleeps sleeps ($worst us at most; 3% allowed)"
untraced "$TARGET_PID" && pass "target untraced after" || fail "target traced after"
finish
