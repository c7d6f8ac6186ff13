#!/bin/bash
# make bench (part 1): what a CPU profile costs a CPU-bound target, side by
# side in one run: no profiler twice (an A/A pair: its difference is the
# tolerance), pprof-fcgi's ptrace sampler, its perf_event sampler, and
# `perf record --call-graph dwarf` on the same task clock at the same rate,
# at each rate of BENCH_HZ. Every configuration runs once a round, in an
# order shuffled anew each round (BENCH_ORDER=rotate: rotated instead);
# each window is compared with the unprofiled windows of its own round
# (the shared VM's drift cancels out), and each profiled window with
# perf record's windows of the same round and rate: the medians of those
# paired differences, with a bootstrap 95% interval, say whether a
# difference is more than this machine's noise (the A/A pair's own).
# The target's work starts only once its profiler samples (pprof-fcgi's
# events all open; perf record's enabled through its control fifo), so
# that start-up times do not shorten one profiler's share of the window.
#
#   BENCH_SECONDS (10) per window, BENCH_ROUNDS (3), BENCH_THREADS (2, one
#   per core here: the profiler competes with the target for CPU, the worst
#   case), BENCH_HZ ("100 1000"), BENCH_PERF_STACK (32768: the stack copy
#   perf record asks for, pprof-fcgi's own size; several sizes run perf
#   record once each), BENCH_PERF_PAGES ("-": perf record's own buffer
#   size; "- 1024" also runs it with -m 1024, pprof-fcgi's 4 MiB),
#   BENCH_SAMPLERS ("ptrace perf_event": pprof-fcgi's samplers to run),
#   BENCH_SEED (the shuffle's and the bootstrap's; printed),
#   BENCH_RESULTS (a file to keep the windows' lines in), BENCH_REPORT
#   (such a file: its tables only, nothing run; runs pooled by
#   concatenating their lines with the rounds renumbered)
#
# The target counts its work units and the pauses it notices (over 20 us
# without running), shown per second and per second of its own CPU. Throughput is shown per second of wall time and per
# second of the target's CPU (less noisy when other loads take the
# cores). The profiler's CPU is pprof-fcgi's from the request to its answer
# (sampling, unwinding, symbolizing, encoding), perf record's while it
# records, and perf report's after it (its unwinding and symbolizing).
# "Sampled" and "lost" are the samples each profiler kept and the kernel
# dropped (its buffer full) per 1,000 the target's CPU time makes at the
# rate: a lost sample copies no stack, and costs the target less.
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
PPAGES=${BENCH_PERF_PAGES:--}
ORDER=${BENCH_ORDER:-shuffle}
SEED=${BENCH_SEED:-$(date +%s)}

start_target() { # starts the target, its work held; sets TPID once it is ready
	"$TGT" --threads "$THREADS" --seconds "$SECS" --gate 1 > "$T/target.out" &
	TPID=$!
	PIDS+=("$TPID")
	echo "$TPID" > "$T/target.pid"
	while ! grep -q '^ready' "$T/target.out"; do sleep 0.01; done
}
# release PROFILER_PID: starts the target's work once PROFILER_PID has a
# perf event for each of its threads on each CPU (0: at once), so that
# every profiler samples the whole run whatever its start-up takes; 10 s
# at most, then it says so
NCPU=$(getconf _NPROCESSORS_ONLN)
release() {
	local want=$(((THREADS + 1) * NCPU)) i
	for ((i = 0; i < 1000; i++)); do
		case $1 in
		0) break ;;
		*) [ "$(find /proc/"$1"/fd -lname 'anon_inode:\[perf_event\]' 2> /dev/null | wc -l)" -ge "$want" ] &&
			break ;;
		esac
		sleep 0.01
	done
	[ "$i" = 1000 ] && echo "bench: $1 did not attach in 10 s: the window runs anyway" >&2
	kill -USR1 "$TPID"
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

# report RESULTS "RUN ...": the tables, from the windows' lines. Medians
# over rounds; loss and added pauses against the mean of the same round's
# two unprofiled windows (plainB's against plainA's alone: the A/A
# tolerance). Then each profiled window against each perf record window
# of the same round and rate: the median of the paired
# differences and a bootstrap 95% interval of that median, beside the A/A
# pair's own, and a verdict: "at most perf record's" when the interval's
# top is within the A/A tolerance (the larger end of the A/A interval),
# "more" when its bottom is above it, else undecided at this noise.
report() {
	awk -v secs="$SECS" -v runs="$2" -v seed="$SEED" '
function med(k, key,   a, i) {
	for (i = 1; i <= nr; i++) a[i] = V[k, key, i]
	return median(a, nr)
}
function median(a, m,   i, j, t) {
	for (i = 2; i <= m; i++) for (j = i; j > 1 && a[j - 1] > a[j]; j--) { t = a[j]; a[j] = a[j - 1]; a[j - 1] = t }
	return m % 2 ? a[(m + 1) / 2] : (a[m / 2] + a[m / 2 + 1]) / 2
}
# paired differences of key between windows k and ref (ref 0: k alone)
# over the rounds: their median, and the 2.5th and 97.5th percentiles of
# the medians of 1,000 resamples in LO and HI
function paired(k, ref, key,   d, b, i, s, m, nb) {
	for (i = 1; i <= nr; i++) d[i] = V[k, key, i] - (ref ? V[ref, key, i] : 0)
	nb = 1000
	for (b = 1; b <= nb; b++) {
		for (i = 1; i <= nr; i++) s[i] = d[1 + int(rand() * nr)]
		m[b] = median(s, nr)
	}
	median(m, nb)
	LO = m[int(nb * 0.025) + 1]; HI = m[int(nb * 0.975)]
	return median(d, nr)
}
function label_of(nm,   label) {
	label = nm
	sub(/^plainA$/, "no profiler (A)", label); sub(/^plainB$/, "no profiler (B): A/A", label)
	sub(/^ptrace@/, "ptrace sampler ", label); sub(/^perf_event@/, "perf_event sampler ", label)
	if (label ~ /^record[0-9]+(m[0-9]+)?@/) {
		sub(/^record/, "perf record dwarf,", label); sub(/m/, " -m ", label); sub(/@/, " ", label)
	}
	else if (label ~ /@/) { sub(/@/, " ", label); label = "perf_event, " label }
	if (label ~ /[0-9]$/) label = label " Hz"
	return label
}
function cell(v, lo, hi, f) { return sprintf(f " [" f ", " f "]", v, lo, hi) }
{ R[$1, $2] = $0; if ($2 > nr) nr = $2 }
# a window found traced, not by the ptrace sampler: another tracer
$1 !~ /^ptrace@/ && $10 !~ /^0\// { BAD[$2] = 1 }
END {
	srand(seed)
	n = split(runs, name, " ")
	# whole rounds only (a run cut short leaves its last one partial), and
	# none in which another process traced the target
	m = 0
	for (r = 1; r <= nr; r++) {
		ok = !(r in BAD)
		for (k = 1; k <= n; k++) if (!((name[k], r) in R)) ok = 0
		if (!ok) { dropped++; continue }
		m++
		for (k = 1; k <= n; k++) R[name[k], m] = R[name[k], r]
	}
	nr = m
	for (r = 1; r <= nr; r++) {
		split(R["plainA", r], a, " "); split(R["plainB", r], b, " ")
		for (k = 1; k <= n; k++) {
			split(R[name[k], r], f, " ")
			if (name[k] == "plainB") { bu = a[3]; bc = a[4]; bg = a[5]; bgc = a[5] * secs / a[12] }
			else {
				bu = (a[3] + b[3]) / 2; bc = (a[4] + b[4]) / 2; bg = (a[5] + b[5]) / 2
				bgc = (a[5] * secs / a[12] + b[5] * secs / b[12]) / 2
			}
			hz = name[k] ~ /@/ ? substr(name[k], index(name[k], "@") + 1) : 0
			V[k, "u", r] = f[3]; V[k, "lu", r] = 100 * (1 - f[3] / bu)
			V[k, "lc", r] = 100 * (1 - f[4] / bc); V[k, "g", r] = f[5]; V[k, "dg", r] = f[5] - bg
			# gaps per second of the target own CPU time: the samples come per
			# CPU second, and its share of the cores moves between windows
			V[k, "gc", r] = f[5] * secs / f[12]; V[k, "dgc", r] = V[k, "gc", r] - bgc
			# samples per 1,000 the window s CPU time makes at the rate
			V[k, "sh", r] = hz ? 1000 * f[11] / (f[12] * hz) : 0
			V[k, "lost", r] = hz ? 1000 * f[13] / (f[12] * hz) : 0
			# the same per sample taken: a profiler that starts late samples
			# less of the window (added gaps per 1,000 samples; loss per CPU s
			# scaled to the whole window sampled)
			V[k, "dps", r] = f[11] ? 1000 * V[k, "dgc", r] * f[12] / f[11] : 0
			V[k, "lps", r] = V[k, "sh", r] ? 1000 * V[k, "lc", r] / V[k, "sh", r] : 0
			V[k, "p50", r] = f[6]; V[k, "p99", r] = f[7]; V[k, "cpu", r] = f[8]; V[k, "rep", r] = f[9]
			split(f[10], t, "/"); TR[k] += t[1]; TN[k] += t[2]
		}
	}
	printf "medians of %d rounds", nr
	if (dropped) printf " (%d left out: cut short, or the target traced by another process)", dropped
	printf "\n\n"
	print "| window | units/s | loss | loss per CPU s | pauses > 20 us /s | added | gaps per CPU s | added per CPU s | pause p50 | pause p99 | sampled | lost | profiler CPU | polls traced |"
	print "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"
	for (k = 1; k <= n; k++) {
		label = label_of(name[k])
		mc = med(k, "cpu")
		if (name[k] ~ /^plain/) cpu = sprintf("apps idle: %.2f s", mc)
		else if (name[k] ~ /^record[0-9]/) cpu = sprintf("%.2f s (%.1f%%) + %.2f s", mc, 100 * mc / secs, med(k, "rep"))
		else cpu = sprintf("%.2f s (%.1f%%)", mc, 100 * mc / secs)
		a0 = name[k] == "plainA"
		smp = name[k] ~ /@/ && name[k] !~ /^ptrace@/ # (the ptrace sampler counts ticks, not samples)
		printf "| %s | %.0f | %s | %s | %.1f | %s | %.0f | %s | %.1f us | %.1f us | %s | %s | %s | %s |\n", \
			label, med(k, "u"), a0 ? "—" : sprintf("%.2f%%", med(k, "lu")), \
			a0 ? "—" : sprintf("%.2f%%", med(k, "lc")), med(k, "g"), a0 ? "—" : sprintf("%.1f", med(k, "dg")), \
			med(k, "gc"), a0 ? "—" : sprintf("%.0f", med(k, "dgc")), med(k, "p50"), med(k, "p99"), \
			smp ? sprintf("%.0f", med(k, "sh")) : "—", smp ? sprintf("%.0f", med(k, "lost")) : "—", \
			cpu, TR[k] "/" TN[k]
	}
	for (k = 1; k <= n; k++) if (name[k] == "plainB") aa = k
	if (!aa) exit
	printf "\npaired by round: median difference [bootstrap 95%% interval]\n\n"
	print "| pair | added pauses /s | added per CPU s | loss per CPU s (points) | sampled | added per 1,000 samples | loss per CPU s, all sampled |"
	print "|---|---|---|---|---|---|---|"
	g = paired(aa, 0, "dg"); glo = LO; ghi = HI
	c = paired(aa, 0, "dgc"); clo = LO; chi = HI
	l = paired(aa, 0, "lc"); llo = LO; lhi = HI
	printf "| A/A: no profiler B - A | %s | %s | %s | — | — | — |\n", cell(g, glo, ghi, "%.1f"), cell(c, clo, chi, "%.0f"), \
		cell(l, llo, lhi, "%.2f")
	tolg = -glo > ghi ? -glo : ghi; tolc = -clo > chi ? -clo : chi; toll = -llo > lhi ? -llo : lhi
	for (k = 1; k <= n; k++) {
		if (name[k] !~ /@/ || name[k] ~ /^record/) continue
		hz = substr(name[k], index(name[k], "@") + 1)
		for (ref = 1; ref <= n; ref++) {
			if (name[ref] !~ ("^record[0-9]+(m[0-9]+)?@" hz "$")) continue
			g = paired(k, ref, "dg"); glo = LO; ghi = HI
			c = paired(k, ref, "dgc"); clo = LO; chi = HI
			l = paired(k, ref, "lc"); llo = LO; lhi = HI
			sh = paired(k, ref, "sh"); shlo = LO; shhi = HI
			ps = paired(k, ref, "dps"); pslo = LO; pshi = HI
			pl = paired(k, ref, "lps"); pllo = LO; plhi = HI
			smp = name[k] !~ /^ptrace@/
			printf "| %s - %s | %s | %s | %s | %s | %s | %s |\n", label_of(name[k]), label_of(name[ref]), \
				cell(g, glo, ghi, "%.1f"), cell(c, clo, chi, "%.0f"), cell(l, llo, lhi, "%.2f"), \
				smp ? cell(sh, shlo, shhi, "%.0f") : "—", smp ? cell(ps, pslo, pshi, "%.0f") : "—", \
				smp ? cell(pl, pllo, plhi, "%.2f") : "—"
			sep = k in V2 ? "\n" : ""
			V2[k] = V2[k] sep sprintf("%s against %s:\n  added pauses per CPU s: %s\n  per wall s: %s\n" \
				"  per 1,000 samples: %s\n  loss per CPU s: %s\n  loss per CPU s, all sampled: %s", \
				label_of(name[k]), label_of(name[ref]), verdict(chi, clo, tolc), verdict(ghi, glo, tolg), \
				smp ? verdict(pshi, pslo, tolc * 1000 / hz) : "—", verdict(lhi, llo, toll), \
				smp ? verdict(plhi, pllo, toll) : "—")
		}
	}
	printf "\nA/A tolerance: %.1f pauses/s, %.0f per CPU s, %.2f points of loss per CPU s\n", tolg, tolc, toll
	for (k = 1; k <= n; k++) if (k in V2) print V2[k]
}
function verdict(hi, lo, tol) {
	return hi <= tol ? "at most perf record\047s (within the A/A tolerance)" : \
		lo > tol ? "MORE than perf record\047s" : "undecided at this noise"
}' "$1"
}
if [ -n "${BENCH_REPORT:-}" ]; then # the tables of an earlier run's BENCH_RESULTS
	report "$BENCH_REPORT" "$(awk '{ print $1 }' "$BENCH_REPORT" | sort -u | sort -t@ -k2,2n -s | tr '\n' ' ')"
	exit
fi

others=${BENCH_OTHER_APPS:-}
[ -n "${BENCH_BEFORE_APP:-}" ] && others="before=$BENCH_BEFORE_APP $others"
apps=${BENCH_SAMPLERS:-ptrace perf_event}
for o in $others; do
	apps+=" ${o%%=*}"
done
for s in $apps; do
	a=$APP sampler=$s
	for o in $others; do
		[ "$s" = "${o%%=*}" ] && a=${o#*=} sampler=perf_event
	done
	# by pid: another bench-target on the machine (another bench) is no match
	APP=$a APP_NAME=$s start_app --target-pidfile "$T/target.pid" --cpu-sampler "$sampler" --log-level info
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
release 0
wait "$TPID" "${warm[@]}"

runs="plainA plainB"
for hz in $HZS; do
	for s in ${BENCH_SAMPLERS:-ptrace perf_event}; do
		runs+=" $s@$hz"
	done
	for st in $PSTACK; do
		for pg in $PPAGES; do
			if [ "$pg" = - ]; then runs+=" record$st@$hz"; else runs+=" record${st}m$pg@$hz"; fi
		done
	done
	for o in $others; do
		runs+=" ${o%%=*}@$hz"
	done
done
read -r -a runs <<< "$runs"
nruns=${#runs[@]}
# the windows of round $1, in the order they run
order() {
	if [ "$ORDER" = rotate ]; then
		for i in $(seq 0 $((nruns - 1))); do
			echo "${runs[$(((i + $1 - 1) % nruns))]}"
		done
	else
		printf '%s\n' "${runs[@]}" | awk -v seed=$((SEED + $1)) 'BEGIN { srand(seed) } { print rand(), $0 }' |
			sort -g | cut -d' ' -f2
	fi
}
# one line per window: RUN ROUND UNITS_PER_S UNITS_PER_CPU_S GAPS_PER_S P50
# P99 PROFILER_CPU REPORT_CPU TRACED SAMPLES TARGET_CPU_S LOST_SAMPLES
: > "$T/results"
: > "$T/collector"
echo "bench: order $ORDER, seed $SEED" >&2
for round in $(seq "$ROUNDS"); do
	echo "bench: round $round of $ROUNDS ($nruns windows of $SECS s, $THREADS threads)" >&2
	for run in $(order "$round"); do
		hz=${run#*@}
		start_target
		traced "$TPID" > "$T/traced" &
		poll=$!
		pcpu=0 rcpu=0 nsamples=0 nlost=0
		case $run in
		plain*) # every app idle: what they cost when no one asks
			c0=0
			for s in $apps; do
				c0=$(echo "$c0 - $(cpu_s "$(eval echo "\$APP_$s")")" | bc -l)
			done
			release 0
			wait "$TPID"
			pcpu=$c0
			for s in $apps; do
				pcpu=$(echo "$pcpu + $(cpu_s "$(eval echo "\$APP_$s")")" | bc -l)
			done
			;;
		record*@*)
			st=${run%@*}
			st=${st#record}
			pg=${st#*m}
			[ "$pg" = "$st" ] && pg=
			st=${st%m*}
			# its events opened disabled, enabled through its control fifo:
			# the target starts once perf record says they are on
			rm -f "$T/ctl" "$T/ack"
			mkfifo "$T/ctl" "$T/ack"
			( perf record -q -D -1 --control "fifo:$T/ctl,$T/ack" ${pg:+-m "$pg"} -e task-clock \
				-c $((1000000000 / hz)) --call-graph "dwarf,$st" -p "$TPID" -o "$T/perf.data" \
				> /dev/null 2>&1; times ) > "$T/times" &
			rec=$!
			exec 7<> "$T/ctl" 8<> "$T/ack" # (read-write: no wait for perf to open them)
			echo enable >&7
			read -r -t 10 _ <&8 || echo "bench: perf record did not start in 10 s" >&2
			release 0
			wait "$TPID"
			wait "$rec"
			exec 7>&- 8<&-
			pcpu=$(secs_of_times < "$T/times")
			( perf report -i "$T/perf.data" --stdio > /dev/null 2>&1; times ) > "$T/times"
			rcpu=$(secs_of_times < "$T/times")
			read -r nsamples nlost < <(perf report -i "$T/perf.data" --stats 2> /dev/null |
				awk '/ SAMPLE events:/ && !s { s = $3 } /LOST_SAMPLES events:/ { l = $3 } END { print s + 0, l + 0 }')
			rm -f "$T/perf.data"
			;;
		*) # a pprof-fcgi: its sampler, or another build's perf_event
			s=${run%@*}
			apid=$(eval echo "\$APP_$s")
			c0=$(cpu_s "$apid")
			# longer than the run: the profile ends when the target exits
			APP_NAME=$s request profile "seconds=$((SECS + 10))&hz=$hz" "$T/profile.out" &
			req=$!
			# (the ptrace sampler stops only threads that run: at once)
			if [ "$s" = ptrace ]; then release 0; else release "$apid"; fi
			wait "$TPID"
			wait "$req"
			pcpu=$(echo "$(cpu_s "$apid") - $c0" | bc -l)
			said=$(grep -o "[a-z_]* sampler: [0-9]* [a-z]* at $hz Hz.*" "$T/$s.log" | tail -n1)
			echo "$s: $said" >> "$T/collector"
			nsamples=$(awk '{ print $3 }' <<< "$said")
			nlost=$(grep -o '[0-9]* lost' <<< "$said" | awk '{ print $1 }')
			;;
		esac
		wait "$poll"
		line=$(tail -n 1 "$T/target.out")
		u=$(field units_per_s "$line")
		echo "$run $round $u $(echo "$u * $SECS / $(field cpu_s "$line")" | bc -l)" \
			"$(echo "$(field gaps "$line") / $SECS" | bc -l)" "$(field gap_p50_us "$line")" \
			"$(field gap_p99_us "$line")" "$pcpu" "$rcpu" "$(cat "$T/traced")" "${nsamples:-0}" \
			"$(field cpu_s "$line")" "${nlost:-0}" >> "$T/results"
	done
done

cp "$T/results" "${BENCH_RESULTS:-/dev/null}" 2>/dev/null
report "$T/results" "${runs[*]}"
echo
echo "collector, per profile (from the apps' logs):"
sed 's/^/  /' "$T/collector"
