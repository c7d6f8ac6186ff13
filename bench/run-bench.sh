#!/bin/bash
# make bench: what a 100 Hz CPU profile costs a CPU-bound target, side by
# side with perf record -F 100 -g on the same target, in alternating rounds.
#
#   BENCH_SECONDS (10) per run, BENCH_ROUNDS (3), BENCH_THREADS (2, one per
#   core here: the profiler competes with the target for CPU, the worst case)
#
# The target counts its work units and the pauses it notices (> 10 us
# without running); a profiler's thread stops show up there.
set -u
: "${top_srcdir:=$(cd "$(dirname "$0")/.." && pwd)}"
: "${top_builddir:=$top_srcdir}"
APP=$top_builddir/fcgi-app/pprof-fcgi
TGT=$top_builddir/bench/bench-target
SECS=${BENCH_SECONDS:-10}
ROUNDS=${BENCH_ROUNDS:-3}
THREADS=${BENCH_THREADS:-2}
T=$(mktemp -d "${TMPDIR:-/tmp}/pprof-bench.XXXXXX")
APP_PID=
cleanup() {
	[ -n "$APP_PID" ] && kill "$APP_PID" 2>/dev/null
	rm -rf "$T"
}
trap cleanup EXIT

start_target() { # starts the target; sets TPID once it is ready
	"$TGT" --threads "$THREADS" --seconds "$SECS" > "$T/target.out" &
	TPID=$!
	while ! grep -q '^ready' "$T/target.out"; do sleep 0.01; done
}
result() { # the target's last line (after: wait "$TPID", in this shell)
	tail -n 1 "$T/target.out"
}
field() { awk -v k="$1" '{ for (i = 1; i < NF; i++) if ($i == k) print $(i + 1) }' <<< "$2"; }
cpu_s() { sed 's/.*) //' "/proc/$1/stat" | awk -v hz="$(getconf CLK_TCK)" '{ print ($12 + $13) / hz }'; }

"$APP" --listen "unix:$T/app.sock" --target-exe bench-target --log-level info 2> "$T/app.log" &
APP_PID=$!
while [ ! -S "$T/app.sock" ]; do sleep 0.01; done

declare -A sum_units sum_gaps sum_p50 sum_p99 sum_cpu
add() { # RUN LINE CPU
	sum_units[$1]=$(echo "${sum_units[$1]:-0} + $(field units_per_s "$2")" | bc -l)
	sum_gaps[$1]=$(echo "${sum_gaps[$1]:-0} + $(field gaps "$2")" | bc -l)
	sum_p50[$1]=$(echo "${sum_p50[$1]:-0} + $(field gap_p50_us "$2")" | bc -l)
	sum_p99[$1]=$(echo "${sum_p99[$1]:-0} + $(field gap_p99_us "$2")" | bc -l)
	sum_cpu[$1]=$(echo "${sum_cpu[$1]:-0} + $3" | bc -l)
}

comments=
for round in $(seq "$ROUNDS"); do
	echo "bench: round $round of $ROUNDS ($SECS s per run, $THREADS threads)" >&2
	start_target
	wait "$TPID"
	add plain "$(result)" 0

	start_target
	c0=$(cpu_s "$APP_PID")
	SCRIPT_NAME=/v1/sys/pprof PATH_INFO=/profile REQUEST_METHOD=GET \
		QUERY_STRING="seconds=$SECS&hz=100" cgi-fcgi -bind -connect "$T/app.sock" > "$T/profile.out" &
	req=$!
	wait "$TPID"
	line=$(result)
	wait "$req"
	c1=$(cpu_s "$APP_PID")
	add pprof "$line" "$(echo "$c1 - $c0" | bc -l)"
	# the collector's own counts, from the app's log (the profile's
	# comment says only what a user can act on)
	comments+=$(grep -o 'ptrace sampler: .* in time' "$T/app.log" | tail -n1)$'\n'

	start_target
	( perf record -q -F 100 -g -p "$TPID" -o "$T/perf.data" > /dev/null 2>&1; times ) > "$T/times" &
	perf_job=$!
	wait "$TPID"
	line=$(result)
	wait "$perf_job"
	# bash's times: shell, then children (perf); user and system
	perf_cpu=$(tail -n 1 "$T/times" | awk '{ for (i = 1; i <= 2; i++) { split($i, a, /[ms]/); s += a[1] * 60 + a[2] } print s }')
	add perf "$line" "$perf_cpu"
done

base=$(echo "${sum_units[plain]} / $ROUNDS" | bc -l)
printf '\n| %-28s | %14s | %7s | %11s | %10s | %10s | %17s |\n' run "units/s" loss "pauses/s" "pause p50" "pause p99" "profiler CPU"
printf '|%s|%s|%s|%s|%s|%s|%s|\n' ------------------------------ ---------------- --------- ------------- ------------ ------------ -------------------
for run in plain pprof perf; do
	case $run in
	plain) name="no profiler" ;;
	pprof) name="pprof-fcgi /profile 100 Hz" ;;
	perf) name="perf record -F 100 -g" ;;
	esac
	u=$(echo "${sum_units[$run]} / $ROUNDS" | bc -l)
	printf '| %-28s | %14.0f | %6.2f%% | %11.1f | %7.1f us | %7.1f us | %8.3f s (%4.2f%%) |\n' "$name" "$u" \
		"$(echo "100 * (1 - $u / $base)" | bc -l)" \
		"$(echo "${sum_gaps[$run]} / $ROUNDS / $SECS" | bc -l)" \
		"$(echo "${sum_p50[$run]} / $ROUNDS" | bc -l)" "$(echo "${sum_p99[$run]} / $ROUNDS" | bc -l)" \
		"$(echo "${sum_cpu[$run]} / $ROUNDS" | bc -l)" \
		"$(echo "100 * ${sum_cpu[$run]} / $ROUNDS / $SECS" | bc -l)"
done
echo
echo "collector, per profile:"
printf '%s' "$comments" | sed 's/^/  /'
