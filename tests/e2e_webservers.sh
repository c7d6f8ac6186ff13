#!/bin/bash
# The conf/ examples for nginx and Apache, each run with the real server in
# front of one pprof-fcgi, and the two ways of handing the app its socket
# as fd 0: lighttpd's bin-path and spawn-fcgi. Each split of SCRIPT_NAME and
# PATH_INFO must reach the same endpoints.
. "$(dirname "$0")/lib.sh"

start_target --pidfile "$T/target.pid" || exit 1
CMDLINE_FILE="$T/cmdline.want"
head -c -1 "/proc/$TARGET_PID/cmdline" > "$CMDLINE_FILE"

routing_checks() { # NAME
	local n=$1
	get /v1/sys/pprof/
	expect_status "$n: index" 200
	expect_body_has "$n: index" "pid $TARGET_PID"
	get /v1/sys/pprof
	expect_status "$n: bare mount" 301
	expect_header "$n: bare mount" Location /v1/sys/pprof/
	get /v1/sys/pprof/cmdline
	expect_status "$n: cmdline" 200
	cmp -s "$T/body" "$CMDLINE_FILE" && pass "$n: cmdline body" || fail "$n: cmdline body differs"
	expect_header "$n: cmdline" Cache-Control no-store
	expect_header "$n: cmdline" X-Content-Type-Options nosniff
	get /debug/pprof/cmdline
	expect_status "$n: /debug/pprof mount" 200
	get /debug/pprof/nosuch
	expect_status "$n: unknown" 404
	expect_body "$n: unknown" "Unknown profile"
	get "/v1/sys/pprof/profile?seconds=0"
	expect_status "$n: bad seconds" 400
	get /symbolz
	expect_body "$n: /symbolz" "num_symbols: 1"
}

# The viewer (MOUNT/ui/) as each example serves it: routed before the
# FastCGI mount, each file with its type, a CSP it runs under, behind the
# same token; a ui/ request that reaches the app says what is wrong.
viewer_checks() { # NAME
	local n=$1 mount f want
	[ -f "$VIEWER/index.html" ] || { fail "$n viewer: no $VIEWER/index.html (tools/fetch-viewer.sh, then configure)"; return; }
	for mount in /v1/sys/pprof /debug/pprof; do
		expect_viewer "$n viewer" "$mount/ui/index.html"
		expect_header "$n viewer: index.html" Content-Security-Policy \
			"default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; frame-src 'self'; connect-src 'self' blob:"
	done
	get /v1/sys/pprof/ui/
	expect_status "$n viewer: ui/ (index file)" 200
	for f in "$VIEWER"/*; do
		case $f in
		*.js) want="text/javascript; charset=utf-8" ;;
		*.css) want="text/css; charset=utf-8" ;;
		*.html) want="text/html; charset=utf-8" ;;
		*.png) want=image/png ;;
		*.ico) want=image/x-icon ;;
		*.woff2) want=font/woff2 ;;
		*.wasm) want=application/wasm ;;
		*.json) want=application/json ;;
		*.txt|*.md) want="text/plain; charset=utf-8" ;;
		*) continue ;;
		esac
		get "/v1/sys/pprof/ui/$(basename "$f")"
		[ "$STATUS" = 200 ] && [ "$(header Content-Type)" = "$want" ] &&
			pass "$n viewer: $(basename "$f"): 200 $want" ||
			fail "$n viewer: $(basename "$f"): $STATUS $(header Content-Type), want 200 $want"
	done
	get /v1/sys/pprof/ui/nosuch.js
	expect_status "$n viewer: a missing file" 404
	if grep -q "web server is not serving the viewer" "$T/body"; then
		fail "$n viewer: ui/nosuch.js reached the app"
	else
		pass "$n viewer: ui/nosuch.js stays with the web server"
	fi
}

# Each example's authentication: the token (X-Vault-Token or Bearer) or a
# user by basic auth, on every mount and the viewer alike; anything else
# is a 401 that asks for the user.
auth_try() { # NAME PATH WHAT WANT [CURL OPTIONS...]
	local n=$1 path=$2 what=$3 want=$4 code
	shift 4
	code=$(curl -s -o /dev/null -w '%{http_code}' "$@" "$BASE$path")
	[ "$code" = "$want" ] && pass "$n auth: $path, $what: $want" \
		|| fail "$n auth: $path, $what: status $code, want $want"
}
auth_checks() { # NAME
	local n=$1 path
	for path in /v1/sys/pprof/cmdline /debug/pprof/cmdline /symbolz /v1/sys/pprof/ui/flame.html /debug/pprof/ui/index.html; do
		auth_try "$n" "$path" "no credentials" 401
		auth_try "$n" "$path" "wrong token" 401 -H "X-Vault-Token: wrong"
		auth_try "$n" "$path" "wrong bearer" 401 -H "Authorization: Bearer wrong"
		auth_try "$n" "$path" "wrong password" 401 -u "$BASIC_USER:wrong"
		auth_try "$n" "$path" "token" 200 -H "X-Vault-Token: $TOKEN"
		auth_try "$n" "$path" "bearer token (scrapers)" 200 -H "Authorization: Bearer $TOKEN"
		auth_try "$n" "$path" "basic auth (browsers, go tool pprof)" 200 -u "$BASIC_USER:$BASIC_PASSWORD"
	done
	curl -s -o "$T/basic.body" -u "$BASIC_USER:$BASIC_PASSWORD" "$BASE/v1/sys/pprof/cmdline"
	cmp -s "$T/basic.body" "$CMDLINE_FILE" && pass "$n auth: cmdline body by basic auth" \
		|| fail "$n auth: cmdline body by basic auth differs"
}

# with_server SERVER CHECKS CONF: starts SERVER (lighttpd, nginx, apache)
# with CONF, runs CHECKS SERVER against it, stops it
with_server() {
	local server=$1 checks=$2 conf=$3
	if "start_$server"; then
		"$checks" "$server"
		kill "$SERVER_PID"; wait "$SERVER_PID" 2>/dev/null
	else
		fail "$server did not start with $conf"
	fi
}

# --- nginx and Apache in front of one app on a unix socket
start_app --target-pidfile "$T/target.pid" || exit 1
chmod 711 "$T"
chgrp www-data "$SOCK" # as the systemd unit's Group=www-data does
with_server nginx routing_checks conf/nginx.conf
with_server apache routing_checks conf/apache.conf
viewer_auth_checks() { viewer_checks "$1"; auth_checks "$1"; }
for server in lighttpd nginx apache; do
	with_server "$server" viewer_auth_checks "conf/$server.conf"
done
# the index's flame-graph links per the viewer key: on shows them, off
# shows neither them nor the note, auto one of the two (whether make
# install put the viewer in place on this machine), a bad value stops it
index_with() { # MODE: the index of an app started with --viewer MODE, in $T/index-MODE
	local sock="$T/viewer-$1.sock" pid
	"$APP" --listen "unix:$sock" --target-pidfile "$T/target.pid" --viewer "$1" 2>> "$T/app.log" &
	pid=$!
	WATCH=$pid wait_for test -S "$sock" || return 1
	SCRIPT_NAME=/v1/sys/pprof PATH_INFO=/ REQUEST_METHOD=GET \
		cgi-fcgi -bind -connect "$sock" > "$T/index-$1" 2>&1 < /dev/null
	kill -TERM "$pid"; wait "$pid" 2>/dev/null
}
comm=$(cat "/proc/$TARGET_PID/comm")
index_with on
title=$(python3 -c 'import sys, urllib.parse; print(urllib.parse.quote(sys.argv[1], safe=""))' \
		"$comm (pid $TARGET_PID): CPU 10 s")
grep -qF "<a class=\"flame\" href=\"ui/flame.html#profileURL=..%2Fprofile%3Fseconds%3D10%26inlines%3Dsplit&amp;title=$title&amp;view=left-heavy\">10 s</a>" "$T/index-on" &&
	pass "viewer = on: the index links CPU 10 s into the viewer, titled \"$comm (pid $TARGET_PID): CPU 10 s\"" ||
	fail "viewer = on: no CPU 10 s flame link: $(grep -o '<a class="flame"[^>]*>' "$T/index-on" | head -3)"
for p in allocs block goroutine heap mutex profile threadcreate; do
	grep -qF "href=\"ui/flame.html#profileURL=..%2F$p%3F" "$T/index-on" || fail "viewer = on: no flame link for $p"
done
grep -qF 'href="ui/flame.html#profileURL=..%2Fcmdline' "$T/index-on" && fail "viewer = on: a flame link for cmdline"
index_with off
grep -q 'ui/flame.html\|viewer-note' "$T/index-off" && fail "viewer = off: $(grep -o 'ui/flame.html\|viewer-note.*' "$T/index-off" | head -1)" ||
	pass "viewer = off: no flame links, no note"
grep -q '^Status: 200\|<title>' "$T/index-off" && pass "viewer = off: the index still" || fail "viewer = off: $(head -c 300 "$T/index-off")"
index_with auto
if grep -q 'class="flame"' "$T/index-auto"; then
	grep -q 'viewer-note' "$T/index-auto" && fail "viewer = auto: both links and the note" || pass "viewer = auto: installed here, links"
else
	grep -q 'flame graphs: the viewer is not installed in .* (tools/fetch-viewer.sh' "$T/index-auto" &&
		pass "viewer = auto: not installed here, the note says how to get it" ||
		fail "viewer = auto: neither links nor the note"
fi
out=$("$APP" --target-pid "$TARGET_PID" --viewer maybe 2>&1); rc=$?
[ "$rc" = 2 ] && [ "$out" = 'pprof-fcgi: viewer: invalid value "maybe" (auto, on or off)' ] &&
	pass "viewer = maybe: exit 2, says so" || fail "viewer = maybe: exit $rc: $out"

# a ui/ request that reaches the app (a config without the viewer's route)
SCRIPT_NAME=/v1/sys/pprof PATH_INFO=/ui/index.html REQUEST_METHOD=GET \
	cgi-fcgi -bind -connect "$SOCK" > "$T/ui.out" 2>&1 < /dev/null
grep -q '^Status: 404' "$T/ui.out" && grep -q 'the web server is not serving the viewer' "$T/ui.out" &&
	pass "ui/ at the app: 404 saying the web server does not serve the viewer" ||
	fail "ui/ at the app: $(head -c 300 "$T/ui.out")"
kill -TERM "$APP_PID"; wait "$APP_PID" 2>/dev/null

# --- lighttpd starts the app itself (bin-path: fd 0 is the socket) and
# stops it when it stops
binpath_run() { # PORT
	lighttpd_conf "$1" | sed -e "s|\"check-local\" => \"disable\",|&\n\t\"bin-path\" => \"$APP --target-pidfile $T/target.pid\", \"max-procs\" => 1,|" \
		> "$T/lighttpd-binpath.conf"
	lighttpd -D -f "$T/lighttpd-binpath.conf" > "$T/lighttpd.out" 2>&1 &
	SERVER_PID=$!
}
rm -f "$SOCK"
if on_free_port binpath_run; then
	get /v1/sys/pprof/cmdline
	expect_status "bin-path: cmdline" 200
	cmp -s "$T/body" "$CMDLINE_FILE" && pass "bin-path: cmdline body" || fail "bin-path: cmdline body differs"
	app=$(pgrep -P "$SERVER_PID" -f pprof-fcgi | head -n1)
	[ -n "$app" ] && pass "bin-path: app is lighttpd's child" || fail "bin-path: no app child"
	kill -TERM "$SERVER_PID"; wait "$SERVER_PID" 2>/dev/null
	if [ -n "$app" ] && WAIT_S=10 wait_for sh -c "! kill -0 $app"; then pass "bin-path: app stops with lighttpd"
	else fail "bin-path: app outlived lighttpd"; kill -KILL "$app" 2>/dev/null; fi
else
	fail "lighttpd did not start with bin-path"; cat "$T/lighttpd.out" "$T/lighttpd.err"
fi

# --- spawn-fcgi creates the socket and execs the app with it as fd 0
rm -f "$SOCK"
spawn-fcgi -n -s "$SOCK" -M 0660 -- "$APP" --target-pidfile "$T/target.pid" 2>> "$T/app.log" &
APP_PID=$!
PIDS+=("$APP_PID")
if WATCH=$APP_PID wait_for test -S "$SOCK" && start_lighttpd; then
	get /v1/sys/pprof/cmdline
	expect_status "spawn-fcgi: cmdline" 200
	[ "$(stat -c %a "$SOCK")" = 660 ] && pass "spawn-fcgi: socket 0660" || fail "spawn-fcgi: socket mode $(stat -c %a "$SOCK")"
else
	fail "spawn-fcgi setup"; cat "$T/app.log"
fi

# --- ptrace not permitted: the app runs as nobody, the target as root
if [ "$(id -u)" = 0 ]; then
	kill -TERM "$APP_PID" 2>/dev/null; wait "$APP_PID" 2>/dev/null
	rm -f "$SOCK"
	chmod 777 "$T"
	AS="setpriv --reuid=65534 --regid=65534 --clear-groups" start_app --target-pid "$TARGET_PID" || exit 1
	# (lighttpd runs as root here and reaches the 0660 socket as is; a chmod
	# now would race with the app's own check of its socket's mode)
	get /v1/sys/pprof/
	expect_status "no ptrace permission: index" 200
	expect_body_has "no ptrace permission: index" "ptrace not permitted on target pid $TARGET_PID (uid 0): pprof-fcgi runs as uid 65534 without CAP_SYS_PTRACE"
	grep -q "ptrace not permitted" "$T/app.log" && pass "no ptrace permission: logged at start" \
		|| fail "no ptrace permission: not logged: $(tail -2 "$T/app.log")"
	get /v1/sys/pprof/cmdline
	expect_status "no ptrace permission: cmdline still readable" 200
	for ep in 'profile?seconds=1' 'goroutine?debug=2' 'block?seconds=1' 'trace?seconds=1'; do
		get "/v1/sys/pprof/$ep"
		expect_status "no ptrace permission: $ep" 503
		expect_body_has "no ptrace permission: $ep" "ptrace not permitted on target pid $TARGET_PID"
	done
fi

# --- sockets strangers could reach are refused unless allowed
"$APP" --target-pid "$TARGET_PID" --listen 0.0.0.0:1 > "$T/any.out" 2>&1; rc=$?
[ "$rc" = 2 ] && grep -q "refusing to listen on TCP address 0.0.0.0" "$T/any.out" \
	&& pass "0.0.0.0 refused: exit 2 with reason" || fail "0.0.0.0: exit $rc: $(cat "$T/any.out")"
rm -f "$T/open.sock"
spawn-fcgi -n -s "$T/open.sock" -M 0666 -- "$APP" --target-pid "$TARGET_PID" > "$T/open.out" 2>&1; rc=$?
grep -q "refusing to listen on unix socket $T/open.sock, writable by anyone" "$T/open.out" \
	&& pass "world-writable socket from spawn-fcgi refused" || fail "0666 socket: exit $rc: $(cat "$T/open.out")"
rm -f "$T/open.sock"
spawn-fcgi -n -s "$T/open.sock" -M 0666 -- "$APP" --target-pid "$TARGET_PID" --allow-insecure-listen yes \
	>> "$T/app.log" 2>&1 &
open_pid=$!
PIDS+=("$open_pid")
if WATCH=$open_pid wait_for sh -c "SCRIPT_NAME=/v1/sys/pprof PATH_INFO=/cmdline REQUEST_METHOD=GET cgi-fcgi -bind -connect $T/open.sock | grep -q '^Status: 200'"; then
	pass "allow-insecure-listen yes: served"
else
	fail "allow-insecure-listen yes: not served"
fi
kill -TERM "$open_pid" 2>/dev/null

# --- a stray start without a socket fails clearly
"$APP" --target-pid "$TARGET_PID" < /dev/null > "$T/nosock.out" 2>&1; rc=$?
[ "$rc" = 2 ] && grep -q "fd 0 is not a listening socket" "$T/nosock.out" \
	&& pass "no socket: exit 2 with reason" || fail "no socket: exit $rc: $(cat "$T/nosock.out")"

finish
