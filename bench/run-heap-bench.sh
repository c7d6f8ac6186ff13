#!/bin/bash
# make bench (part 5): what the preload agent costs an allocation-heavy
# target. bench/alloc-bench (2 threads replacing random blocks of
# 16 B..64 KiB), twice: each new block filled ("use": malloc and free are
# ~40% of the time), then the bare loop (malloc and free alone, only a
# block's first byte written). Each without the agent, with a preload
# library that only forwards malloc and free to glibc
# (bench/forward-preload.c: what interposition alone costs, the floor for
# any preload agent), with sampling off (PPROF_MEMRATE=0: the wrappers
# alone) and at the default rate (512 KiB), interleaved for BENCH_ROUNDS
# rounds of BENCH_SECONDS each, reported as medians and costed by round
# against the run without the agent of the same round (the figures of one
# run drift by several percent on a VM: a single run per configuration
# cannot tell 2% from noise); then once each: every allocation
# (PPROF_MEMRATE=1), gperftools' heap profiler (tcmalloc, HEAPPROFILE) and
# heaptrack, whose slowdowns place the load against others'. Then a
# service-like load the same way (each step does ~200 ns of other work:
# malloc and free are ~10% of the time), and again with one thread
# without the agent and one with it running at the same time (finer:
# see together); the unsampled path alone: one
# thread, malloc(64)+free pairs; and what the agent adds to dlclose
# (bench/dlclose-bench.c).
. "$(dirname "$0")/lib.sh"
B=$top_builddir/bench/alloc-bench
DLB=$top_builddir/bench/dlclose-bench
DLTINY=$top_builddir/bench/.libs/dl-tiny.so
S=${BENCH_SECONDS:-2}
R=${BENCH_ROUNDS:-21}
TCMALLOC=$(ls /usr/lib/*/libtcmalloc.so.4 2>/dev/null | head -n1)

nsop() { sed -n 's/.* ns_per_op \([0-9.]*\)$/\1/p' "$1"; }
# median FILE...: the median ns/op of several runs, and their range
median() {
	local f
	for f in "$@"; do nsop "$f"; done | sort -n |
		awk '{ v[NR] = $1 } END { if (NR) printf "%s %s %s", v[int((NR + 1) / 2)], v[1], v[NR] }'
}

run() { # NAME OUTFILE CMD...
	local name=$1 out=$2; shift 2
	"$@" > "$out" 2> "$out.err" || { echo "bench: $name failed: $(tail -n 3 "$out.err")" >&2; return 1; }
}

# rounds TAG THREADS [MODE]: none, forwarding only, off and default
# interleaved R times
rounds() {
	local tag=$1 n=$2 mode=${3:-} r c
	for r in $(seq "$R"); do
		for c in none fwd off def; do
			under "$c" run "$tag $c" "$T/$tag.$c.$r" "$B" "$n" "$S" $mode
		done
	done
}

# paired TAG CONF [ns]: over the rounds, the median of CONF's ns/op against
# the run without the agent of the same round, in percent (or in ns): the
# VM's drift from round to round cancels out. "nan" when no round of both
# ran (run has said why), so that the table still prints.
paired() {
	local r
	for r in $(seq "$R"); do
		echo "$(nsop "$T/$1.$2.$r") $(nsop "$T/$1.none.$r")"
	done | awk -v ns="${3:-}" 'NF == 2 && $2 > 0 { print ns ? $1 - $2 : ($1 / $2 - 1) * 100 }' |
		sort -g | awk '{ v[NR] = $1 } END { printf "%s", NR ? v[int((NR + 1) / 2)] : "nan" }'
}
# row NAME NS [LO HI [COST]]: one line of the table; COST in percent, else
# against the median without the agent ($base)
row() {
	case ${2:-} in '' | nan) printf '| %-46s | %-22s | %8s |\n' "$1" "failed" ""; return ;; esac
	local range="" cost=${5:-}
	[ -n "${3:-}" ] && range=" ($3-$4)"
	[ -n "$cost" ] || cost=$(echo "($2 - $base) * 100 / $base" | bc -l)
	# a slowdown of several times as a factor, as "x6.3"
	if [ "$(echo "$cost >= 100" | bc -l)" = 1 ]; then
		printf '| %-46s | %-22s | %8s |\n' "$1" "$2$range" "x$(printf '%.1f' "$(echo "1 + $cost / 100" | bc -l)")"
	else
		printf '| %-46s | %-22s | %+7.1f%% |\n' "$1" "$2$range" "$cost"
	fi
}
# table TAG TITLE [MODE]: the allocation-heavy table, 2 threads: the
# interleaved rounds, then every allocation sampled and the two reference
# profilers once each
table() {
	local tag=$1 title=$2 mode=${3:-}
	rounds "$tag" 2 $mode
	read -r base base_lo base_hi <<< "$(median "$T"/"$tag".none.*)"
	echo
	printf '| %-46s | %-22s | %8s |\n' "$title" "ns/op, median (range)" "cost"
	printf '|%s|%s|%s|\n' ------------------------------------------------ ------------------------ ----------
	row "glibc malloc, no agent ($R x ${S} s)" $base $base_lo $base_hi
	row "forwarding-only preload (interposition alone)" $(median "$T"/"$tag".fwd.*) "$(paired "$tag" fwd)"
	row "libpprof-agent, sampling off ($R x ${S} s)" $(median "$T"/"$tag".off.*) "$(paired "$tag" off)"
	row "libpprof-agent, default rate 512 KiB ($R x ${S} s)" $(median "$T"/"$tag".def.*) "$(paired "$tag" def)"
	PPROF_MEMRATE=1 LD_PRELOAD=$AGENT run "agent rate 1" "$T/$tag.all" "$B" 2 "$S" $mode
	row "libpprof-agent, every allocation (rate 1)" "$(nsop "$T/$tag.all")"
	if [ -n "$TCMALLOC" ]; then
		LD_PRELOAD=$TCMALLOC run "tcmalloc" "$T/$tag.tc" "$B" 2 "$S" $mode
		row "tcmalloc alone (gperftools, reference)" "$(nsop "$T/$tag.tc")"
		HEAPPROFILE=$T/gperf LD_PRELOAD=$TCMALLOC run "gperftools" "$T/$tag.gp" "$B" 2 "$S" $mode
		row "gperftools HEAPPROFILE (tcmalloc + profiler)" "$(nsop "$T/$tag.gp")"
	else
		echo "bench: no libtcmalloc.so.4 (apt-get install libgoogle-perftools4): gperftools row left out" >&2
	fi
	if command -v heaptrack >/dev/null; then
		run "heaptrack" "$T/$tag.ht" heaptrack -o "$T/$tag.ht.data" "$B" 2 "$S" $mode
		grep '^ops' "$T/$tag.ht" > "$T/$tag.ht.ops"
		row "heaptrack (every allocation)" "$(nsop "$T/$tag.ht.ops")"
	else
		echo "bench: no heaptrack (apt-get install heaptrack): row left out" >&2
	fi
}
echo "cost: of the interleaved rows, the median of each round against the same round without the agent"
table use "allocation-heavy, blocks filled, 2 threads" use
table mix "malloc and free alone, 2 threads"

# a service that allocates a lot but does something with it
echo
rounds svc 2 service
read -r sbase slo shi <<< "$(median "$T"/svc.none.*)"
read -r sfwd _ <<< "$(median "$T"/svc.fwd.*)"
read -r soff _ <<< "$(median "$T"/svc.off.*)"
read -r sdef _ <<< "$(median "$T"/svc.def.*)"
printf 'service-like (malloc+free ~10%% of the time), 2 threads, medians of %s: %s ns/op without the agent (%s-%s), %s forwarding only (%+.1f%%), %s sampling off (%+.1f%%), %s at the default rate (%+.1f%%; costs paired by round)\n' \
	"$R" "${sbase:-failed}" "$slo" "$shi" "${sfwd:-failed}" "$(paired svc fwd)" \
	"${soff:-failed}" "$(paired svc off)" "${sdef:-failed}" "$(paired svc def)"

# The same load measured more finely: one thread without the agent and
# one with it run at the same time, each on a CPU of its own, swapping
# CPUs each round, so that what the host does to one (its clock, its
# neighbours) it does to both. For a compute-bound load this cancels what
# running one after the other cannot: identical programs measured so
# differ by ~0.1%, against ~0.9% in sequence. (Loads that mostly move
# memory share its bandwidth and disturb each other: not used for those.)
# together CONF TAG: R rounds; prints their cost as ratios does
together() {
	local conf=$1 tag=$2 r a b
	for r in $(seq "$R"); do
		if [ $((r % 2)) = 0 ]; then a=$cpu0 b=$cpu1; else a=$cpu1 b=$cpu0; fi
		run "$tag none" "$T/tg.$tag.none.$r" taskset -c "$a" "$B" 1 "$S" service &
		under "$conf" run "$tag $conf" "$T/tg.$tag.x.$r" taskset -c "$b" "$B" 1 "$S" service
		wait
	done
	for r in $(seq "$R"); do
		echo "$(nsop "$T/tg.$tag.x.$r") $(nsop "$T/tg.$tag.none.$r")"
	done | ratios
}
if [ -n "${cpu1:-}" ]; then
	printf 'service-like, 1 thread each, without and with the agent at the same time on CPUs %s and %s (swapped each round), medians of %s rounds (standard error): the same program against itself %s, forwarding only %s, sampling off %s, default rate %s\n' \
		"$cpu0" "$cpu1" "$R" "$(together none aa)" "$(together fwd fwd)" "$(together off off)" "$(together def def)"
else
	echo "bench: one CPU only: the service-like load measured two at a time is left out" >&2
fi

# the unsampled path alone, and one sample's cost
echo
rounds pair 1 pair
PPROF_MEMRATE=1 LD_PRELOAD=$AGENT run "pair all" "$T/p3" "$B" 1 "$S" pair
read -r a _ <<< "$(median "$T"/pair.none.*)"
read -r f _ <<< "$(median "$T"/pair.fwd.*)"
read -r b _ <<< "$(median "$T"/pair.off.*)"
read -r c _ <<< "$(median "$T"/pair.def.*)"
d=$(nsop "$T/p3")
per=nan # a run that failed has said so: no figure made of nothing
[ -n "$d" ] && [ -n "$a" ] && per=$(echo "$d - $a" | bc -l)
printf 'malloc(64)+free, 1 thread, medians of %s: %s ns without the agent, %s ns forwarding only, %s ns sampling off, %s ns at the default rate: %+.2f ns per pair unsampled (paired by round)\n' \
	"$R" "${a:-failed}" "${f:-failed}" "${b:-failed}" "${c:-failed}" "$(paired pair def ns)"
printf 'every pair sampled (rate 1): %s ns: %.0f ns per sample (stack capture, table update, free lookup)\n' \
	"${d:-failed}" "$per"

# dlclose, which the agent wraps to record unloads: a pair that only moves
# a reference count, and one that loads and unloads a small library;
# medians of 5 runs each, interleaved
echo
for r in 1 2 3 4 5; do
	run "dlclose, no agent" "$T/dl.none.$r" "$DLB" "$DLTINY"
	LD_PRELOAD=$AGENT run "dlclose, agent" "$T/dl.agent.$r" "$DLB" "$DLTINY"
done
dl() { # CONF FIELD: the median of FIELD over CONF's runs
	local f
	for f in "$T"/dl."$1".*; do sed -n "s/.*$2 \([0-9]*\).*/\1/p" "$f"; done | sort -n |
		awk '{ v[NR] = $1 } END { printf "%s", NR ? v[int((NR + 1) / 2)] : "failed" }'
}
printf 'dlopen+dlclose, medians of 5: %s ns without the agent, %s ns with it when dlclose only drops a reference; %s ns and %s ns when it unloads a small library\n' \
	"$(dl none ref_ns)" "$(dl agent ref_ns)" "$(dl none unload_ns)" "$(dl agent unload_ns)"
