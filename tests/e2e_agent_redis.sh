#!/bin/bash
# The agent loaded late into a real service on another allocator: Debian's
# redis-server, unchanged and started without the agent, whose allocations
# go through jemalloc (its GOT points at jemalloc's malloc, not glibc's),
# gets it by POST /agent (agent-rate 1: exact figures) while redis-cli
# feeds it a service's mix of commands. Every command is answered without
# an error, before, during and after the load, and redis is left
# untraced. The agent forwards each call to what its slot held, so blocks
# from before the load (freed, reallocated and sized after it: the feed
# deletes and rewrites its keys) stay jemalloc's and used_memory, which
# redis counts with malloc_usable_size, comes back to where it was after
# FLUSHALL. Then as with the preloaded agent (e2e_redis.sh): values written
# after the load are in /heap under the function that read them, /heap
# rises with used_memory, and deleted they are gone.
. "$(dirname "$0")/lib.sh"
export HOME="$T" PPROF_TMPDIR="$T"
P=/v1/sys/pprof
for c in redis-server redis-cli; do
	command -v "$c" > /dev/null ||
		{ fail "no $c: tools/install-deps.sh installs redis-server and redis-tools"; finish; exit 1; }
done

# the feed: batches of 20,000 commands (bench/redis-commands.awk: SET, GET,
# INCR, LPUSH, LPOP, SADD, SREM, HSET, ZADD, DEL over 100,000 keys)
awk -v N=20000 -f "$top_srcdir/bench/redis-commands.awk" > "$T/feed.resp"
# what used_memory keeps after the feed and FLUSHALL without the agent
# (320,944 B, whatever the number of batches)
start_redis || { finish; exit 1; }
used_start=$(used)
redis_pipe "without the agent" "$T/feed.resp" 20000
redis-cli -s "$RSOCK" flushall sync > /dev/null
kept=$(($(used) - used_start))
redis-cli -s "$RSOCK" shutdown nosave > /dev/null
wait "$REDIS_PID"
rm -f "$RSOCK"

start_redis || { finish; exit 1; }
start_app --target-pid "$REDIS_PID" --agent-rate 1 && NO_TOKEN=1 start_lighttpd || { finish; exit 1; }
grep -q libjemalloc /proc/"$REDIS_PID"/maps && pass "redis allocates with jemalloc" \
	|| fail "no jemalloc in redis's maps"
get "$P/heap?debug=1"
expect_body_has "heap before the load: says how to get data" "POST"
used_start=$(used)

# the feed's batches one after the other until $T/stop exists; each
# batch's last line in $T/fed
feed() {
	while [ ! -e "$T/stop" ]; do
		redis-cli -s "$RSOCK" --pipe < "$T/feed.resp" 2>&1 | tail -n 1 >> "$T/fed"
	done
}
fed() { [ "$(wc -l < "$T/fed")" -ge "$1" ]; }
: > "$T/fed"
feed & FEED=$!
PIDS+=("$FEED")
WAIT_S=30 wait_for fed 1 || fail "the feed did not start"

get "$P/agent" -d ''
expect_status "POST /agent under load" 200
expect_body_has "POST /agent under load" "agent loaded into pid $REDIS_PID at "
grep -q '^/memfd:libpprof-agent.so' <(awk '{ print $6 }' /proc/"$REDIS_PID"/maps) \
	&& pass "the agent is mapped in redis" || fail "no agent in redis's maps"
untraced "$REDIS_PID" && pass "redis untraced after the load" || fail "redis traced after the load"
# two more whole batches after the load, then the feed stops
n=$(wc -l < "$T/fed")
WAIT_S=30 wait_for fed $((n + 2)) || fail "the feed stalled after the load"
touch "$T/stop"
wait "$FEED"
bad=$(grep -cv '^errors: 0, replies: 20000$' "$T/fed")
equal "batches of 20,000 commands answered with an error or short ($(wc -l < "$T/fed") fed)" "$bad" 0
kill -0 "$REDIS_PID" && pass "redis runs on" ||
	{ fail "redis died: $(grep -m1 'crashed by signal\|ASSERTION' "$T/redis.log")"; finish; exit 1; }

# blocks from before the load are jemalloc's: their frees and sizes after
# it go to jemalloc, so used_memory comes back as without the agent (a
# block freed by the wrong allocator would crash redis, a size asked of
# the wrong one skew used_memory); within 16 KiB of the ~1.4 MB the feed
# held: clients' buffers move it by a few hundred bytes
redis-cli -s "$RSOCK" flushall sync > /dev/null
u=$(($(used) - used_start))
[ $((u - kept)) -le 16384 ] && [ $((kept - u)) -le 16384 ] \
	&& pass "after FLUSHALL used_memory kept $u B, without the agent $kept B" \
	|| fail "after FLUSHALL used_memory kept $u B, without the agent $kept B"

redis_values "loaded late"
gzip -dc "$T/full.pb.gz" | grep -aq 'allocations since [0-9T:Z-]* only (agent loaded into the running process)' \
	&& pass "heap comment: since the load" || fail "heap comment: no 'since'"
redis_values_gone "loaded late"
redis_keys "loaded late" 20000

equal "redis answers" "$(redis-cli -s "$RSOCK" ping)" PONG
untraced "$REDIS_PID" && pass "redis untraced" || fail "redis left traced"
grep -q 'crashed by signal\|ASSERTION FAILED' "$T/redis.log" && fail "redis's log: $(grep -m1 -A3 'crashed\|ASSERTION' "$T/redis.log")"
finish
