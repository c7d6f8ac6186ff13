# redis-commands.awk: N commands in redis's wire protocol (RESP), for
# redis-cli --pipe: a service's mix of reads and writes over 100,000 keys
# (strings, counters, lists, sets, hashes, sorted sets), each command
# allocating and freeing as redis does. The same stream every time (the
# generator's seed is fixed).
#   awk -v N=1000000 -f redis-commands.awk > stream.resp
function arg(s) { printf "$%d\r\n%s\r\n", length(s), s }
function cmd2(a, b) { printf "*2\r\n"; arg(a); arg(b) }
function cmd3(a, b, c) { printf "*3\r\n"; arg(a); arg(b); arg(c) }
function cmd4(a, b, c, d) { printf "*4\r\n"; arg(a); arg(b); arg(c); arg(d) }
BEGIN {
	srand(1)
	v = sprintf("%064d", 0)
	for (i = 0; i < N; i++) {
		k = int(rand() * 100000)
		o = i % 10
		if (o == 0) cmd3("SET", "key:" k, substr(v, 1, 16 + k % 48))
		else if (o == 1) cmd2("GET", "key:" k)
		else if (o == 2) cmd2("INCR", "ctr:" k)
		else if (o == 3) cmd3("LPUSH", "list:" k % 1000, substr(v, 1, 8 + k % 56))
		else if (o == 4) cmd2("LPOP", "list:" k % 1000)
		else if (o == 5) cmd3("SADD", "set:" k % 1000, "m" k)
		else if (o == 6) cmd4("HSET", "hash:" k % 1000, "f" k, substr(v, 1, 8 + k % 24))
		else if (o == 7) cmd3("SREM", "set:" k % 1000, "m" int(rand() * 100000))
		else if (o == 8) cmd4("ZADD", "zset:" k % 1000, k, "m" k)
		else cmd2("DEL", "key:" int(rand() * 100000))
	}
}
