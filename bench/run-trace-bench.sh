#!/bin/bash
# make bench (part 4): /trace of 100 threads for BENCH_SECONDS (10): the
# trace's size per thread-second and the time spent after the window
# (symbolizing and encoding).
. "$(dirname "$0")/lib.sh"

start_demo --idle-threads 91
start_app --target-pid "$DEMO_PID" --log-level warn
dpid=$DEMO_PID
n=$(ls "/proc/$dpid/task" | wc -l)
t0=$(date +%s%N)
request trace "seconds=$SECS" "$T/out"
ms=$(( ($(date +%s%N) - t0) / 1000000 - SECS * 1000 ))
size=$(( $(wc -c < "$T/out") ))
printf '| threads | window | trace size | per thread-second | after the window (symbolize + encode) |\n'
printf '|---|---|---|---|---|\n'
printf '| %d | %d s | %d KiB | %d bytes | %d ms |\n' "$n" "$SECS" $(( size / 1024 )) $(( size / n / SECS )) "$ms"
