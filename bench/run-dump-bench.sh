#!/bin/bash
# make bench (part 2): a full thread dump of the demo target with 10, 100 and
# 1,000 extra idle threads: pprof-fcgi goroutine?debug=2 (over FastCGI
# directly, no web server), eu-stack -p PID and gdb "thread apply all bt",
# median wall time of BENCH_DUMP_ROUNDS (3) runs each, and the longest time
# pprof-fcgi held any one thread stopped.
. "$(dirname "$0")/lib.sh"
ROUNDS=${BENCH_DUMP_ROUNDS:-3}

ms() { echo $(( ($(date +%s%N) - $1) / 1000000 )); }
median() { tr ' ' '\n' | sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }

printf '| %-8s | %-30s | %-12s | %-16s | %-24s |\n' threads "pprof-fcgi goroutine?debug=2" "eu-stack -p" "gdb thread apply all bt" "longest stop (pprof-fcgi)"
printf '|%s|%s|%s|%s|%s|\n' ---------- -------------------------------- -------------- ------------------ --------------------------
for extra in 10 100 1000; do
	start_demo --idle-threads "$extra"
	start_app --target-pid "$DEMO_PID"
	dpid=$DEMO_PID
	apid=$APP_PID
	n=$(ls "/proc/$dpid/task" | wc -l)
	p=() e=() g=()
	for r in $(seq "$ROUNDS"); do
		t0=$(date +%s%N)
		request goroutine debug=2 "$T/dump.txt"
		p+=("$(ms "$t0")")
		got=$(grep -c '^thread ' "$T/dump.txt")
		[ "$got" = "$n" ] || echo "bench: pprof-fcgi listed $got of $n threads" >&2
		t0=$(date +%s%N)
		eu-stack -p "$dpid" > "$T/eu.txt" 2>&1
		e+=("$(ms "$t0")")
		t0=$(date +%s%N)
		timeout 300 gdb -batch -p "$dpid" -ex "thread apply all bt" > "$T/gdb.txt" 2>&1
		g+=("$(ms "$t0")")
	done
	# the app logs each dump's longest stop
	held=$(grep -o 'longest held [0-9.]* us' "$T/app.log" | sed 's/longest held //' | sort -n | tail -n1)
	printf '| %-8s | %27s ms | %9s ms | %13s ms | %-24s |\n' "$n" "$(echo "${p[*]}" | median)" \
		"$(echo "${e[*]}" | median)" "$(echo "${g[*]}" | median)" "${held:-?}"
	kill "$apid" "$dpid"
	wait "$apid" "$dpid" 2>/dev/null
done
