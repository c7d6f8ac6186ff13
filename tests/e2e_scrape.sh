#!/bin/bash
# Continuous profilers' scrape patterns, reproduced through lighttpd with
# the token check on, two scrapers at once for SCRAPE_SECONDS (60):
#   Parca: every 10 s, User-Agent conprof, timeout interval + 3 s:
#     profile?seconds=10 (delta), block and mutex?seconds=10 (delta), allocs, goroutine
#   Grafana Alloy pyroscope.scrape: every 15 s, profile?seconds=14 (delta,
#     interval - 1), block and mutex at its defaults (no seconds), allocs,
#     goroutine
# both under /debug/pprof/ (their default paths). Every answer must be 200
# and a parseable profile with Go's sample type names and units; CPU
# profiles that overlap in time must all complete with their full window
# (one shared sampling loop).
. "$(dirname "$0")/lib.sh"
export HOME="$T" PPROF_TMPDIR="$T"
SCRAPE_SECONDS=${SCRAPE_SECONDS:-60}
# Go's own answers (net/http/pprof), captured at the same prefix: the
# sample type names and units to match
REF="$top_srcdir/tests/data/go-reference"

LD_PRELOAD="$top_builddir/agent/.libs/libpprof-agent.so" start_target || exit 1
start_app --target-pid "$TARGET_PID" || exit 1
start_lighttpd || exit 1
mkdir -p "$T/scrapes"

# scrape NAME UA TIMEOUT PATH: one request in the background; its status,
# time and path go to $T/scrapes/NAME.meta
scrape() {
	local name=$1 ua=$2 timeout=$3 path=$4 auth="X-Vault-Token: $TOKEN"
	# Parca sends the token as a Bearer token; Alloy here as a custom header
	case $name in parca-*) auth="Authorization: Bearer $TOKEN" ;; esac
	( curl -s -o "$T/scrapes/$name.body" -A "$ua" -H "$auth" \
		--max-time "$timeout" -w '%{http_code} %{time_total}' "$BASE$path" \
		> "$T/scrapes/$name.meta" 2>&1
	  echo " $path" >> "$T/scrapes/$name.meta" ) &
}

# scraper WHO INTERVAL UA: fires its five requests every INTERVAL seconds,
# whether or not the previous ones finished, as a scraper does
scraper() {
	local who=$1 interval=$2 ua=$3 start=$SECONDS k=0 s
	local window=$interval timeout=$((interval + 3))
	[ "$who" = alloy ] && window=$((interval - 1))
	while [ $((SECONDS - start)) -lt "$SCRAPE_SECONDS" ]; do
		scrape "$who-$k-profile" "$ua" "$timeout" "/debug/pprof/profile?seconds=$window"
		if [ "$who" = alloy ]; then
			# Alloy's defaults: block and mutex without seconds (a 5 s window here)
			scrape "$who-$k-block" "$ua" "$timeout" "/debug/pprof/block"
			scrape "$who-$k-mutex" "$ua" "$timeout" "/debug/pprof/mutex"
		else
			scrape "$who-$k-block" "$ua" "$timeout" "/debug/pprof/block?seconds=$window"
			scrape "$who-$k-mutex" "$ua" "$timeout" "/debug/pprof/mutex?seconds=$window"
		fi
		scrape "$who-$k-allocs" "$ua" "$timeout" "/debug/pprof/allocs"
		scrape "$who-$k-goroutine" "$ua" "$timeout" "/debug/pprof/goroutine"
		k=$((k + 1))
		# the scrape schedule itself, not a synchronisation
		s=$((start + k * interval - SECONDS))
		[ "$s" -gt 0 ] && sleep "$s"
	done
	wait
}

scraper parca 10 "conprof/v0.0.0-pprof-fcgi-e2e" &
P1=$!
scraper alloy 15 "Grafana Alloy/v1.4.0" &
P2=$!
wait "$P1" "$P2"

n=$(ls "$T/scrapes"/*.meta | wc -l)
bad=$(cat "$T/scrapes"/*.meta | awk '$1 != 200' | head -n 5)
[ -z "$bad" ] && pass "$n scrapes, every one 200" || fail "not 200: $bad"

# Go's sample types, by profile
want_types() {
	case $1 in
	profile) echo "samples/count cpu/nanoseconds" ;;
	allocs) echo "alloc_objects/count alloc_space/bytes inuse_objects/count inuse_space/bytes" ;;
	block|mutex) echo "contentions/count delay/nanoseconds" ;;
	goroutine) echo "goroutine/count" ;;
	esac
}
types_of() { go tool pprof -raw "$1" 2>/dev/null | sed -n '/^Samples:/{n;p;q}' | sed 's/\[dflt\]//; s/  */ /g; s/^ //; s/ $//'; }
unparsed=0 wrongtype=0
for body in "$T/scrapes"/*.body; do
	kind=$(basename "$body" .body | sed 's/.*-//')
	got=$(types_of "$body")
	if [ -z "$got" ]; then
		unparsed=$((unparsed + 1)); echo "unparsed: $body: $(head -c 200 "$body")"
	elif [ "$got" != "$(want_types "$kind")" ]; then
		wrongtype=$((wrongtype + 1)); echo "types of $body: '$got'"
	fi
done
[ "$unparsed" = 0 ] && pass "every profile parses in go tool pprof" || fail "$unparsed profiles do not parse"
[ "$wrongtype" = 0 ] && pass "sample types and units are Go's for profile, allocs, block, mutex, goroutine" \
	|| fail "$wrongtype profiles with other sample types"

# the same names and units as Go's own profiles (captured reference)
if [ -f "$REF/cpu.pb.gz" ] && [ -f "$REF/heap.pb.gz" ]; then
	[ "$(types_of "$REF/cpu.pb.gz")" = "$(want_types profile)" ] \
		&& [ "$(types_of "$REF/heap.pb.gz")" = "$(want_types allocs)" ] \
		&& pass "Go's captured cpu and heap profiles have the same sample types" \
		|| fail "Go's reference types: $(types_of "$REF/cpu.pb.gz") / $(types_of "$REF/heap.pb.gz")"
else
	fail "Go's reference profiles not found under $REF"
fi

# overlapping CPU profiles all complete, each with its whole window
short=0 empty=0 cpu=0
for body in "$T/scrapes"/*-profile.body; do
	cpu=$((cpu + 1))
	want=$(sed 's/.*seconds=\([0-9]*\).*/\1/' "${body%.body}.meta")
	d=$(go tool pprof -raw "$body" 2>/dev/null | sed -n 's/^Duration: //p')
	# "Duration: 10s" or "10.01s"
	secs=$(echo "$d" | sed 's/s$//' | cut -d. -f1)
	[ -n "$secs" ] && [ "$secs" -ge "$want" ] || { short=$((short + 1)); echo "$body: duration '$d', want $want s"; }
	[ "$(go tool pprof -top "$body" 2>/dev/null | grep -c 'hash_block\|sort_records')" -gt 0 ] || empty=$((empty + 1))
done
[ "$short" = 0 ] && pass "$cpu overlapping CPU profiles, each its full window" || fail "$short CPU profiles short"
[ "$empty" = 0 ] && pass "every CPU profile has the demo's busy functions" || fail "$empty CPU profiles without the busy workers"

# without the token, a scraper gets nothing
STATUS=$(curl -s -o /dev/null -w '%{http_code}' "$BASE/debug/pprof/allocs")
[ "$STATUS" = 401 ] && pass "no token: 401" || fail "no token: $STATUS"
STATUS=$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer not-$TOKEN" "$BASE/debug/pprof/allocs")
[ "$STATUS" = 401 ] && pass "wrong bearer token: 401" || fail "wrong bearer token: $STATUS"

# lighttpd writes its access log in batches: stop it, then read the log
kill -TERM "$LIGHTTPD_PID"
wait "$LIGHTTPD_PID" 2>/dev/null
grep -q 'conprof/' "$T/access.log" && grep -q 'Grafana Alloy/' "$T/access.log" \
	&& [ "$(grep -c 'debug/pprof/profile' "$T/access.log")" -ge "$cpu" ] \
	&& pass "lighttpd logged every CPU scrape of both scrapers" || fail "access log: $(tail -n 3 "$T/access.log")"
finish
