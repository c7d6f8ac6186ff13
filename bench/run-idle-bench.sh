#!/bin/bash
# make bench (part 3): what 1,000 idle threads cost. The demo target with
# 1,000 extra threads asleep in nanosleep, profiled for BENCH_SECONDS (10):
# /block (every thread is waiting) and /profile (few are running). Reports
# the app's CPU over the window and, from each profile's comment, how many
# threads it stopped.
. "$(dirname "$0")/lib.sh"

start_demo --idle-threads 1000
start_app --target-pid "$DEMO_PID" --log-level warn
apid=$APP_PID
dpid=$DEMO_PID
threads=$(ls "/proc/$dpid/task" | wc -l)

printf '| %-34s | %-16s | %-60s |\n' "request ($threads threads)" "pprof-fcgi CPU" "threads stopped / wait stacks"
printf '|%s|%s|%s|\n' ------------------------------------ ------------------ --------------------------------------------------------------
for req in "block?seconds=$SECS" "profile?seconds=$SECS"; do
	c0=$(cpu_s "$apid")
	request "${req%%\?*}" "${req#*\?}" "$T/out"
	c1=$(cpu_s "$apid")
	python3 - "$T/out" > "$T/prof.gz" <<'PY'
import sys
d = open(sys.argv[1], 'rb').read()
sys.stdout.buffer.write(d[d.index(b'\r\n\r\n') + 4:])
PY
	note=$(gunzip -c "$T/prof.gz" | tr -c '[:print:]' '\n' | grep -o 'pprof-fcgi: .*' | head -n1 \
		| sed -e 's/pprof-fcgi: //' -e 's/; stop latency.*//' -e 's/waiting threads looked at 20 times a second; //' | cut -c1-60)
	printf '| %-34s | %5.2f s (%4.1f%%) | %-60s |\n' "$req" "$(echo "$c1 - $c0" | bc)" \
		"$(echo "100 * ($c1 - $c0) / $SECS" | bc -l)" "$note"
done
