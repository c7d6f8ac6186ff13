#!/bin/bash
# The agent in a real service on another allocator: Debian's redis-server,
# unchanged, whose allocations go through jemalloc; read through lighttpd
# by curl and go tool pprof. Every allocation sampled (PPROF_MEMRATE=1),
# so the figures are exact: 64 values of 1 MiB written are in /heap under
# the function that read them; deleted, they are gone from it; /allocs
# keeps them; /threadcreate names where redis starts its background
# threads; redis answers every command, untraced, while it is read.
. "$(dirname "$0")/lib.sh"
export HOME="$T" PPROF_TMPDIR="$T"
AGENT="$top_builddir/agent/.libs/libpprof-agent.so"
P=/v1/sys/pprof
MiB=1048576
RSOCK=$T/redis.sock
for c in redis-server redis-cli; do
	command -v "$c" > /dev/null ||
		{ fail "no $c: tools/install-deps.sh installs redis-server and redis-tools"; finish; exit 1; }
done

PPROF_MEMRATE=1 LD_PRELOAD="$AGENT" redis-server --port 0 --unixsocket "$RSOCK" --save '' \
	--appendonly no --logfile "$T/redis.log" > /dev/null 2>&1 &
REDIS_PID=$!
PIDS+=("$REDIS_PID")
WATCH=$REDIS_PID wait_for redis-cli -s "$RSOCK" ping ||
	{ fail "redis-server did not start: $(tail -n 5 "$T/redis.log")"; finish; exit 1; }
equal "redis-server is the process started" \
	"$(redis-cli -s "$RSOCK" info server | tr -d '\r' | sed -n 's/^process_id://p')" "$REDIS_PID"
start_app --target-pid "$REDIS_PID" && NO_TOKEN=1 start_lighttpd || { finish; exit 1; }

# inuse: the bytes in use the last debug=1 answer's header gives
inuse() { sed -n '1s/^heap profile: [0-9]*: \([0-9]*\) \[.*/\1/p' "$T/body"; }
get "$P/heap?debug=1"
expect_status "heap debug=1 before" 200
before=$(inuse)
[ -n "$before" ] && pass "in use at the start: $before B" || fail "no heap header: $(head -c 200 "$T/body")"

# 64 SETs of 1 MiB each, in redis's wire protocol
head -c "$MiB" /dev/zero | tr '\0' v > "$T/value"
for i in $(seq 0 63); do
	printf '*3\r\n$3\r\nSET\r\n$%d\r\n%s\r\n$%d\r\n' $((4 + ${#i})) "big:$i" "$MiB"
	cat "$T/value"
	printf '\r\n'
done > "$T/set.resp"
redis-cli -s "$RSOCK" --pipe < "$T/set.resp" > "$T/pipe.out" 2>&1
grep -q 'errors: 0, replies: 64$' "$T/pipe.out" && pass "redis stored 64 values" \
	|| fail "redis-cli --pipe: $(tail -n 2 "$T/pipe.out")"

get "$P/heap?debug=1"
held=$(inuse)
within "in use after 64 values of 1 MiB, over the start" $((${held:-0} - ${before:-0})) $((64 * MiB)) 10
get "$P/heap"
cp "$T/body" "$T/full.pb.gz"
within "inuse_space under readQueryFromClient" \
	"$(cum "$T/full.pb.gz" inuse_space readQueryFromClient)" $((64 * MiB)) 10
go tool pprof -top "$T/full.pb.gz" > "$T/full.top" 2>&1
# named as it was run: Debian's redis-server is a link to redis-check-rdb
grep -q '^File: redis-server$' "$T/full.top" && pass "redis's own mapping first, as it was run" \
	|| fail "main binary: $(grep '^File:' "$T/full.top")"

redis-cli -s "$RSOCK" flushall sync > /dev/null
get "$P/heap?debug=1"
left=$(inuse)
gone=$((${left:-0} - ${before:-0}))
[ -n "$left" ] && [ "$gone" -lt $((4 * MiB)) ] && pass "deleted: in use $gone B over the start" \
	|| fail "after FLUSHALL, in use $left B (start $before B)"
get "$P/heap"
cp "$T/body" "$T/empty.pb.gz"
v=$(cum "$T/empty.pb.gz" inuse_space readQueryFromClient)
[ "${v%.*}" -lt $((2 * MiB)) ] && pass "nothing left in use under readQueryFromClient ($v B)" \
	|| fail "in use under readQueryFromClient after FLUSHALL: $v B"
get "$P/allocs"
cp "$T/body" "$T/allocs.pb.gz"
v=$(cum "$T/allocs.pb.gz" alloc_space readQueryFromClient)
awk -v v="$v" -v w=$((64 * MiB)) 'BEGIN { exit !(v >= w * 0.9) }' &&
	pass "allocs keeps what was allocated under readQueryFromClient ($v B)" ||
	fail "alloc_space under readQueryFromClient: $v B, want >= 64 MiB"

get "$P/threadcreate?debug=1"
expect_body_has "threadcreate: redis's background threads" bioInit

equal "redis answers" "$(redis-cli -s "$RSOCK" ping)" PONG
untraced "$REDIS_PID" && pass "redis untraced" || fail "redis left traced"
finish
