#!/bin/bash
# make bench (part 1): what a CPU profile costs a CPU-bound target, side by
# side in one run: no profiler twice (an A/A pair: its difference is the
# tolerance), pprof-fcgi's ptrace sampler, its perf_event sampler, and
# `perf record --call-graph dwarf` on the same task clock at the same rate,
# at each rate of BENCH_HZ. Every configuration runs once a round, in an
# order rotated from round to round; figures are medians over the rounds,
# each window compared with the unprofiled windows of its own round (the
# shared VM's drift cancels out).
#
#   BENCH_SECONDS (10) per window, BENCH_ROUNDS (3), BENCH_THREADS (2, one
#   per core here: the profiler competes with the target for CPU, the worst
#   case), BENCH_HZ ("100 1000"), BENCH_PERF_STACK (32768: the stack copy
#   perf record asks for, pprof-fcgi's own size; several sizes run perf
#   record once each)
#
# The target counts its work units and the pauses it notices (over 20 us
# without running), shown per second and per second of its own CPU. Throughput is shown per second of wall time and per
# second of the target's CPU (less noisy when other loads take the
# cores). The profiler's CPU is pprof-fcgi's from the request to its answer
# (sampling, unwinding, symbolizing, encoding), perf record's while it
# records, and perf report's after it (its unwinding and symbolizing).
# TracerPid of the target's threads is polled through each window.
# BENCH_BEFORE_APP, a pprof-fcgi built from an earlier commit, adds its
# perf_event sampler at each rate, for a before/after pair in the same run;
# BENCH_OTHER_APPS ("NAME=PATH ...", NAME a word) adds more such builds
# (a variant each, to tell which change moves a figure).
. "$(dirname "$0")/lib.sh"
TGT=$top_builddir/bench/bench-target
ROUNDS=${BENCH_ROUNDS:-3}
THREADS=${BENCH_THREADS:-2}
HZS=${BENCH_HZ:-100 1000}
PSTACK=${BENCH_PERF_STACK:-32768}

start_target() { # starts the target; sets TPID once it is ready
	"$TGT" --threads "$THREADS" --seconds "$SECS" > "$T/target.out" &
	TPID=$!
	PIDS+=("$TPID")
	while ! grep -q '^ready' "$T/target.out"; do sleep 0.01; done
}
field() { awk -v k="$1" '{ for (i = 1; i < NF; i++) if ($i == k) print $(i + 1) }' <<< "$2"; }
# traced PID: polls of PID's threads' TracerPid until PID exits, "T/N"
# (polls that found a thread traced, polls)
traced() {
	local n=0 t=0
	while [ -d "/proc/$1" ]; do
		n=$((n + 1))
		if cat /proc/"$1"/task/*/status 2>/dev/null | grep -q '^TracerPid:[[:space:]]*[1-9]'; then
			t=$((t + 1))
		fi
		sleep 0.1
	done
	echo "$t/$n"
}
# secs_of_times: bash's `times` output in, the children's user + system out
secs_of_times() { tail -n 1 | awk '{ for (i = 1; i <= 2; i++) { split($i, a, /[ms]/); s += a[1] * 60 + a[2] } print s }'; }

others=${BENCH_OTHER_APPS:-}
[ -n "${BENCH_BEFORE_APP:-}" ] && others="before=$BENCH_BEFORE_APP $others"
apps="ptrace perf_event"
for o in $others; do
	apps+=" ${o%%=*}"
done
for s in $apps; do
	a=$APP sampler=$s
	for o in $others; do
		[ "$s" = "${o%%=*}" ] && a=${o#*=} sampler=perf_event
	done
	APP=$a APP_NAME=$s start_app --target-exe bench-target --cpu-sampler "$sampler" --log-level info
	eval "APP_$s=\$APP_PID"
done
# a first profile reads what every later one keeps (symbols, kallsyms):
# the rounds measure the steady state, run-idle-bench.sh the first request
start_target
warm=()
for s in $apps; do
	APP_NAME=$s request profile "seconds=1&hz=100" "$T/warm-$s.out" &
	warm+=($!)
done
wait "$TPID" "${warm[@]}"

runs="plainA plainB"
for hz in $HZS; do
	runs+=" ptrace@$hz perf_event@$hz"
	for st in $PSTACK; do
		runs+=" record$st@$hz"
	done
	for o in $others; do
		runs+=" ${o%%=*}@$hz"
	done
done
read -r -a runs <<< "$runs"
nruns=${#runs[@]}
# one line per window: RUN ROUND UNITS_PER_S UNITS_PER_CPU_S GAPS_PER_S P50 P99 PROFILER_CPU REPORT_CPU TRACED
: > "$T/results"
: > "$T/collector"
for round in $(seq "$ROUNDS"); do
	echo "bench: round $round of $ROUNDS ($nruns windows of $SECS s, $THREADS threads)" >&2
	for i in $(seq 0 $((nruns - 1))); do
		run=${runs[$(((i + round - 1) % nruns))]}
		hz=${run#*@}
		start_target
		traced "$TPID" > "$T/traced" &
		poll=$!
		pcpu=0 rcpu=0
		case $run in
		plain*) # both apps idle: what they cost when no one asks
			c0=$(echo "$(cpu_s "$APP_ptrace") + $(cpu_s "$APP_perf_event")" | bc -l)
			wait "$TPID"
			pcpu=$(echo "$(cpu_s "$APP_ptrace") + $(cpu_s "$APP_perf_event") - $c0" | bc -l)
			;;
		record*@*)
			st=${run%@*}
			st=${st#record}
			( perf record -q -e task-clock -c $((1000000000 / hz)) --call-graph "dwarf,$st" \
				-p "$TPID" -o "$T/perf.data" > /dev/null 2>&1; times ) > "$T/times" &
			rec=$!
			wait "$TPID"
			wait "$rec"
			pcpu=$(secs_of_times < "$T/times")
			( perf report -i "$T/perf.data" --stdio > /dev/null 2>&1; times ) > "$T/times"
			rcpu=$(secs_of_times < "$T/times")
			rm -f "$T/perf.data"
			;;
		*) # a pprof-fcgi: its sampler, or another build's perf_event
			s=${run%@*}
			apid=$(eval echo "\$APP_$s")
			c0=$(cpu_s "$apid")
			APP_NAME=$s request profile "seconds=$SECS&hz=$hz" "$T/profile.out" &
			req=$!
			wait "$TPID"
			wait "$req"
			pcpu=$(echo "$(cpu_s "$apid") - $c0" | bc -l)
			grep -o "[a-z_]* sampler: [0-9]* [a-z]* at $hz Hz.*" "$T/$s.log" | tail -n1 |
				sed "s/^/$s: /" >> "$T/collector"
			;;
		esac
		wait "$poll"
		line=$(tail -n 1 "$T/target.out")
		u=$(field units_per_s "$line")
		echo "$run $round $u $(echo "$u * $SECS / $(field cpu_s "$line")" | bc -l)" \
			"$(echo "$(field gaps "$line") / $SECS" | bc -l)" "$(field gap_p50_us "$line")" \
			"$(field gap_p99_us "$line")" "$pcpu" "$rcpu" "$(cat "$T/traced")" >> "$T/results"
	done
done

cp "$T/results" "${BENCH_RESULTS:-/dev/null}" 2>/dev/null
# medians over rounds; loss and added pauses against the mean of the same
# round's two unprofiled windows (plainB's against plainA's alone: the A/A
# tolerance)
awk -v secs="$SECS" -v runs="${runs[*]}" '
function med(k, key,   a, i, j, t) {
	for (i = 1; i <= nr; i++) a[i] = V[k, key, i]
	for (i = 2; i <= nr; i++) for (j = i; j > 1 && a[j - 1] > a[j]; j--) { t = a[j]; a[j] = a[j - 1]; a[j - 1] = t }
	return nr % 2 ? a[(nr + 1) / 2] : (a[nr / 2] + a[nr / 2 + 1]) / 2
}
{ R[$1, $2] = $0; if ($2 > nr) nr = $2 }
END {
	n = split(runs, name, " ")
	for (r = 1; r <= nr; r++) {
		split(R["plainA", r], a, " "); split(R["plainB", r], b, " ")
		for (k = 1; k <= n; k++) {
			split(R[name[k], r], f, " ")
			if (name[k] == "plainB") { bu = a[3]; bc = a[4]; bg = a[5] }
			else { bu = (a[3] + b[3]) / 2; bc = (a[4] + b[4]) / 2; bg = (a[5] + b[5]) / 2 }
			V[k, "u", r] = f[3]; V[k, "lu", r] = 100 * (1 - f[3] / bu)
			V[k, "lc", r] = 100 * (1 - f[4] / bc); V[k, "g", r] = f[5]; V[k, "dg", r] = f[5] - bg
			# gaps per second of the target own CPU time: the samples come per
			# CPU second, and its share of the cores moves between windows
			V[k, "gc", r] = f[5] * f[4] / f[3]
			V[k, "p50", r] = f[6]; V[k, "p99", r] = f[7]; V[k, "cpu", r] = f[8]; V[k, "rep", r] = f[9]
			split(f[10], t, "/"); TR[k] += t[1]; TN[k] += t[2]
		}
	}
	printf "| %-26s | %9s | %7s | %12s | %8s | %8s | %11s | %9s | %9s | %-25s | %7s |\n", "window", "units/s", "loss", \
		"loss per CPU", "pauses/s", "added", "gaps/CPU s", "p50", "p99", "profiler CPU", "traced"
	printf "|%s|%s|%s|%s|%s|%s|%s|%s|%s|%s|%s|\n", "----------------------------", "-----------", "---------", \
		"--------------", "----------", "----------", "-------------", "-----------", "-----------", \
		"---------------------------", "---------"
	for (k = 1; k <= n; k++) {
		label = name[k]
		sub(/^plainA$/, "no profiler (A)", label); sub(/^plainB$/, "no profiler (B): A/A", label)
		sub(/^ptrace@/, "ptrace sampler ", label); sub(/^perf_event@/, "perf_event sampler ", label)
		if (label ~ /^record[0-9]+@/) { sub(/^record/, "perf record dwarf,", label); sub(/@/, " ", label) }
		else if (label ~ /@/) { sub(/@/, " ", label); label = "perf_event, " label }
		if (label ~ /[0-9]$/) label = label " Hz"
		mc = med(k, "cpu")
		if (name[k] ~ /^plain/) cpu = sprintf("apps idle: %.2f s", mc)
		else if (name[k] ~ /^record[0-9]/) cpu = sprintf("%.2f s (%.1f%%) + %.2f s", mc, 100 * mc / secs, med(k, "rep"))
		else cpu = sprintf("%.2f s (%.1f%%)", mc, 100 * mc / secs)
		a0 = name[k] == "plainA"
		printf "| %-26s | %9.0f | %6.2f%% | %11.2f%% | %8.1f | %8.1f | %11.0f | %6.1f us | %6.1f us | %-25s | %7s |\n", \
			label, med(k, "u"), a0 ? 0 : med(k, "lu"), a0 ? 0 : med(k, "lc"), med(k, "g"), \
			a0 ? 0 : med(k, "dg"), med(k, "gc"), med(k, "p50"), med(k, "p99"), cpu, TR[k] "/" TN[k]
	}
}' "$T/results"
echo
echo "collector, per profile (from the apps' logs):"
sed 's/^/  /' "$T/collector"
