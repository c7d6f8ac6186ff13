#!/bin/bash
# make bench (part 3): what 1,000 idle threads cost. The demo target with
# 1,000 extra threads asleep in nanosleep, profiled for BENCH_SECONDS (10):
# /block (every thread is waiting) and /profile (few are running). Reports
# the app's CPU over the window and, from the sampler's line in the app's
# log, how many threads it stopped. BENCH_BEFORE_APP, a pprof-fcgi built
# from an earlier commit, adds its /block first, on the same target in the
# same run, for a before/after pair.
. "$(dirname "$0")/lib.sh"

start_demo --idle-threads 1000
dpid=$DEMO_PID
threads=$(ls "/proc/$dpid/task" | wc -l)

printf '| %-34s | %-16s | %-60s |\n' "request ($threads threads)" "pprof-fcgi CPU" "threads stopped / wait stacks"
printf '|%s|%s|%s|\n' ------------------------------------ ------------------ --------------------------------------------------------------
reqs="block?seconds=$SECS profile?seconds=$SECS"
if [ -n "${BENCH_BEFORE_APP:-}" ]; then
	APP=$BENCH_BEFORE_APP start_app --target-pid "$dpid" --log-level info
	before_pid=$APP_PID
	reqs="before:block?seconds=$SECS $reqs"
fi
for req in $reqs; do
	case $req in
	before:*) apid=$before_pid ;;
	*)	if [ -n "${before_pid:-}" ]; then # one tracer at a time
			kill "$before_pid"
			wait "$before_pid" 2>/dev/null
			before_pid=
		fi
		[ -n "${now_pid:-}" ] || { start_app --target-pid "$dpid" --log-level info; now_pid=$APP_PID; }
		apid=$now_pid ;;
	esac
	c0=$(cpu_s "$apid")
	path=${req#before:}
	request "${path%%\?*}" "${path#*\?}" "$T/out"
	c1=$(cpu_s "$apid")
	line=$(grep -o 'ptrace sampler: .*' "$T/app.log" | tail -n1)
	case $path in
	block*) note=$(echo "$line" | sed -e 's/.*wait stacks: /wait stacks: /') ;;
	*) note=$(echo "$line" | sed -e 's/ptrace sampler: //' -e 's/ held median.*//') ;;
	esac
	note=$(echo "$note" | cut -c1-60)
	printf '| %-34s | %5.2f s (%4.1f%%) | %-60s |\n' "$req" "$(echo "$c1 - $c0" | bc)" \
		"$(echo "100 * ($c1 - $c0) / $SECS" | bc -l)" "$note"
done
