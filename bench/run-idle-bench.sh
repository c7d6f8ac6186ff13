#!/bin/bash
# make bench (part 3): what pprof-fcgi's own CPU is while it profiles a
# target of 1,000 sleeping threads and 2 busy ones (bench/bench-target
# --idle 1000): a /profile?seconds=BENCH_SECONDS (10) at 100 Hz under each
# sampler, twice from the same app (the first request pays for reading
# symbols and kallsyms, the second finds them kept), then a /block of the
# same length. The app's CPU from the request to its answer: attach,
# sampling, unwinding, symbolizing and encoding.
#
# BENCH_BEFORE_APP, a pprof-fcgi built from an earlier commit, runs the
# same requests first, on the same target in the same run, for a
# before/after pair.
. "$(dirname "$0")/lib.sh"
TGT=$top_builddir/bench/bench-target

# long enough for every request; killed on exit
"$TGT" --threads 2 --idle 1000 --seconds 86400 > "$T/target.out" &
tpid=$!
PIDS+=("$tpid")
while ! grep -q '^ready' "$T/target.out"; do sleep 0.01; done
threads=$(ls "/proc/$tpid/task" | wc -l)

builds=now
[ -n "${BENCH_BEFORE_APP:-}" ] && builds="before now"
printf '| %-44s | %-16s | %-70s |\n' "request ($threads threads: 2 busy)" "pprof-fcgi CPU" "sampler's line in the log"
printf '|%s|%s|%s|\n' ---------------------------------------------- ------------------ ------------------------------------------------------------------------
for build in $builds; do
	for s in ptrace perf_event; do
		a=$APP
		[ "$build" = before ] && a=$BENCH_BEFORE_APP
		APP=$a APP_NAME=$s start_app --target-pid "$tpid" --cpu-sampler "$s" --log-level info
		reqs="profile?seconds=$SECS&hz=100 profile?seconds=$SECS&hz=100"
		[ "$s" = perf_event ] && reqs+=" block?seconds=$SECS"
		n=0
		for req in $reqs; do
			n=$((n + 1))
			c0=$(cpu_s "$APP_PID")
			APP_NAME=$s request "${req%%\?*}" "${req#*\?}" "$T/out"
			c1=$(cpu_s "$APP_PID")
			case $req in
			profile*) note=$(grep -o "$s sampler: [0-9]* [a-z]* at .*" "$T/$s.log" | tail -n1 |
					 sed -e "s/$s sampler: //" -e 's/ held median.*//' -e 's/, [0-9]* throttled.*//')
				  what="$s, request $n" ;;
			*) note=$(grep -o 'wait stacks: .*' "$T/$s.log" | tail -n1)
			   what="$s app" ;;
			esac
			[ "$build" = before ] && what="before: $what"
			printf '| %-44s | %5.2f s (%4.1f%%) | %-70s |\n' "${req%%\?*} $SECS s, $what" \
				"$(echo "$c1 - $c0" | bc)" "$(echo "100 * ($c1 - $c0) / $SECS" | bc -l)" "$(echo "$note" | cut -c1-70)"
		done
		kill "$APP_PID"
		wait "$APP_PID" 2>/dev/null
	done
done
