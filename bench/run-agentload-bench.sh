#!/bin/bash
# make bench (agent load): POST /agent into fresh targets (tests/targets/
# regs-target, one lendable thread plus 0, 99 and 999 idle ones) with the
# load probe in the agent's place, BENCH_LOAD_ROUNDS (20) loads each: how
# long the lent thread was stopped (seize to detach) and out of its own
# code (stop, calls and return), median and max, from pprof-fcgi's log;
# beside it `heaptrack --pid` (which injects through gdb, stopping every
# thread) on BENCH_HEAPTRACK_ROUNDS (3) fresh targets: its time until
# injected, which is also how long the target's threads were stopped.
. "$(dirname "$0")/lib.sh"
ROUNDS=${BENCH_LOAD_ROUNDS:-20}
HT_ROUNDS=${BENCH_HEAPTRACK_ROUNDS:-3}
REGS=$top_builddir/tests/targets/regs-target
PROBE=$top_builddir/tests/targets/.libs/libload-probe.so

ms() { echo $(( ($(date +%s%N) - $1) / 1000000 )); }
median() { tr ' ' '\n' | awk NF | sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }
maxof() { tr ' ' '\n' | awk NF | sort -n | tail -1; }

# start_regs IDLE: a fresh regs-target, ready; sets REGS_PID
start_regs() {
	"$REGS" --idle "$1" > "$T/regs.out" &
	REGS_PID=$!
	PIDS+=("$REGS_PID")
	echo "$REGS_PID" > "$T/regs.pid"
	while ! grep -q '^round 1' "$T/regs.out" 2>/dev/null; do sleep 0.01; done
}

printf '| %-7s | %-26s | %-26s | %-34s |\n' threads "lent thread stopped (ms)" "lent thread out of its code" "heaptrack --pid: until injected (s)"
printf '| %-7s | %-26s | %-26s | %-34s |\n' "" "median / max" "median / max (ms)" "median / max, every thread stopped"
printf '|%s|%s|%s|%s|\n' --------- ---------------------------- ---------------------------- ------------------------------------
for idle in 0 99 999; do
	start_app --target-pidfile "$T/regs.pid" --agent-path "$PROBE"
	stop=() lent=()
	for r in $(seq "$ROUNDS"); do
		start_regs "$idle"
		SCRIPT_NAME=/v1/sys/pprof PATH_INFO=/agent REQUEST_METHOD=POST CONTENT_LENGTH=0 \
			cgi-fcgi -bind -connect "$T/app.sock" < /dev/null > "$T/answer.txt"
		grep -q 'agent loaded into pid' "$T/answer.txt" || { echo "bench: $(cat "$T/answer.txt")" >&2; }
		line=$(grep "agent load: pid $REGS_PID: thread" "$T/app.log" | tail -1)
		stop+=("$(echo "$line" | sed 's/.*stopped \([0-9.]*\) ms.*/\1/')")
		lent+=("$(echo "$line" | sed 's/.*lent \([0-9.]*\) ms.*/\1/')")
		kill "$REGS_PID"; wait "$REGS_PID" 2>/dev/null
	done
	kill "$APP_PID"; wait "$APP_PID" 2>/dev/null
	h=()
	for r in $(seq "$HT_ROUNDS"); do
		start_regs "$idle"
		t0=$(date +%s%N)
		# its own process group: heaptrack is a script with gdb and an
		# interpreter under it, all stopped together afterwards
		setsid heaptrack --pid "$REGS_PID" > "$T/ht.out" 2>&1 &
		hpid=$!
		while ! grep -q 'injection finished\|failed' "$T/ht.out" && kill -0 "$hpid" 2>/dev/null; do sleep 0.01; done
		h+=("$(ms "$t0")")
		grep -q 'injection finished' "$T/ht.out" && ! grep -q 'No such process\|failed' "$T/ht.out" ||
			echo "bench: heaptrack: $(cat "$T/ht.out")" >&2
		kill "$REGS_PID"; wait "$REGS_PID" 2>/dev/null
		kill -- -"$hpid" 2>/dev/null; wait "$hpid" 2>/dev/null
	done
	hs=$(printf '%s\n' "${h[@]}" | awk '{ printf "%.2f ", $1 / 1000 }')
	printf '| %-7s | %-26s | %-26s | %-34s |\n' $((idle + 2)) \
		"$(echo "${stop[*]}" | median) / $(echo "${stop[*]}" | maxof)" \
		"$(echo "${lent[*]}" | median) / $(echo "${lent[*]}" | maxof)" \
		"$(echo "$hs" | median) / $(echo "$hs" | maxof)"
done
