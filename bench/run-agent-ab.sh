#!/bin/bash
# The agent against another build of it (before and after a change), on
# bench/alloc-bench, in CPU time per operation (user + system seconds over
# the operations done), not wall time: on a shared host with a load
# average of 20, wall time per operation varied tenfold between rounds
# while CPU time per operation stayed within a few percent. Not part of
# make bench: it needs the other build.
#
#   BENCH_OTHER_AGENT=/path/to/old/libpprof-agent.so bench/run-agent-ab.sh
#
# Without any preload (none), the forwarding-only preload (fwd), the other
# agent (old) and this tree's (new), each at its default rate, rotated in
# order from round to round and paired by round, BENCH_ROUNDS (31) rounds of
# BENCH_SECONDS (1) per load: malloc(64)+free pairs on 1 thread (the
# unsampled path), and the bare loop and the service-like load on 1 and 2
# threads; then old and new run at the same time, one on each CPU, swapped
# every round (service-like), and old against old as the control.
. "$(dirname "$0")/lib.sh"
B=$top_builddir/bench/alloc-bench
OLD=${BENCH_OTHER_AGENT:?set BENCH_OTHER_AGENT to the other agent build (libpprof-agent.so)}
S=${BENCH_SECONDS:-1}
R=${BENCH_ROUNDS:-31}
LOADS=("pair 1 pair" "mix1 1" "mix2 2" "svc1 1 service" "svc2 2 service")

# one CONF OUT CMD...: CMD under CONF; OUT gets its output, OUT.t its CPU
# seconds
one() {
	local conf=$1 out=$2 TIMEFORMAT='%3U %3S'; shift 2
	case $conf in
	old) { time LD_PRELOAD=$OLD "$@" > "$out"; } 2> "$out.t" ;;
	new) { time LD_PRELOAD=$AGENT "$@" > "$out"; } 2> "$out.t" ;;
	*) { time under "$conf" "$@" > "$out"; } 2> "$out.t" ;;
	esac
}
# cpu OUT: CPU ns per operation of one run
cpu() {
	awk -v ops="$(sed -n 's/^ops \([0-9]*\).*/\1/p' "$1")" \
		'ops > 0 { printf "%.3f\n", ($1 + $2) * 1e9 / ops }' "$1.t"
}
# stats: numbers in; out their median and interquartile range
stats() {
	sort -g | awk '{ v[NR] = $1 } END { if (!NR) { printf "failed"; exit }
		printf "%.2f (IQR %.2f..%.2f)", v[int((NR + 1) / 2)], v[int(NR / 4) + 1], v[int(3 * NR / 4)] }'
}
# paired TAG A B [pct]: per round, A's CPU ns/op minus B's (or A / B - 1 in %)
paired() {
	local r
	for r in $(seq "$R"); do echo "$(cpu "$T/$1.$2.$r") $(cpu "$T/$1.$3.$r")"; done |
		awk -v pct="${4:-}" 'NF == 2 && $2 > 0 { print pct ? ($1 / $2 - 1) * 100 : $1 - $2 }' | stats
}

confs=(none fwd old new)
for r in $(seq "$R"); do
	for k in 0 1 2 3; do
		c=${confs[$(((k + r) % 4))]}
		for l in "${LOADS[@]}"; do
			set -- $l
			one "$c" "$T/$1.$c.$r" "$B" "$2" "$S" ${3:-}
		done
	done
	if [ -n "${cpu1:-}" ]; then
		if [ $((r % 2)) = 0 ]; then a=$cpu0 b=$cpu1; else a=$cpu1 b=$cpu0; fi
		one new "$T/tg.new.$r" taskset -c "$a" "$B" 1 "$S" service &
		one old "$T/tg.old.$r" taskset -c "$b" "$B" 1 "$S" service
		wait
		one old "$T/tc.a.$r" taskset -c "$a" "$B" 1 "$S" service &
		one old "$T/tc.b.$r" taskset -c "$b" "$B" 1 "$S" service
		wait
	fi
done

echo "CPU ns per operation, medians of $R rounds (interquartile range); costs paired by round"
printf '| %-30s | %-22s | %-22s | %-22s | %-22s | %-22s | %-22s |\n' load none fwd old new \
	"new - fwd (ns)" "new / old - 1 (%)"
printf '|%s|%s|%s|%s|%s|%s|%s|\n' -------------------------------- ------------------------ \
	------------------------ ------------------------ ------------------------ \
	------------------------ ------------------------
for l in "${LOADS[@]}"; do
	set -- $l
	row=()
	for c in "${confs[@]}"; do
		row+=("$(for r in $(seq "$R"); do cpu "$T/$1.$c.$r"; done | stats)")
	done
	printf '| %-30s | %-22s | %-22s | %-22s | %-22s | %-22s | %-22s |\n' \
		"alloc-bench $2 $S ${3:-mix}" "${row[@]}" "$(paired "$1" new fwd)" "$(paired "$1" new old pct)"
done
echo "unsampled path above forwarding only, per allocator call (a pair is 2 calls):" \
	"old $(paired pair old fwd | awk '{ printf "%.2f", $1 / 2 }') ns," \
	"new $(paired pair new fwd | awk '{ printf "%.2f", $1 / 2 }') ns (goal: at most 0.5 ns)"
if [ -n "${cpu1:-}" ]; then
	echo "at the same time on CPUs $cpu0 and $cpu1, service-like, 1 thread each: new / old - 1 =" \
		"$(paired tg new old pct) %; old against old (control) $(paired tc a b pct) %"
fi
