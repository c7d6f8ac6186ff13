#!/bin/bash
# make bench (part 4): /trace of 100 threads for BENCH_SECONDS (10): the
# trace's size per thread-second and the time spent after the window
# (symbolizing and encoding).
set -u
: "${top_srcdir:=$(cd "$(dirname "$0")/.." && pwd)}"
: "${top_builddir:=$top_srcdir}"
APP=$top_builddir/fcgi-app/pprof-fcgi
DEMO=$top_builddir/tests/targets/demo-target
SECS=${BENCH_SECONDS:-10}
T=$(mktemp -d "${TMPDIR:-/tmp}/pprof-trace.XXXXXX")
PIDS=()
cleanup() { kill "${PIDS[@]}" 2>/dev/null; wait 2>/dev/null; rm -rf "$T"; }
trap cleanup EXIT

"$DEMO" --idle-threads 91 > "$T/demo.out" &
PIDS+=($!)
dpid=$!
while ! grep -q '^ready' "$T/demo.out"; do sleep 0.01; done
"$APP" --listen "unix:$T/app.sock" --target-pid "$dpid" --log-level warn 2> "$T/app.log" &
PIDS+=($!)
while [ ! -S "$T/app.sock" ]; do sleep 0.01; done
n=$(ls "/proc/$dpid/task" | wc -l)
t0=$(date +%s%N)
SCRIPT_NAME=/v1/sys/pprof PATH_INFO=/trace REQUEST_METHOD=GET QUERY_STRING="seconds=$SECS" \
	cgi-fcgi -bind -connect "$T/app.sock" > "$T/out"
ms=$(( ($(date +%s%N) - t0) / 1000000 - SECS * 1000 ))
size=$(( $(wc -c < "$T/out") ))
printf '| threads | window | trace size | per thread-second | after the window (symbolize + encode) |\n'
printf '|---|---|---|---|---|\n'
printf '| %d | %d s | %d KiB | %d bytes | %d ms |\n' "$n" "$SECS" $(( size / 1024 )) $(( size / n / SECS )) "$ms"
