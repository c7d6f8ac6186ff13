#!/bin/bash
# /heap, /allocs and /threadcreate with the preload agent, end to end: a
# target that allocates known amounts from known call sites, read through
# lighttpd by go tool pprof; exact counts at PPROF_MEMRATE=1; two readers at
# once; the target killed during reads; fork and exec under the agent; a
# long turnover of sampled blocks; a multi-threaded allocation stress run
# checked for corruption and deadlock.
. "$(dirname "$0")/lib.sh"
export HOME="$T" PPROF_TMPDIR="$T"
AGENT="$top_builddir/agent/.libs/libpprof-agent.so"
HEAPT="$top_builddir/tests/targets/heap-target"
P=/v1/sys/pprof
MiB=1048576
[ -f "$AGENT" ] || { fail "no agent at $AGENT"; exit 1; }

# with_agent RATE CMD...: runs CMD with the agent preloaded at RATE
with_agent() { local rate=$1; shift; PPROF_MEMRATE=$rate LD_PRELOAD="$AGENT" "$@"; }
# serve RATE: heap-target under the agent at RATE, read by the app behind
# lighttpd; unserve [PID...]: stops the app, lighttpd and the PIDs given
serve() {
	TARGET_BIN=$HEAPT with_agent "$1" start_target && start_app --target-pid "$TARGET_PID" \
		&& NO_TOKEN=1 start_lighttpd
}
unserve() {
	kill "$APP_PID" "$LIGHTTPD_PID" "$@" 2>/dev/null
	wait "$APP_PID" "$LIGHTTPD_PID" "$@" 2>/dev/null
	rm -f "$SOCK"
}
# held SITE [FIELD]: what heap-target says the allocator holds for SITE's
# live blocks (malloc_usable_size, summed by the target itself); FIELD 4:
# how many blocks
held() { awk -v s="$1" -v f="${2:-3}" '$1 == "held" && $2 == s { print $f }' "$T/target.out"; }
# two_sizes_sd RATE INDEX RUNS: the standard deviation of the mean of RUNS
# estimates of two_sizes_here's inuse_objects or inuse_space at RATE. A
# block of s bytes asked for is sampled with chance p = 1-exp(-s/RATE) and
# stands for 1/p blocks, so each adds (1-p)/p blocks^2 (times its held
# bytes^2 for space) to the variance.
two_sizes_sd() {
	awk -v r="$1" -v idx="$2" -v runs="$3" '
		$1 == "held" && $2 ~ /^two_sizes_here\// {
			s = substr($2, index($2, "/") + 1); n = $4; u = $3 / n
			p = 1 - exp(-s / r); x = idx == "inuse_space" ? u : 1
			var += n * x * x * (1 - p) / p
		}
		END { printf "%.0f", sqrt(var / runs) }' "$T/target.out"
}
# within_sd NAME GOT WANT SD: GOT within 4 standard deviations of WANT (3 would fail
# one run in 370 by chance alone, and this file makes several such checks)
within_sd() {
	if awk -v g="$2" -v w="$3" -v sd="$4" 'BEGIN { d = g - w; if (d < 0) d = -d; exit !(d <= 4 * sd) }'; then
		pass "$1: $2 (want $3 ±4 x $4)"
	else
		fail "$1: $2, want $3 ±4 x $4"
	fi
}


# --- default rate (512 KiB): Go's estimates within ±15%
serve 524288 || exit 1

get "$P/heap"
expect_status "heap" 200
expect_header "heap" Content-Disposition 'attachment; filename="heap"'
cp "$T/body" "$T/heap.pb.gz"
go tool pprof -top "$T/heap.pb.gz" > "$T/heap.top" 2>&1
grep -q '^Type: inuse_space' "$T/heap.top" && pass "heap: default inuse_space" || fail "heap default type"
grep -q '^File: heap-target$' "$T/heap.top" && pass "heap: main binary first" \
	|| fail "heap: main binary: $(grep '^File:' "$T/heap.top")"
within "inuse_space of leak_here" "$(value "$T/heap.pb.gz" inuse_space leak_here)" $((64 * MiB)) 15
v=$(value "$T/heap.pb.gz" inuse_space churn_here)
[ "$v" -lt $MiB ] && pass "churn_here: almost nothing in use ($v B)" || fail "churn_here in use: $v B"
get "$P/allocs"
expect_header "allocs" Content-Disposition 'attachment; filename="allocs"'
cp "$T/body" "$T/allocs.pb.gz"
go tool pprof -top "$T/allocs.pb.gz" 2>&1 | grep -q '^Type: alloc_space' && pass "allocs: default alloc_space" || fail "allocs default type"
within "alloc_space of churn_here" "$(value "$T/allocs.pb.gz" alloc_space churn_here)" $((1024 * MiB)) 15
# sample_index: the default type by name (viewers show only that one);
# the values are the same profile's; an unknown name lists the valid ones;
# ignored with debug=1, as Go ignores what does not apply
for q in heap:inuse_objects heap:inuse_space allocs:alloc_objects allocs:alloc_space; do
	get "$P/${q%%:*}?sample_index=${q#*:}&inlines=split"
	expect_status "${q%%:*}?sample_index=${q#*:}" 200
	cp "$T/body" "$T/si.pb.gz"
	go tool pprof -top "$T/si.pb.gz" 2>&1 | grep -q "^Type: ${q#*:}$" && pass "${q%%:*}?sample_index=${q#*:}: the default" ||
		fail "${q%%:*}?sample_index=${q#*:}: $(go tool pprof -top "$T/si.pb.gz" 2>&1 | grep ^Type)"
done
within "inuse_space of leak_here, sample_index=inuse_objects" \
	"$(get "$P/heap?sample_index=inuse_objects"; value "$T/body" inuse_space leak_here)" $((64 * MiB)) 15
get "$P/heap?sample_index=inuse_bytes"
expect_status "heap?sample_index=inuse_bytes" 400
expect_body "heap?sample_index=inuse_bytes" 'invalid value for "sample_index" - must be one of alloc_objects, alloc_space, inuse_objects, inuse_space'
get "$P/heap?sample_index=inuse_bytes&debug=1"
expect_status "heap?sample_index=inuse_bytes&debug=1 (ignored)" 200
get "$P/allocs?inlines=joined"
expect_status "allocs?inlines=joined" 400
expect_body "allocs?inlines=joined" 'invalid value for "inlines" - must be split'
protoc --decode=perftools.profiles.Profile --proto_path="$top_srcdir/proto" profile.proto \
	< <(gzip -dc "$T/heap.pb.gz") > "$T/heap.txt" 2>&1
grep -q 'period: 524288' "$T/heap.txt" && pass "period is the sampling rate" || fail "period: $(grep period "$T/heap.txt")"
for t in alloc_objects alloc_space inuse_objects inuse_space space; do
	grep -q "\"$t\"" "$T/heap.txt" || fail "no $t in the string table"
done

# debug=1: Go's legacy text and the native statistics
get "$P/heap?debug=1"
expect_header "heap debug=1" Content-Type "text/plain; charset=utf-8"
head -n1 "$T/body" | grep -Eq '^heap profile: [0-9]+: [0-9]+ \[[0-9]+: [0-9]+\] @ heap/1048576$' \
	&& pass "debug=1 header as Go's" || fail "debug=1 header: $(head -n1 "$T/body")"
# raw sampled counts: each 2 MiB block is sampled with probability 1-e^-4
sed -n 2p "$T/body" | grep -Eq '^(2[6-9]|3[0-2]): [0-9]+ \[(2[6-9]|3[0-2]): [0-9]+\] @( 0x[0-9a-f]+)+$' \
	&& sed -n 3p "$T/body" | grep -q leak_here \
	&& pass "debug=1: leak_here first (most in use), raw sampled counts" || fail "debug=1 lines 2-3: $(sed -n 2,3p "$T/body")"
grep -Eq $'^#\t0x[0-9a-f]+\tleak_here\\+0x[0-9a-f]+\t.*heap-target.cc:[0-9]+$' "$T/body" \
	&& pass "debug=1 frames with file:line" || fail "debug=1 frames"
grep -q '^# MemProfileRate = 524288$' "$T/body" && grep -q '^# RSS = [1-9]' "$T/body" \
	&& pass "debug=1 native statistics" || fail "debug=1 statistics: $(tail -n 16 "$T/body")"
# it ends with the memory map, so that the text saved and read later by go
# tool pprof is named from the binaries (without it: all <unknown>)
grep -Eq '^[0-9a-f]+-[0-9a-f]+ r-xp /.*/heap-target \(@[0-9a-f]+\) [0-9a-f]{40}$' "$T/body" \
	&& pass "debug=1 memory map with build-ids" || fail "debug=1 memory map: $(tail -n 5 "$T/body")"
cp "$T/body" "$T/heap1.txt"
within "leak_here from the saved debug=1 text, read by go tool pprof" \
	"$(value "$T/heap1.txt" inuse_space leak_here)" $((64 * MiB)) 15

# seconds: a delta of the window (nothing allocated meanwhile)
get "$P/heap?seconds=1"
expect_header "heap seconds=1" Content-Disposition 'attachment; filename="heap-delta"'
go tool pprof -top "$T/body" > "$T/delta.txt" 2>&1 && ! grep -q leak_here "$T/delta.txt" \
	&& pass "heap delta parses, the unchanged leak is not in it" || fail "heap delta: $(head "$T/delta.txt")"

# threadcreate: the pthread_create call stacks
get "$P/threadcreate?debug=1"
grep -A2 '^3 @' "$T/body" | grep -q 'spawn_workers' && pass "threadcreate: 3 threads from spawn_workers" \
	|| fail "threadcreate: $(head -n 20 "$T/body")"
get "$P/threadcreate"
gzip -dc "$T/body" | grep -aq 'did not see start' && pass "threadcreate: comment on the main thread" || fail "threadcreate comment"

# index: counts instead of the hint
get "$P/"
grep -q 'without the preload agent' "$T/body" && fail "index shows the no-agent hint" || pass "index: no hint with the agent"

# two readers at once, each a complete profile
readers=()
for i in 1 2 3 4; do
	curl -s -o "$T/par$i.pb.gz" "$BASE$P/heap" &
	readers+=($!)
done
wait "${readers[@]}"
ok=0
for i in 1 2 3 4; do
	[ "$(value "$T/par$i.pb.gz" inuse_objects leak_here)" -gt 0 ] && ok=$((ok + 1))
done
equal "parallel readers with leak_here" $ok 4

# the target killed while it is being read: the app stays up, says 503
( for i in $(seq 200); do curl -s -o /dev/null "$BASE$P/heap?debug=1"; done ) &
READER=$!
wait_for grep -q 'heap?debug=1' "$T/app.log"
kill -KILL "$TARGET_PID"
wait "$READER"
get "$P/heap"
expect_status "heap after the target died" 503
kill -0 "$APP_PID" 2>/dev/null && pass "app alive after the target died mid-read" || fail "app died"
unserve

# --- PPROF_MEMRATE=1: every allocation, exact counts
serve 1 || exit 1
get "$P/heap"
cp "$T/body" "$T/exact.pb.gz"
# bytes are what the allocator holds (malloc_usable_size), as the target
# sums them itself: 1000 x 100 B asked are 1000 x 104 B on glibc
equal "exact_here inuse_objects" "$(value "$T/exact.pb.gz" inuse_objects exact_here)" 1000
h100=$(($(held exact_here) / 1000)) # what a block of 100 B asked holds, for unload-host's
equal "exact_here inuse_space (held)" "$(value "$T/exact.pb.gz" inuse_space exact_here)" "$(held exact_here)"
equal "leak_here inuse_space (held)" "$(value "$T/exact.pb.gz" inuse_space leak_here)" "$(held leak_here)"
equal "memalign_here inuse_objects" "$(value "$T/exact.pb.gz" inuse_objects memalign_here)" 64
equal "memalign_here inuse_space (held)" "$(value "$T/exact.pb.gz" inuse_space memalign_here)" "$(held memalign_here)"
equal "realloc_here inuse_space (held)" "$(value "$T/exact.pb.gz" inuse_space realloc_here)" "$(held realloc_here)"
equal "realloc_here alloc_space (1 KiB..4 MiB, held)" "$(value "$T/exact.pb.gz" alloc_space realloc_here)" \
	"$(held realloc_here_allocated)"
equal "new_here() (C++ new[]) inuse_objects" "$(cum "$T/exact.pb.gz" inuse_objects 'new_here()')" 8
equal "new_here() inuse_space (held)" "$(cum "$T/exact.pb.gz" inuse_space 'new_here()')" "$(held new_here)"
equal "handoff_here inuse_space (held)" "$(value "$T/exact.pb.gz" inuse_space handoff_here)" "$(held handoff_here)"
equal "family_here (calloc, aligned_alloc, memalign, valloc, pvalloc) inuse_objects" \
	"$(value "$T/exact.pb.gz" inuse_objects family_here)" 40
equal "family_here inuse_space (held)" "$(value "$T/exact.pb.gz" inuse_space family_here)" "$(held family_here)"
# a call site of 99,001 sizes: one bucket per size class, not per size (the
# table has 65,536), and exact at rate 1
equal "spread_here alloc_objects" "$(value "$T/exact.pb.gz" alloc_objects spread_here)" 99001
equal "spread_here alloc_space (held)" "$(value "$T/exact.pb.gz" alloc_space spread_here)" \
	"$(held spread_here_allocated)"
# a realloc that fails leaves its block live, and counted
equal "realloc_fail_here inuse_space (held)" "$(value "$T/exact.pb.gz" inuse_space realloc_fail_here)" \
	"$(held realloc_fail_here)"
# one call instruction, two sizes: two buckets, each scaled by its own size
equal "two_sizes_here inuse_objects" "$(value "$T/exact.pb.gz" inuse_objects two_sizes_here)" \
	"$(held two_sizes_here 4)"
equal "two_sizes_here inuse_space (held)" "$(value "$T/exact.pb.gz" inuse_space two_sizes_here)" \
	"$(held two_sizes_here)"
get "$P/heap?debug=1"
head -n1 "$T/body" | grep -q '@ heap/2$' && pass "debug=1 at rate 1: heap/2" || fail "rate 1 header: $(head -n1 "$T/body")"
buckets=$(sed -n 's|^# Stacks = \([0-9]*\) / .*|\1|p' "$T/body")
[ "${buckets:-99999}" -lt 1000 ] && pass "buckets (stack, size class) in use: $buckets" \
	|| fail "buckets in use: $buckets (spread_here's sizes are ~110 classes)"
# each (stack, size) bucket a record of its own, as Go's: N blocks, M bytes
# held, so that M/N is the size of each
two=$(awk '/^[0-9]+: [0-9]+ \[/ { rec = $1 " " $2 } /\ttwo_sizes_here\+/ { print rec }' "$T/body" | sort -n | tr -d : | tr '\n' ' ')
equal "debug=1: two_sizes_here's two records" "$two" \
	"$(held two_sizes_here/1048576 4) $(held two_sizes_here/1048576) $(held two_sizes_here/64 4) $(held two_sizes_here/64) "
go tool pprof -raw "$T/exact.pb.gz" 2>/dev/null | grep -Eq '^ +bytes:\[(64|1048576)\]$' \
	&& pass "a bytes label on each sample, as Go's" \
	|| fail "no bytes labels: $(go tool pprof -raw "$T/exact.pb.gz" 2>&1 | sed -n '/^Samples/,/^Locations/p' | head)"
unserve

# --- two sizes at one call site, sampled: each (stack, size) bucket is
# scaled by its own size, so the estimate of the site is unbiased; within 3
# standard deviations, computed from the rate, of the truth (the held bytes
# the target counts): one run at a small rate (a tight bound), the mean of
# three at the default rate. Keyed by the stack alone, the 64 blocks of
# 1 MiB set the scale of all, and inuse_objects came out ~1000x too low.
for run in 4096/1 524288/3; do
	rate=${run%/*} runs=${run#*/} objects=0 space=0
	for _ in $(seq "$runs"); do
		serve "$rate" || exit 1
		get "$P/heap"
		cp "$T/body" "$T/two.pb.gz"
		objects=$((objects + $(value "$T/two.pb.gz" inuse_objects two_sizes_here)))
		space=$((space + $(value "$T/two.pb.gz" inuse_space two_sizes_here)))
		unserve "$TARGET_PID"
	done
	within_sd "two_sizes_here inuse_objects at rate $rate (mean of $runs)" $((objects / runs)) \
		"$(held two_sizes_here 4)" "$(two_sizes_sd "$rate" inuse_objects "$runs")"
	within_sd "two_sizes_here inuse_space at rate $rate (mean of $runs)" $((space / runs)) \
		"$(held two_sizes_here)" "$(two_sizes_sd "$rate" inuse_space "$runs")"
done

# --- sampling off (PPROF_MEMRATE=0) and a rate that is not a number: the
# target runs on unsampled, and the profile says why it is empty
for rate in 0 lots; do
	serve "$rate" || exit 1
	get "$P/heap"
	expect_status "heap at PPROF_MEMRATE=$rate" 200
	cp "$T/body" "$T/off.pb.gz"
	equal "leak_here at PPROF_MEMRATE=$rate" "$(value "$T/off.pb.gz" inuse_space leak_here)" 0
	[ "$rate" = 0 ] && want='allocation sampling is off' || want='stopped sampling: PPROF_MEMRATE is not a number'
	go tool pprof -comments "$T/off.pb.gz" 2>&1 | grep -q "$want" \
		&& pass "PPROF_MEMRATE=$rate: the profile says '$want'" \
		|| fail "PPROF_MEMRATE=$rate comments: $(go tool pprof -comments "$T/off.pb.gz" 2>&1)"
	unserve "$TARGET_PID"
done

# --- fork and exec under the agent: the child allocates, then execs
out=$(with_agent 1 timeout 60 "$HEAPT" --fork-exec 2>&1)
equal "fork and exec under the agent" "$out" "fork-exec ok"

# --- fork while other threads walk stacks: threads come and go (a new
# thread's first walks take libunwind's slow path, and its locks) while the
# main thread forks as fast as it can and each child samples, in a thread of
# its own too. Before the agent held its walks off across fork, a child hung
# on a libunwind lock within a few hundred forks, in every 10 s run.
out=$(with_agent 1 timeout 300 "$HEAPT" --fork-storm 10 2>&1)
echo "$out" | grep -Eq '^fork-storm forks [1-9][0-9]* stuck 0 failed 0$' \
	&& pass "fork while threads sample: $out" || fail "fork while threads sample: $out"

# --- the target's C++ unwinding is its own: a C program that dlopens a C++
# module, whose exceptions and pthread_exit/pthread_cancel destructors ran
# through libunwind's _Unwind_* (a crash, or skipped destructors) while the
# agent linked libunwind into the global scope
out=$(with_agent 1 timeout 60 "$top_builddir/tests/targets/cxx-host" \
	"$top_builddir/tests/targets/.libs/cxx-plugin.so" 2>&1)
equal "C++ exceptions and thread exits in a dlopened module" "$out" "cxx ok"

# --- a library unloaded, another loaded at its address: stacks are named
# when read, so frames of the first must not take the second's names; they
# are named from the first's file while it is the one that was loaded (the
# build-id the agent recorded says), and labelled for what they are when it
# has been replaced. unload-host keeps 1,000 x 100 B from unload_a_here,
# unloads it, loads unload_b_here at the same address and keeps 500 x 100 B
# (rate 1: exact, in bytes held: h100 each). Each run has plugins of its own, and a new pprof-fcgi
# (which keeps the files it opened).
unload_run() { # DIR: unload-host on the plugins in DIR
	mkdir -p "$1"
	cp "$top_builddir"/tests/targets/.libs/unload-[abc].so "$1/"
	# where b lands is the kernel's choice among randomised addresses:
	# a's place in 60 runs of 60 here, but another mapping could take
	# part of that hole; a new process draws a new layout
	local try
	for try in 1 2 3; do
		TARGET_BIN="$top_builddir/tests/targets/unload-host" with_agent 1 start_target "$1" &&
			return 0
		grep -q "did not load where" "$T/target.out" || break
		echo "# unload-b.so did not land where unload-a.so was (try $try): another layout"
	done
	cat "$T/target.out"
	return 1
}
unload_heap() { # NAME: /heap into $T/NAME.pb.gz
	start_app --target-pid "$TARGET_PID" && NO_TOKEN=1 start_lighttpd || return 1
	get "$P/heap"
	expect_status "heap after an unload ($1)" 200
	cp "$T/body" "$T/$1.pb.gz"
	equal "unload_b_here in use: its own blocks only ($1)" "$(value "$T/$1.pb.gz" inuse_space unload_b_here)" $((500 * h100))
}
# (the first by a name relative to the working directory, which the agent
# must make absolute for pprof-fcgi)
unload_run "$(realpath --relative-to=. "$T")/plugins" && unload_heap unload || exit 1
equal "the unloaded library's blocks, named from its file" \
	"$(value "$T/unload.pb.gz" inuse_space unload_a_here)" $((1000 * h100))
go tool pprof -comments "$T/unload.pb.gz" 2>&1 |
	grep -q "unload-a.so, unloaded since the allocation, are named from the file with its build-id$" \
	&& pass "the profile says where the names come from" || fail "no comment on the unloaded frames"
# unload-c.so, which a's destructor unloaded: a dlclose within a dlclose
equal "a library unloaded by another's destructor, named from its file" \
	"$(value "$T/unload.pb.gz" inuse_space unload_c_here)" $((200 * h100))
go tool pprof -raw "$T/unload.pb.gz" 2>/dev/null | grep -Eq "^ *[0-9]+: 0x8[0-9a-f]+/0x8[0-9a-f]+/0x[0-9a-f]+ /[^ ]*/plugins/unload-a.so [0-9a-f]{40} \[FN\]" \
	&& pass "the unloaded library is a mapping of its own, with its build-id" \
	|| fail "no mapping for the unloaded library: $(go tool pprof -raw "$T/unload.pb.gz" 2>&1 | grep -A4 '^Mappings')"
get "$P/heap?debug=1"
grep -Eq "^#	0x8[0-9a-f]+	unload_a_here\+0x[0-9a-f]+	.*unload-plugin.c:[0-9]+$" "$T/body" &&
	grep -Eq "^8[0-9a-f]+-8[0-9a-f]+ r-xp /[^ ]*/plugins/unload-a.so \(@0\) [0-9a-f]{40}$" "$T/body" \
	&& pass "the debug=1 text names the unloaded frames and maps their library" \
	|| fail "debug=1 text after an unload: $(grep -E 'unload|^8' "$T/body")"
equal "unloads recorded, each once" "$(grep '^# LibraryUnloads' "$T/body")" "# LibraryUnloads = 2 (0 not recorded)"
unserve "$TARGET_PID"

# the same, the file rebuilt since (another build-id at its path)
unload_run "$T/plugins2" || exit 1
cp "$T/plugins2/unload-b.so" "$T/plugins2/new.so" && mv "$T/plugins2/new.so" "$T/plugins2/unload-a.so"
unload_heap replaced || exit 1
equal "nothing named from the file now at its path" "$(value "$T/replaced.pb.gz" inuse_space unload_a_here)" 0
unloaded=$(go tool pprof -unit=B -sample_index=inuse_space -top -nodecount=1000 -nodefraction=0 \
	"$T/replaced.pb.gz" 2>/dev/null | awk '/\[unloaded library\]$/ { v = $1; sub(/B$/, "", v); print v }')
equal "the replaced library's blocks, under its own label" "$unloaded" $((1000 * h100))
go tool pprof -comments "$T/replaced.pb.gz" 2>&1 |
	grep -q "unload-a.so, unloaded since the allocation, are shown as \[unloaded library\]: .* is not the file that was loaded (another build-id" \
	&& pass "the profile says why" || fail "no comment on the replaced library: $(go tool pprof -comments "$T/replaced.pb.gz" 2>&1)"
unserve "$TARGET_PID"

# --- the bootstrap area: blocks allocated while the agent resolves the real
# allocator (through dlsym, which boot-target makes allocate, as some C
# libraries' does) are freed, reallocated and sized like any other
BOOTT="$top_builddir/tests/targets/boot-target"
for rate in 1 ""; do
	out=$(with_agent "$rate" timeout 60 "$BOOTT" 2>&1)
	equal "bootstrap blocks at rate ${rate:-default}" "$out" "boot ok 6 blocks"
done

# --- turnover: 12 million sampled blocks at changing addresses come and go
# (46 times the live table's slots), with frees of unsampled neighbours that
# look up pointers the agent does not hold. Deleted slots once piled up until
# such a lookup found no empty slot and free spun for ever: seconds, not a
# minute, is the check.
out=$(with_agent 2 timeout 60 "$HEAPT" --turnover 60 2>&1)
equal "60 rounds of 100,000 sampled blocks allocated and freed" "$out" "turnover 60 ok"

# --- stress: 4 threads, every allocation function, forks, while read; and
# once with every thread in one malloc arena, so that all of them sample
# into the same shards and wait on the same locks
for run in 1 4096 1/one-arena; do
	rate=${run%/*}
	if [ "$run" = 1/one-arena ]; then export MALLOC_ARENA_MAX=1; else unset MALLOC_ARENA_MAX; fi
	TARGET_BIN=$HEAPT with_agent $rate start_target --stress 4 5 || exit 1
	rm -f "$SOCK"
	start_app --target-pid "$TARGET_PID" || exit 1
	reads=0
	while kill -0 "$TARGET_PID" 2>/dev/null && ! grep -q '^stress' "$T/target.out"; do
		SCRIPT_NAME=$P PATH_INFO=/heap REQUEST_METHOD=GET QUERY_STRING=debug=1 \
			cgi-fcgi -bind -connect "$SOCK" > "$T/stress-read" 2>/dev/null \
			&& grep -q '^heap profile' "$T/stress-read" && reads=$((reads + 1))
	done
	# the stress run ends by itself (5 s); a deadlock shows as no exit
	for _ in $(seq 600); do kill -0 "$TARGET_PID" 2>/dev/null || break; sleep 0.1; done
	if kill -0 "$TARGET_PID" 2>/dev/null; then
		fail "stress at rate $run: no exit after 60 s (deadlock?)"
		kill -KILL "$TARGET_PID"
	fi
	wait "$TARGET_PID"; rc=$?
	line=$(grep '^stress' "$T/target.out")
	[ "$rc" = 0 ] && echo "$line" | grep -q 'errors 0$' && [ "$reads" -gt 0 ] \
		&& pass "stress at rate $run: $line, $reads heap reads meanwhile" \
		|| fail "stress at rate $run: exit $rc, '$line', $reads reads; $(tail -n 5 "$T/target.err")"
	kill "$APP_PID" 2>/dev/null; wait "$APP_PID" 2>/dev/null
done
unset MALLOC_ARENA_MAX

finish
