#!/bin/bash
# make bench (part 5): what the preload agent costs an allocation-heavy
# target. bench/alloc-bench (2 threads replacing random blocks of
# 16 B..64 KiB, BENCH_SECONDS each) without the agent, with it at the
# default rate (512 KiB), at PPROF_MEMRATE=1 (every allocation) and with
# sampling off (PPROF_MEMRATE=0: the wrappers alone); then the same under
# gperftools' heap profiler (tcmalloc, HEAPPROFILE) and heaptrack. Also the
# unsampled path alone: one thread, malloc(64)+free pairs.
. "$(dirname "$0")/lib.sh"
AGENT=$top_builddir/agent/.libs/libpprof-agent.so
B=$top_builddir/bench/alloc-bench
S=${BENCH_SECONDS:-10}
TCMALLOC=$(ls /usr/lib/*/libtcmalloc.so.4 2>/dev/null | head -n1)

ops() { sed -n 's/^ops \([0-9]*\) .*/\1/p' "$1"; }
nsop() { sed -n 's/.* ns_per_op \([0-9.]*\)$/\1/p' "$1"; }

run() { # NAME OUTFILE CMD...
	local name=$1 out=$2; shift 2
	"$@" > "$out" 2> "$out.err" || { echo "bench: $name failed: $(tail -n 3 "$out.err")" >&2; return 1; }
}

run "no agent" "$T/base" "$B" 2 "$S"
base=$(ops "$T/base")
row() { # NAME FILE
	local o; o=$(ops "$2")
	[ -n "$o" ] || { printf '| %-44s | %14s | %9s | %8s |\n' "$1" "failed" "" ""; return; }
	printf '| %-44s | %14s | %9s | %+7.1f%% |\n' "$1" "$o" "$(nsop "$2")" \
		"$(echo "($o - $base) * 100 / $base" | bc -l)"
}
printf '| %-44s | %14s | %9s | %8s |\n' "allocation-heavy, 2 threads, ${S} s" "ops" "ns/op" "vs none"
printf '|%s|%s|%s|%s|\n' ---------------------------------------------- ---------------- ----------- ----------
row "glibc malloc, no agent" "$T/base"
PPROF_MEMRATE=0 LD_PRELOAD=$AGENT run "agent off" "$T/off" "$B" 2 "$S"
row "libpprof-agent, sampling off (PPROF_MEMRATE=0)" "$T/off"
LD_PRELOAD=$AGENT run "agent default" "$T/def" "$B" 2 "$S"
row "libpprof-agent, default rate (512 KiB)" "$T/def"
PPROF_MEMRATE=1 LD_PRELOAD=$AGENT run "agent rate 1" "$T/all" "$B" 2 "$S"
row "libpprof-agent, every allocation (rate 1)" "$T/all"
if [ -n "$TCMALLOC" ]; then
	LD_PRELOAD=$TCMALLOC run "tcmalloc" "$T/tc" "$B" 2 "$S"
	row "tcmalloc alone (gperftools, reference)" "$T/tc"
	HEAPPROFILE=$T/gperf LD_PRELOAD=$TCMALLOC run "gperftools" "$T/gp" "$B" 2 "$S"
	row "gperftools HEAPPROFILE (tcmalloc + profiler)" "$T/gp"
else
	echo "bench: no libtcmalloc.so.4 (apt-get install libgoogle-perftools4): gperftools row left out" >&2
fi
if command -v heaptrack >/dev/null; then
	run "heaptrack" "$T/ht" heaptrack -o "$T/ht.data" "$B" 2 "$S"
	grep '^ops' "$T/ht" > "$T/ht.ops"
	row "heaptrack (every allocation)" "$T/ht.ops"
else
	echo "bench: no heaptrack (apt-get install heaptrack): row left out" >&2
fi

# the unsampled path alone, and one sample's cost
echo
run "pair none" "$T/p0" "$B" 1 "$S" pair
PPROF_MEMRATE=0 LD_PRELOAD=$AGENT run "pair off" "$T/p1" "$B" 1 "$S" pair
LD_PRELOAD=$AGENT run "pair default" "$T/p2" "$B" 1 "$S" pair
PPROF_MEMRATE=1 LD_PRELOAD=$AGENT run "pair all" "$T/p3" "$B" 1 "$S" pair
a=$(nsop "$T/p0") b=$(nsop "$T/p1") c=$(nsop "$T/p2") d=$(nsop "$T/p3")
printf 'malloc(64)+free, 1 thread: %s ns without the agent, %s ns sampling off, %s ns at the default rate: +%.2f ns per pair unsampled\n' \
	"$a" "$b" "$c" "$(echo "$c - $a" | bc -l)"
printf 'every pair sampled (rate 1): %s ns: %.0f ns per sample (stack capture, table update, free lookup)\n' \
	"$d" "$(echo "$d - $a" | bc -l)"
