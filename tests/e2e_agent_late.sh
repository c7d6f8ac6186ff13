#!/bin/bash
# The heap agent loaded into a running process (late-target does what
# pprof-fcgi's loader does: a memfd copy of the agent, dlopen, then
# pprof_agent_attach) while 8 threads allocate at full speed: /heap through
# lighttpd shows what was allocated since, exactly at rate 1 and within
# sampling noise at a small rate; blocks from before the load are freed and
# reallocated without error or count; a library dlopened after the load is
# counted; a lazily bound build whose first malloc comes after the load too;
# a second attach, and a second copy of the agent, change nothing.
. "$(dirname "$0")/lib.sh"
export HOME="$T" PPROF_TMPDIR="$T"
AGENT="$top_builddir/agent/.libs/libpprof-agent.so"
LATE="$top_builddir/tests/targets/late-target"
PLUGIN="$top_builddir/tests/targets/.libs/late-plugin.so"
P=/v1/sys/pprof
[ -f "$AGENT" ] || { fail "no agent at $AGENT"; exit 1; }

# --- rate 1: every allocation since the load, exactly
# the agent from a memfd, as the loader puts it there: routed, counting
late "$LATE" "$AGENT" || exit 1
say "attach 1" "attach "
equal "attach from a memfd" "$(grep '^attach ' "$T/target.out")" "attach 0 "
say "copy 1" "copy "
equal "a second copy of the agent is a no-op" "$(grep '^copy ' "$T/target.out")" "copy 0"
say pause paused
say resume resumed
alive "memfd"
unserve

late "$LATE" "$AGENT" || exit 1
serve || exit 1
get "$P/heap"
expect_status "heap before the load" 200
say "attach 1" "attach "
equal "attach" "$(grep '^attach ' "$T/target.out")" "attach 0 "
say "again 1" "again "
equal "a second attach is a no-op" "$(grep '^again ' "$T/target.out")" "again 0"
say old "held old_realloc_here"
grep -q '^old ok$' "$T/target.out" && pass "malloc_usable_size of blocks from before the load" \
	|| fail "old blocks: $(grep '^old' "$T/target.out")"
say "plugin $PLUGIN" "held late_plugin_here"
exact_heap "8 threads, rate 1"
equal "late_plugin_here (dlopened after the load) inuse_space" "$(value "$T/heap.pb.gz" inuse_space late_plugin_here)" "$(held late_plugin_here)"
equal "old_realloc_here (realloc of blocks from before) inuse_space" "$(value "$T/heap.pb.gz" inuse_space old_realloc_here)" "$(held old_realloc_here)"
get "$P/allocs"
cp "$T/body" "$T/allocs.pb.gz"
equal "old_here (before the load) is not counted" "$(value "$T/allocs.pb.gz" alloc_objects old_here)" 0
gzip -dc "$T/heap.pb.gz" | grep -aq 'allocations since [0-9T:Z-]* only (agent loaded into the running process)' \
	&& pass "heap comment: since the load" || fail "heap comment: no 'since'"
say resume resumed
alive "rate 1"
for s in /proc/"$TARGET_PID"/task/*/status; do
	grep -q '^TracerPid:[[:space:]]*0$' "$s" || fail "traced: $s"
done
unserve

# --- a small rate: within 4 standard deviations (3 fails one run in 370 by chance)
late "$LATE" "$AGENT" || exit 1
serve || exit 1
say "attach 4096" "attach "
equal "attach at 4096" "$(grep '^attach ' "$T/target.out")" "attach 0 "
say pause paused
get "$P/heap"
cp "$T/body" "$T/heap.pb.gz"
got=$(value "$T/heap.pb.gz" inuse_space late_alloc_here)
want=$(held late_alloc_here)
sd=$(held late_alloc_here 5)
if awk -v g="$got" -v w="$want" -v sd="$sd" 'BEGIN { d = g - w; if (d < 0) d = -d; exit !(d <= 4 * sd && g > 0) }'; then
	pass "late_alloc_here inuse_space at 4096: $got (want $want ±4 x $sd)"
else
	fail "late_alloc_here inuse_space at 4096: $got, want $want ±4 x $sd"
fi
say resume resumed
alive "rate 4096"
unserve

# --- a lazily bound build: its first malloc after the load
readelf -d "$LATE-lazy" | grep -q BIND_NOW && fail "late-target-lazy is bound at start"
late "$LATE-lazy" "$AGENT" --lazy || exit 1
serve || exit 1
say "attach 1" "attach "
equal "attach (lazy)" "$(grep '^attach ' "$T/target.out")" "attach 0 "
say start started
say pause paused
get "$P/heap"
cp "$T/body" "$T/heap.pb.gz"
equal "late_alloc_here inuse_space (lazy binding)" "$(value "$T/heap.pb.gz" inuse_space late_alloc_here)" "$(held late_alloc_here)"
say resume resumed
alive "lazy"
unserve

# --- the real loader: POST /agent into the running program (its lender
# thread waits on a condition variable; the 8 workers never stop)
late "$LATE" "$AGENT" || exit 1
start_app --target-pid "$TARGET_PID" --agent-rate 1 && NO_TOKEN=1 start_lighttpd || exit 1
get "$P/agent" -d ''
expect_status "POST /agent" 200
expect_body_has "POST /agent" "agent loaded into pid $TARGET_PID at "
say "loaded 1" loaded
for s in /proc/"$TARGET_PID"/task/*/status; do
	grep -q '^TracerPid:[[:space:]]*0$' "$s" || fail "traced after the load: $s"
done
get "$P/agent" -d ''
expect_status "POST /agent again" 200
expect_body_has "POST /agent again" "agent already present since "
expect_body_has "POST /agent again" "(loaded)"
exact_heap "POST /agent"
gzip -dc "$T/heap.pb.gz" | grep -aq 'allocations since [0-9T:Z-]* only (agent loaded into the running process)' \
	&& pass "POST /agent: heap comment says since the load" || fail "POST /agent: heap comment has no 'since'"
say resume resumed
alive "POST /agent"
unserve

finish
