#!/bin/bash
# make bench (part 6): what the preload agent costs a real service.
# Debian's redis-server (C; its allocations go through jemalloc, which the
# agent forwards to as it would to glibc) is fed the same BENCH_REDIS_COMMANDS
# (1,000,000) commands over a unix socket by redis-cli --pipe: a mix of
# reads and writes over 100,000 keys (bench/redis-commands.awk). The cost
# is the server's CPU time per command (/proc/PID/schedstat) against a
# server without the agent fed at the same time, each server on a CPU of
# its own and its client on the other, swapping CPUs each round, as
# run-heap-bench.sh measures its service-like load; BENCH_REDIS_ROUNDS (31)
# rounds each: the same server against itself (the method's own noise),
# the forwarding-only preload (interposition alone), the agent with
# sampling off, and at its default rate. Then, where perf can sample, the
# share of the server's cycles spent in the allocator, which places the
# load against others (alloc-bench's service-like load: ~10%).
. "$(dirname "$0")/lib.sh"
R=${BENCH_REDIS_ROUNDS:-31}
N=${BENCH_REDIS_COMMANDS:-1000000}

for c in redis-server redis-cli taskset; do
	if ! command -v "$c" > /dev/null; then
		echo "bench: no $c (apt-get install redis-server redis-tools): the real service is left out" >&2
		exit 0
	fi
done
if [ -z "${cpu1:-}" ]; then
	echo "bench: one CPU only: the real service, measured two at a time, is left out" >&2
	exit 0
fi
awk -v N="$N" -f "$top_srcdir/bench/redis-commands.awk" > "$T/stream.resp"

# serve CONF CPU NAME: a redis-server under CONF on CPU, on $T/NAME.sock,
# with no persistence; sets srv_pid once it answers (the server's own pid,
# as it reports it: CONF's wrappers may stand between)
serve() {
	local sock=$T/$3.sock i job
	rm -f "$sock"
	under "$1" taskset -c "$2" redis-server --port 0 --unixsocket "$sock" --save '' \
		--appendonly no --logfile "$T/$3.log" > /dev/null 2>&1 &
	job=$!
	PIDS+=("$job")
	srv_pid=
	for i in $(seq 500); do
		srv_pid=$(redis-cli -s "$sock" info server 2> /dev/null | tr -d '\r' | sed -n 's/^process_id://p')
		[ -n "$srv_pid" ] && { PIDS+=("$srv_pid"); return 0; }
		kill -0 "$job" 2> /dev/null || break
		sleep 0.02
	done
	echo "bench: redis-server ($1) did not start: $(tail -n 3 "$T/$3.log" 2> /dev/null)" >&2
	return 1
}
cpu_ns() { awk '{ print $1 }' "/proc/$1/schedstat"; }
# feed NAME CPU: the command stream into NAME's server from CPU; fails
# unless every command was answered without an error
feed() {
	taskset -c "$2" redis-cli -s "$T/$1.sock" --pipe < "$T/stream.resp" > "$T/$1.pipe" 2>&1 &&
		grep -q "errors: 0, replies: $N\$" "$T/$1.pipe" ||
		{ echo "bench: redis-cli --pipe ($1): $(tail -n 2 "$T/$1.pipe")" >&2; return 1; }
}
stop() { kill "$@" 2> /dev/null; wait 2> /dev/null; }

# round CONF R: a server without the agent and one under CONF fed at
# once; prints "WITH WITHOUT", their CPU time in ns
round() {
	local conf=$1 a=$cpu0 b=$cpu1 pa pb a0 b0 fa fb ok=1
	[ $(($2 % 2)) = 0 ] && a=$cpu1 b=$cpu0
	serve none "$a" base || return 1
	pa=$srv_pid
	serve "$conf" "$b" with || { stop "$pa"; return 1; }
	pb=$srv_pid
	a0=$(cpu_ns "$pa") b0=$(cpu_ns "$pb")
	feed base "$b" & fa=$!
	feed with "$a" & fb=$!
	wait "$fa" || ok=0
	wait "$fb" || ok=0
	[ $ok = 1 ] && echo "$(($(cpu_ns "$pb") - b0)) $(($(cpu_ns "$pa") - a0))"
	stop "$pa" "$pb"
	[ $ok = 1 ]
}
# cost CONF TAG: R rounds; their cost as ratios prints it
cost() {
	local r
	for r in $(seq "$R"); do round "$1" "$r"; done > "$T/$2.rounds"
	ratios < "$T/$2.rounds"
}
aa=$(cost none aa)
fwd=$(cost fwd fwd)
off=$(cost off off)
def=$(cost def def)
per=$(awk -v n="$N" '{ print $2 / n }' "$T"/{aa,fwd,off,def}.rounds | sort -g |
	awk '{ v[NR] = $1 } END { printf "%s", NR ? sprintf("%.0f", v[int((NR + 1) / 2)]) : "failed" }')
echo
printf 'redis-server 7.0 (jemalloc), %s commands per run, CPUs %s and %s: %s ns of server CPU per command without the agent (median); at the same time against a server without the agent, medians of %s rounds (standard error): the same server against itself %s, forwarding only %s, sampling off %s, default rate %s\n' \
	"$N" "$cpu0" "$cpu1" "$per" "$R" "$aa" "$fwd" "$off" "$def"

# where the server's cycles go, without the agent
if perf record -q -o "$T/perf.probe" true > /dev/null 2>&1 && serve none "$cpu0" base; then
	perf record -q -F 999 -p "$srv_pid" -o "$T/perf.data" > /dev/null 2>&1 &
	prec=$!
	# perf has attached once it has written its header
	for i in $(seq 500); do [ -s "$T/perf.data" ] && break; sleep 0.02; done
	feed base "$cpu1"
	kill -INT "$prec"
	wait "$prec"
	stop "$srv_pid"
	perf report -i "$T/perf.data" --sort dso --stdio -q 2> /dev/null |
		awk '$2 ~ /^libjemalloc/ { a += $1 } $1 ~ /%$/ { t += $1 }
		END { if (t) printf "redis-server without the agent: %.1f%% of its cycles in the allocator (jemalloc; perf record -F 999)\n", a }'
else
	echo "bench: perf cannot sample here: the allocator's share of redis-server's cycles is left out" >&2
fi
