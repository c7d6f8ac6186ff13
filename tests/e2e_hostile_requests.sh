#!/bin/bash
# Hostile requests, straight over FastCGI with cgi-fcgi (a web server would
# answer some itself: lighttpd turns %00 into 400 and a 64 KiB query into
# 431), so the app's own status and text are checked: each gets its 4xx
# and the app stays up. Then the same through lighttpd, where it answers.
. "$(dirname "$0")/lib.sh"

start_target || exit 1
start_app --target-pid "$TARGET_PID" || exit 1

# fcgi METHOD PATH_INFO QUERY [BODY-FILE]: the app's answer in $T/out;
# sets STATUS and BODY (its first line)
fcgi() {
	local method=$1 path=$2 query=$3 body=${4:-/dev/null} len=0
	[ "$body" != /dev/null ] && len=$(stat -c %s "$body")
	env -i REQUEST_METHOD="$method" SCRIPT_NAME=/v1/sys/pprof PATH_INFO="$path" \
		QUERY_STRING="$query" CONTENT_LENGTH="$len" \
		cgi-fcgi -bind -connect "$SOCK" < "$body" > "$T/out" 2> /dev/null
	STATUS=$(sed -n 's/^Status: \([0-9]*\).*/\1/p' "$T/out" | head -n1)
	BODY=$(sed -n '/^\r$/,$p' "$T/out" | sed -n 2p)
}
row() { # NAME STATUS BODY-PREFIX METHOD PATH QUERY [BODY-FILE]
	local name=$1 want=$2 text=$3; shift 3
	fcgi "$@"
	if [ "$STATUS" = "$want" ] && [ "${BODY#"$text"}" != "$BODY" -o -z "$text" ]; then
		pass "$name: $want"
	else
		fail "$name: got $STATUS '$BODY', want $want '$text'"
	fi
	kill -0 "$APP_PID" 2>/dev/null || { fail "app died on: $name"; finish; exit 1; }
}
SECS='invalid value for "seconds" - must be a positive integer'
row "negative seconds" 400 "$SECS" GET /profile 'seconds=-5'
row "huge seconds" 400 "$SECS" GET /profile 'seconds=99999999999999999999'
row "seconds=1e9" 400 "$SECS" GET /heap 'seconds=1e9'
row "seconds=%00" 400 "$SECS" GET /profile 'seconds=%00'
row "seconds with a NUL escape" 400 "$SECS" GET /profile 'seconds=5%00'
row "seconds over max" 400 "seconds 86400 exceeds max request duration of 300" GET /trace 'seconds=86400'
row "hz huge" 400 'invalid value for "hz"' GET /profile 'hz=18446744073709551617'
row "debug garbage" 400 'invalid value for "debug"' GET /goroutine 'debug=%ff%fe'
row "repeated keys: the first wins" 200 "goroutine profile: total" GET /goroutine 'debug=1&debug=7'
row "dot-dot path" 404 "Unknown profile" GET /../../etc/passwd ''
row "dot-dot alone" 404 "Unknown profile" GET /.. ''
row "traversal to index" 200 "" GET /cmdline/../ ''
row "very long path" 404 "Unknown profile" GET "/$(head -c 5000 /dev/zero | tr '\0' a)" ''
query=$(head -c 70000 /dev/zero | tr '\0' a)
row "70 KiB query" 413 "query string of 70000 bytes over the limit" GET /goroutine "$query"
many=$(for i in $(seq 100); do printf 'k%d=v&' "$i"; done)
row "100 parameters" 413 "more than 64 query parameters" GET /goroutine "$many"
row "PUT" 405 "method PUT not allowed for /profile" PUT /profile ''
row "POST to a profile" 405 "method POST not allowed for /goroutine" POST /goroutine ''
row "TRACE" 405 "method TRACE not allowed" TRACE / ''
head -c $((100 * 1024 * 1024)) /dev/zero | tr '\0' '1' > "$T/huge"
row "100 MiB /symbol body" 413 "request body of 104857600 bytes over the limit" POST /symbol '' "$T/huge"
printf '0x1+%.0s' $(seq 100001) > "$T/many"
row "100,001 addresses" 413 "more than 100000 addresses" POST /symbol '' "$T/many"
printf '\xff\xfe\x00junk+0x+-1+0xzz\n' > "$T/junk"
row "binary junk body" 200 "num_symbols: 1" POST /symbol '' "$T/junk"
row "no method at all" 200 "" "" /cmdline ''

# through lighttpd, which answers some of these before the app
start_lighttpd || exit 1
STATUS=$(curl -s -o /dev/null -w '%{http_code}' -H "X-Vault-Token: $TOKEN" "$BASE/v1/sys/pprof/cmd%00line")
[ "${STATUS:0:1}" = 4 ] && pass "lighttpd: %00 in the path: $STATUS" || fail "lighttpd: %00: $STATUS"
STATUS=$(curl -s -o /dev/null -w '%{http_code}' -H "X-Vault-Token: $TOKEN" "$BASE/v1/sys/pprof/goroutine?$query")
[ "${STATUS:0:1}" = 4 ] && pass "lighttpd: 70 KiB query: $STATUS" || fail "lighttpd: long query: $STATUS"
get /v1/sys/pprof/cmdline
expect_status "app still answers through lighttpd" 200
finish
