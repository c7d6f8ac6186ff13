#!/bin/bash
# /trace end to end: a Perfetto trace of the demo target that decodes with
# Perfetto's own schema and no unknown field, with a track per thread,
# running and waiting slices named by their wait, CPU samples whose frames
# name the hot functions, and timestamps that never go back on a track.
. "$(dirname "$0")/lib.sh"

start_target || exit 1
start_app --target-pid "$TARGET_PID" || exit 1
start_lighttpd || exit 1
SCHEMA_DIR=$(cd "$top_srcdir/../shared/validators" 2>/dev/null && pwd)

get "/v1/sys/pprof/trace?seconds=2"
expect_status trace 200
expect_header trace Content-Type application/octet-stream
expect_header trace Content-Disposition 'attachment; filename="trace"'
if [ -z "$SCHEMA_DIR" ] || [ ! -f "$SCHEMA_DIR/perfetto_trace.proto" ]; then
	# outside the CI layout: our own subset of the schema, a weaker check
	echo "note: ../shared/validators/perfetto_trace.proto not found; decoding with proto/perfetto_trace.proto"
	SCHEMA_DIR="$top_srcdir/proto"
fi
protoc --proto_path="$SCHEMA_DIR" --decode=perfetto.protos.Trace perfetto_trace.proto \
	< "$T/body" > "$T/trace.txt" 2> "$T/protoc.err" && pass "decodes as perfetto.protos.Trace" \
	|| fail "protoc: $(head -3 "$T/protoc.err")"
grep -qE '^ *[0-9]+: |^ *[0-9]+ \{' "$T/trace.txt" && fail "unknown fields: $(grep -m3 -E '^ *[0-9]+: |^ *[0-9]+ \{' "$T/trace.txt")" \
	|| pass "no unknown fields"
grep -q "process_name: \"demo-target\"" "$T/trace.txt" && pass "process track" || fail "no process track"
for t in demo-target hash-worker sort-worker lock-holder lock-waiter cond-waiter sleeper pipe-reader epoll-waiter; do
	grep -q "thread_name: \"$t\"" "$T/trace.txt" || fail "no thread track for $t"
done
pass "a track per thread"
for s in running futex clock_nanosleep 'read fd [0-9]* (pipe:' 'epoll_wait fd'; do
	grep -q "^ *name: \"$s" "$T/trace.txt" && pass "slice named $s" || fail "no slice named $s"
done
n=$(grep -c 'perf_sample {' "$T/trace.txt")
[ "$n" -gt 10 ] && pass "$n CPU samples" || fail "only $n CPU samples"
grep -q 'str: "hash_block' "$T/trace.txt" && grep -q 'str: "hash_worker"' "$T/trace.txt" \
	&& pass "interned frames name hash_block and hash_worker" || fail "no hash_block frame"
# timestamps per track never go back
awk '/^packet \{/ { ts = ""; tr = "" } /^  timestamp: / { ts = $2 } /track_uuid: / { tr = $2 }
     /^}/ { if (tr != "" && ts != "") { if (ts < last[tr]) bad++; last[tr] = ts } }
     END { exit bad > 0 }' "$T/trace.txt" && pass "timestamps increase on every track" || fail "timestamps go back"
get "/v1/sys/pprof/trace?seconds=301"
expect_status "trace: seconds over max" 400
untraced "$TARGET_PID" && pass "target untraced" || fail "target traced"
finish
