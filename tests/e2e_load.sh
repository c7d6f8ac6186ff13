#!/bin/bash
# Load through lighttpd on loopback: wrk on /cmdline and on the index at 32
# connections while a CPU profile and a block profile run. No error, both
# profiles whole, and the app's memory flat across 10,000 more requests.
# The rates wrk measured are printed (figures for the README, not checks).
. "$(dirname "$0")/lib.sh"
export HOME="$T" PPROF_TMPDIR="$T"

start_target || exit 1
start_app --target-pid "$TARGET_PID" --log-level warn || exit 1
NO_TOKEN=1 start_lighttpd || exit 1
P="$BASE/v1/sys/pprof"
rss_kb() { awk '/^VmRSS:/ { print $2 }' "/proc/$APP_PID/status"; }

curl -s -o "$T/cpu.pb.gz" "$P/profile?seconds=8" & c1=$!
curl -s -o "$T/block.pb.gz" "$P/block?seconds=8" & c2=$!
WAIT_S=10 wait_for sampling "$TARGET_PID"
for path in cmdline ""; do
	wrk -t 2 -c 32 -d 3s --latency "$P/$path" > "$T/wrk.txt" 2>&1
	name=${path:-index}
	errs=$(grep -E 'Non-2xx|Socket errors' "$T/wrk.txt")
	[ -z "$errs" ] && pass "wrk $name during profiles: no error" || fail "wrk $name: $errs"
	echo "  $name: $(grep 'Requests/sec' "$T/wrk.txt"), p99 $(awk '$1 == "99%" { print $2 }' "$T/wrk.txt")"
done
wait $c1 $c2
go tool pprof -top "$T/cpu.pb.gz" 2>/dev/null | grep -q hash_block && pass "CPU profile under load: whole" || fail "CPU profile under load broken"
go tool pprof -top "$T/block.pb.gz" 2>/dev/null | grep -q wait_for_lock && pass "block profile under load: whole" || fail "block profile under load broken"

# memory: warm up, then 10,000 more requests must not grow the app
wrk -t 1 -c 8 -d 2s "$P/cmdline" > /dev/null 2>&1
before=$(rss_kb)
n=0
while [ "$n" -lt 10000 ]; do
	wrk -t 2 -c 16 -d 1s "$P/cmdline" > "$T/wrk.txt" 2>&1
	done_now=$(awk '/requests in/ { print $1 }' "$T/wrk.txt")
	n=$((n + ${done_now:-0}))
	[ "${done_now:-0}" -gt 0 ] || { fail "wrk made no request"; break; }
done
after=$(rss_kb)
if ldd "$APP" 2>/dev/null | grep -q libasan; then
	# ASan holds freed memory in its quarantine, so RSS grows by design;
	# LeakSanitizer checks for leaks when finish stops the app instead
	echo "  sanitizer build: RSS $before -> $after KiB over $n requests (quarantine); leaks checked at exit"
else
	[ $((after - before)) -lt 2048 ] && pass "app RSS $before -> $after KiB over $n requests" \
		|| fail "app grew $before -> $after KiB over $n requests"
fi
finish
