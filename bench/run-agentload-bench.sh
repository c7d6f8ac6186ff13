#!/bin/bash
# make bench (agent load): POST /agent into fresh targets (tests/targets/
# regs-target, one lendable thread plus 0, 99 and 999 idle ones) with the
# load probe in the agent's place, BENCH_LOAD_ROUNDS (20) loads each: how
# long the lent thread was stopped (seize to detach) and out of its own
# code (stop, calls and return), median and max, from pprof-fcgi's log;
# beside it `heaptrack --pid` (which injects through gdb, stopping every
# thread) on BENCH_HEAPTRACK_ROUNDS (3) fresh targets: its time until
# injected, which is also how long the target's threads were stopped, or
# the line gdb failed with (heaptrack says "injection finished" either way).
# Then the real agent loaded late into an allocating target: its
# throughput before and after, against a preloaded one, and the time to
# first data against heaptrack's (below).
. "$(dirname "$0")/lib.sh"
ROUNDS=${BENCH_LOAD_ROUNDS:-20}
HT_ROUNDS=${BENCH_HEAPTRACK_ROUNDS:-3}
REGS=$top_builddir/tests/targets/regs-target
PROBE=$top_builddir/tests/targets/.libs/libload-probe.so

ms() { echo $(( ($(date +%s%N) - $1) / 1000000 )); }
median() { tr ' ' '\n' | awk NF | sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }
maxof() { tr ' ' '\n' | awk NF | sort -n | tail -1; }

# heaptrack --pid: in a process group of its own (a script with gdb, an
# interpreter and a compressor under it), in $T; its output in $T/ht.out,
# and in $T/ht.tap what it compresses, through a zstd of ours on its PATH
mkdir -p "$T/bin"
printf '#!/bin/sh\ntee -a "%s" | %s "$@"\n' "$T/ht.tap" "$(command -v zstd)" > "$T/bin/zstd"
chmod +x "$T/bin/zstd"
# heaptrack_pid PID DONE...: `heaptrack -r --pid PID` (raw: its fastest,
# no interpreter) until the command DONE succeeds, gdb fails, or 60 s
# pass; sets ht_ms (from the start) and ht_fail (gdb's complaint, empty
# when DONE came), then stops heaptrack
heaptrack_pid() {
	local pid=$1 t0 hpid; shift
	: > "$T/ht.tap"
	t0=$(date +%s%N)
	(cd "$T" && PATH="$T/bin:$PATH" exec setsid heaptrack -r --pid "$pid") > "$T/ht.out" 2>&1 &
	hpid=$!
	for (( ; ; )); do
		# gdb's complaint comes before heaptrack's "injection finished"
		ht_fail=$(grep -am1 "No symbol \"heaptrack_inject\"\|Couldn't\|No such process\|failed" "$T/ht.out")
		if [ -n "$ht_fail" ]; then
			# the cause gdb gave first, if it gave one
			ht_fail=$(grep -am1 "Couldn't\|No such process\|failed" "$T/ht.out" || echo "$ht_fail")
			break
		fi
		"$@" && break
		[ "$(ms "$t0")" -gt 60000 ] && { ht_fail="no data in 60 s"; break; }
		sleep 0.01
	done
	ht_ms=$(ms "$t0")
	kill -- -"$hpid" 2>/dev/null; wait "$hpid" 2>/dev/null
}
injected() { grep -aq 'injection finished' "$T/ht.out"; }
first_alloc() { grep -qa '^+ ' "$T/ht.tap"; }
# ht_column MS_LIST...: "median / max" in seconds, or the failure
ht_column() {
	if [ -n "${ht_failed:-}" ]; then echo "failed: $ht_failed"; return; fi
	local s; s=$(printf '%s\n' "$@" | awk '{ printf "%.2f ", $1 / 1000 }')
	echo "$(echo "$s" | median) / $(echo "$s" | maxof)"
}

# start_regs IDLE: a fresh regs-target, ready; sets REGS_PID. The last
# one's output goes first: the new one truncates it only once it runs, and
# "round 1" read from it before then had the POST find a shell not yet
# exec'd (the load then answers 503; before it checked, the target died)
start_regs() {
	rm -f "$T/regs.out"
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
	h=() ht_failed=
	for r in $(seq "$HT_ROUNDS"); do
		start_regs "$idle"
		heaptrack_pid "$REGS_PID" injected
		h+=("$ht_ms")
		ht_failed=${ht_failed:-$ht_fail}
		kill "$REGS_PID"; wait "$REGS_PID" 2>/dev/null
	done
	printf '| %-7s | %-26s | %-26s | %-34s |\n' $((idle + 2)) \
		"$(echo "${stop[*]}" | median) / $(echo "${stop[*]}" | maxof)" \
		"$(echo "${lent[*]}" | median) / $(echo "${lent[*]}" | maxof)" \
		"$(ht_column "${h[@]}")"
done

# ---- the real agent, loaded late, in an allocating target
# (bench/alloc-bench: one thread replacing random blocks at full speed,
# "tick" lines every 100 ms). BENCH_LATE_ROUNDS (9) rounds: a target
# without the agent and one with it preloaded run at the same time, each on
# a CPU of its own (swapped each round); BENCH_LATE_SECONDS (2) of both,
# then POST /agent into the first (the default rate, as preloaded), then
# as long again. Ratios of throughput (operations a CPU second), the median
# over the rounds and the standard error of the mean: the preloaded agent
# against none (the same window); the late agent against none (the same
# process, the windows after and before the load); the preloaded target's
# own second window against its first (what time alone moves the second
# ratio by); the late agent against the preloaded one (the same window).
AB=$top_builddir/bench/alloc-bench
AGENT=$top_builddir/agent/.libs/libpprof-agent.so
LROUNDS=${BENCH_LATE_ROUNDS:-9}
LSECS=${BENCH_LATE_SECONDS:-2}
ticks() { grep -c '^tick' "$1"; }
# start_ab NAME CPU [PREFIX...]: alloc-bench on CPU, run by PREFIX, its
# ticks in $T/NAME.out; sets ab_pid once it ticked twice
start_ab() {
	local name=$1 cpu=$2; shift 2
	"$@" taskset -c "$cpu" "$AB" 1 600 ticks > "$T/$name.out" &
	ab_pid=$!
	PIDS+=("$ab_pid")
	while [ "$(ticks "$T/$name.out")" -lt 2 ]; do sleep 0.01; done
}
# rate NAME FROM TO: operations a CPU second between NAME's ticks FROM and
# TO (CPU time, not wall time: what other loads on the machine take from
# it is not counted against it)
rate() {
	awk -v a="$2" -v b="$3" '/^tick/ { n++; if (n == a) { c0 = $4; o0 = $3 } if (n == b) { c1 = $4; o1 = $3 } }
		END { printf "%.0f", (o1 - o0) / (c1 - c0) * 1e9 }' "$T/$1.out"
}
# window: waits for LSECS more ticks of both; sets from_n, to_n and from_p,
# to_p (tick numbers of the none/late target and the preloaded one)
window() {
	local k=$((LSECS * 10))
	from_n=$(ticks "$T/none.out") from_p=$(ticks "$T/pre.out")
	to_n=$((from_n + k)) to_p=$((from_p + k))
	while [ "$(ticks "$T/none.out")" -lt "$to_n" ] || [ "$(ticks "$T/pre.out")" -lt "$to_p" ]; do sleep 0.05; done
}
# post_agent: POST /agent, again after a 503 (no thread could lend itself:
# "retry later"; retry=1, or the failure remembered is the answer), 5
# times at most
post_agent() {
	local i q=
	for i in 1 2 3 4 5; do
		SCRIPT_NAME=/v1/sys/pprof PATH_INFO=/agent REQUEST_METHOD=POST CONTENT_LENGTH=0 QUERY_STRING=$q \
			cgi-fcgi -bind -connect "$T/app.sock" < /dev/null > "$T/answer.txt"
		q=retry=1
		grep -q '^Status: 503' "$T/answer.txt" || break
		echo "bench: POST /agent, try $i: $(tail -n 1 "$T/answer.txt")" >&2
	done
	grep -q 'agent loaded into pid' "$T/answer.txt" || echo "bench: $(tail -n 1 "$T/answer.txt")" >&2
}
: > "$T/pre_none" ; : > "$T/late_none" ; : > "$T/pre_drift" ; : > "$T/late_pre"
for r in $(seq "$LROUNDS"); do
	a=$cpu0 b=${cpu1:-$cpu0}
	[ $((r % 2)) = 0 ] && a=${cpu1:-$cpu0} b=$cpu0
	start_ab none "$a"
	none=$ab_pid
	echo "$none" > "$T/ab.pid"
	start_ab pre "$b" env LD_PRELOAD="$AGENT"
	pre=$ab_pid
	[ "$r" = 1 ] && start_app --target-pidfile "$T/ab.pid"
	window
	n1=$(rate none "$from_n" "$to_n") p1=$(rate pre "$from_p" "$to_p")
	post_agent
	window
	n2=$(rate none "$from_n" "$to_n") p2=$(rate pre "$from_p" "$to_p")
	echo "$p1 $n1" >> "$T/pre_none"
	echo "$n2 $n1" >> "$T/late_none"
	echo "$p2 $p1" >> "$T/pre_drift"
	echo "$n2 $p2" >> "$T/late_pre"
	kill "$none" "$pre"; wait "$none" "$pre" 2>/dev/null
done
kill "$APP_PID"; wait "$APP_PID" 2>/dev/null
echo
echo "alloc-bench, 1 thread, throughput ($LROUNDS rounds of ${LSECS} s + ${LSECS} s; median, ± standard error):"
printf '| %-28s | %-32s | %-30s | %-30s |\n' "preloaded vs none" "after POST /agent vs before it" "preloaded, 2nd vs 1st window" "after POST /agent vs preloaded"
printf '|%s|%s|%s|%s|\n' ------------------------------ ---------------------------------- -------------------------------- --------------------------------
printf '| %-28s | %-32s | %-30s | %-30s |\n' "$(ratios < "$T/pre_none")" "$(ratios < "$T/late_none")" \
	"$(ratios < "$T/pre_drift")" "$(ratios < "$T/late_pre")"

# ---- time to first data, BENCH_HEAPTRACK_ROUNDS (3) fresh alloc-bench
# targets each: POST /agent until the first /heap answer holding samples;
# `heaptrack -r --pid` until the first allocation record ("+" line) reaches
# its compressor
# sampled: /heap's debug=1 header counts a block in use
sampled() {
	local n
	n=$(SCRIPT_NAME=/v1/sys/pprof PATH_INFO=/heap REQUEST_METHOD=GET QUERY_STRING=debug=1 \
		cgi-fcgi -bind -connect "$T/app.sock" < /dev/null |
		sed -n 's/^heap profile: \([0-9]*\): .*/\1/p')
	[ "${n:-0}" -gt 0 ]
}
pf=() ht=() ht_failed=
for r in $(seq "$HT_ROUNDS"); do
	start_ab none "$cpu0"
	echo "$ab_pid" > "$T/ab.pid"
	start_app --target-pidfile "$T/ab.pid"
	t0=$(date +%s%N)
	post_agent
	until sampled || [ "$(ms "$t0")" -gt 60000 ]; do sleep 0.01; done
	sampled && pf+=("$(ms "$t0")") || echo "bench: no samples in /heap 60 s after POST /agent" >&2
	kill "$APP_PID" "$ab_pid"; wait "$APP_PID" "$ab_pid" 2>/dev/null

	start_ab none "$cpu0"
	heaptrack_pid "$ab_pid" first_alloc
	ht+=("$ht_ms")
	ht_failed=${ht_failed:-$ht_fail}
	kill "$ab_pid"; wait "$ab_pid" 2>/dev/null
done
echo
echo "time to first data, alloc-bench ($HT_ROUNDS fresh targets each; median / max, ms for pprof-fcgi, s for heaptrack):"
printf '| %-36s | %-44s |\n' "POST /agent until /heap has samples" "heaptrack -r --pid until its first allocation"
printf '|%s|%s|\n' -------------------------------------- ----------------------------------------------
printf '| %-36s | %-44s |\n' "$(echo "${pf[*]}" | median) / $(echo "${pf[*]}" | maxof)" \
	"$(ht_column "${ht[@]}")"
