#!/bin/bash
# Several targets on one host: the systemd template unit's command line
# (conf/pprof-fcgi@.service.in, %i substituted, as systemd would run it) for
# two instances, each with its /etc/pprof-fcgi/NAME.conf, behind
# conf/lighttpd-multi.conf: /v1/sys/pprof/NAME/ and /debug/pprof/NAME/
# reach NAME's target and no other; an instance follows its service across
# a restart (pidfile).
. "$(dirname "$0")/lib.sh"
export HOME="$T" PPROF_TMPDIR="$T"
mkdir -p "$T/etc" "$T/run"

# the two services; search runs through a symlink of a name of its own (as
# Debian's redis-server is a link to redis-check-rdb), under yet another
# argv[0], and its instance finds it by that symlink's name
SEARCH_EXE="search-${T##*.}"
ln -s "$DEMO" "$T/$SEARCH_EXE"
for name in billing search; do
	if [ "$name" = search ]; then
		(exec -a demo "$T/$SEARCH_EXE" --pidfile "$T/$name.pid") > "$T/$name.out" 2>&1 &
		printf 'target-exe = %s\nthreads = 2\n' "$SEARCH_EXE" > "$T/etc/$name.conf"
	else
		"$DEMO" --pidfile "$T/$name.pid" > "$T/$name.out" 2>&1 &
		printf 'target-pidfile = %s\nthreads = 2\n' "$T/$name.pid" > "$T/etc/$name.conf"
	fi
	PIDS+=($!)
	WATCH=$! wait_for grep -q '^ready' "$T/$name.out" || exit 1
done

# ExecStart of the template, for instance $1, with this test's paths
unit_cmd() {
	sed -n 's/^ExecStart=//p' "$top_srcdir/conf/pprof-fcgi@.service.in" |
		sed -e "s|%i|$1|g" -e "s|@bindir@/pprof-fcgi|$APP|" -e "s|@sysconfdir@|/etc|g" \
		    -e "s|/etc/pprof-fcgi|$T/etc|" -e "s|/run/pprof-fcgi|$T/run|"
}
for name in billing search; do
	mkdir -p "$T/run/$name" # systemd's RuntimeDirectory=pprof-fcgi/%i
	cmd=$(unit_cmd "$name")
	echo "$cmd" | grep -q -- "--config $T/etc/$name.conf --listen unix:$T/run/$name/pprof-fcgi.sock" \
		&& pass "unit $name: $(echo "$cmd" | sed "s|$T|\$T|g")" || fail "unit command: $cmd"
	$cmd 2>> "$T/app-$name.log" &
	PIDS+=($!)
	WATCH=$! wait_for test -S "$T/run/$name/pprof-fcgi.sock" || { cat "$T/app-$name.log"; exit 1; }
done

multi_run() { # PORT
	sed -e "s|^var.pprof_run = .*|var.pprof_run = \"$T/run\"|" \
	    -e "s|^var.pprof_port = .*|var.pprof_port = $1|" \
	    -e "s|^var.pprof_token = .*|var.pprof_token = \"$TOKEN\"|" \
	    -e "s|^var.pprof_htpasswd = .*|var.pprof_htpasswd = \"$T/htpasswd\"|" \
	    -e "s|^var.pprof_ui = .*|var.pprof_ui = \"$VIEWER/\"|" \
	    -e "s|^server.document-root = .*|server.document-root = \"$T\"|" \
	    -e "s|^server.errorlog = .*|server.errorlog = \"$T/lighttpd.err\"|" \
	    -e "s|^accesslog.filename = .*|accesslog.filename = \"$T/access.log\"|" \
	    "$top_srcdir/conf/lighttpd-multi.conf" | auth_conf > "$T/lighttpd.conf"
	lighttpd -D -f "$T/lighttpd.conf" > "$T/lighttpd.out" 2>&1 &
	SERVER_PID=$!
}
on_free_port multi_run || { cat "$T/lighttpd.out" "$T/lighttpd.err"; exit 1; }

for name in billing search; do
	pid=$(cat "$T/$name.pid")
	head -c -1 "/proc/$pid/cmdline" > "$T/$name.cmdline"
	for mount in /v1/sys/pprof /debug/pprof; do
		get "$mount/$name/cmdline"
		expect_status "$mount/$name/cmdline" 200
		cmp -s "$T/body" "$T/$name.cmdline" && pass "$mount/$name: $name's command line" \
			|| fail "$mount/$name: $(tr '\0' ' ' < "$T/body")"
	done
	get "/v1/sys/pprof/$name/"
	expect_body_has "$name index" "pid $pid"
	# each instance's viewer, from the web server with its type
	for mount in /v1/sys/pprof /debug/pprof; do
		expect_viewer "$name viewer" "$mount/$name/ui/index.html"
	done
	STATUS=$(curl -s -o /dev/null -w '%{http_code}' "$BASE/v1/sys/pprof/$name/ui/index.html")
	[ "$STATUS" = 401 ] && pass "$name viewer, no credentials: 401" || fail "$name viewer, no credentials: $STATUS"
	for path in "/v1/sys/pprof/$name/ui/flame.html" "/debug/pprof/$name/cmdline"; do
		STATUS=$(curl -s -o /dev/null -w '%{http_code}' -u "$BASIC_USER:$BASIC_PASSWORD" "$BASE$path")
		[ "$STATUS" = 200 ] && pass "$path, basic auth: 200" || fail "$path, basic auth: $STATUS"
	done
done
grep -q "executable \"$SEARCH_EXE\" is pid $(cat "$T/search.pid"), found by the path it was executed through" \
	"$T/app-search.log" && pass "search found by its symlink's name, and the log says how" \
	|| fail "search: $(cat "$T/app-search.log")"
get /debug/pprof/search/
expect_body_has "search index" "<tr><th>Found by</th><td>the path it was executed through</td></tr>"
get /debug/pprof/billing/
grep -q "Found by" "$T/body" && fail "billing index: a pidfile target says Found by" \
	|| pass "billing index: a pidfile target has no Found by"
STATUS=$(curl -s -o /dev/null -w '%{http_code}' "$BASE/debug/pprof/search/cmdline")
[ "$STATUS" = 401 ] && pass "no credentials: 401" || fail "no credentials: $STATUS"
get /debug/pprof/nosuch/cmdline
[ "$STATUS" = 404 ] && pass "an instance not configured: 404" || fail "unknown instance: $STATUS"

# both at once: a CPU profile of each
curl -s -H "X-Vault-Token: $TOKEN" -o "$T/b.pb.gz" "$BASE/debug/pprof/billing/profile?seconds=2" &
c1=$!
curl -s -H "X-Vault-Token: $TOKEN" -o "$T/s.pb.gz" "$BASE/debug/pprof/search/profile?seconds=2" &
c2=$!
wait "$c1" "$c2"
for f in b s; do
	go tool pprof -top "$T/$f.pb.gz" 2>/dev/null | grep -q 'hash_block\|sort_records' || fail "profile $f"
done
[ "$FAILS" = 0 ] && pass "CPU profiles of both services at once"

# billing restarts: its instance follows the new pid, search is untouched
old=$(cat "$T/billing.pid")
kill "$old"
WAIT_S=20 wait_for sh -c "! kill -0 $old"
rm -f "$T/billing.pid"
"$DEMO" --pidfile "$T/billing.pid" > "$T/billing2.out" 2>&1 &
PIDS+=($!)
WATCH=$! wait_for grep -q '^ready' "$T/billing2.out" || exit 1
new=$(cat "$T/billing.pid")
get /debug/pprof/billing/
grep -q "pid $new" "$T/body" && [ "$new" != "$old" ] && pass "billing followed across a restart (pid $old, then $new)" \
	|| fail "after restart: want pid $new: $(grep -o 'pid [0-9]*' "$T/body" | head -n1)"
get /debug/pprof/search/cmdline
cmp -s "$T/body" "$T/search.cmdline" && pass "search unchanged" || fail "search after billing's restart"
finish
