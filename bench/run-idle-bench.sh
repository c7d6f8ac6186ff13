#!/bin/bash
# make bench (part 3): what 1,000 idle threads cost. The demo target with
# 1,000 extra threads asleep in nanosleep, profiled for BENCH_SECONDS (10):
# /block (every thread is waiting) and /profile (few are running). Reports
# the app's CPU over the window and, from each profile's comment, how many
# threads it stopped.
set -u
: "${top_srcdir:=$(cd "$(dirname "$0")/.." && pwd)}"
: "${top_builddir:=$top_srcdir}"
APP=$top_builddir/fcgi-app/pprof-fcgi
DEMO=$top_builddir/tests/targets/demo-target
SECS=${BENCH_SECONDS:-10}
T=$(mktemp -d "${TMPDIR:-/tmp}/pprof-idle.XXXXXX")
PIDS=()
cleanup() { kill "${PIDS[@]}" 2>/dev/null; wait 2>/dev/null; rm -rf "$T"; }
trap cleanup EXIT
cpu_s() { sed 's/.*) //' "/proc/$1/stat" | awk -v hz="$(getconf CLK_TCK)" '{ printf "%.2f", ($12 + $13) / hz }'; }

"$DEMO" --idle-threads 1000 > "$T/demo.out" &
dpid=$!
PIDS+=("$dpid")
while ! grep -q '^ready' "$T/demo.out"; do sleep 0.01; done
"$APP" --listen "unix:$T/app.sock" --target-pid "$dpid" --log-level warn 2> "$T/app.log" &
apid=$!
PIDS+=("$apid")
while [ ! -S "$T/app.sock" ]; do sleep 0.01; done
threads=$(ls "/proc/$dpid/task" | wc -l)

printf '| %-34s | %-16s | %-60s |\n' "request ($threads threads)" "pprof-fcgi CPU" "threads stopped / wait stacks"
printf '|%s|%s|%s|\n' ------------------------------------ ------------------ --------------------------------------------------------------
for req in "block?seconds=$SECS" "profile?seconds=$SECS"; do
	c0=$(cpu_s "$apid")
	SCRIPT_NAME=/v1/sys/pprof PATH_INFO="/${req%%\?*}" REQUEST_METHOD=GET QUERY_STRING="${req#*\?}" \
		cgi-fcgi -bind -connect "$T/app.sock" > "$T/out"
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
