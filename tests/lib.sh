# Shared helpers of the end-to-end tests: start lighttpd, pprof-fcgi and a
# target in a private directory, wait for each to be ready by polling (never
# by sleeping a guessed time), and tear everything down on exit, failure
# included. Sourced by tests/e2e_*.sh.
set -u

: "${top_srcdir:=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}"
: "${top_builddir:=$top_srcdir}"
APP="$top_builddir/fcgi-app/pprof-fcgi"
DEMO="$top_builddir/tests/targets/demo-target"
SPLIT="$top_builddir/tests/targets/cpu-split"
# the browser viewer as make copied it into the build tree (ui/Makefile.am)
VIEWER="$top_builddir/ui/viewer"

T=$(mktemp -d "${TMPDIR:-/tmp}/pprof-e2e.XXXXXX")
PIDS=()
FAILS=0
PASSES=0

cleanup() {
	local p
	for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null; done
	for p in "${PIDS[@]}"; do
		# bounded wait, then force
		for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
		kill -KILL "$p" 2>/dev/null
		wait "$p" 2>/dev/null
	done
	if [ "${KEEP_TMP:-0}" = 1 ]; then echo "kept $T"; else rm -rf "$T"; fi
}
trap cleanup EXIT

# cpu_exclusive: this test measures how CPU time is shared under a load it
# makes itself (hogs, busy threads); two such tests at once (make -j)
# would skew each other's shares. Holds a lock until the test exits.
cpu_exclusive() {
	exec 9> "$top_builddir/tests/.cpu-exclusive.lock"
	flock 9
}

pass() { PASSES=$((PASSES + 1)); echo "ok - $*"; }
fail() { FAILS=$((FAILS + 1)); echo "FAIL - $*"; }

# Polls "$@" every 50 ms until it succeeds; gives up after $WAIT_S seconds,
# or at once when the process $WATCH (if set) has died.
wait_for() {
	local tries=$(( ${WAIT_S:-20} * 20 ))
	while [ "$tries" -gt 0 ]; do
		"$@" >/dev/null 2>&1 && return 0
		if [ -n "${WATCH:-}" ] && ! kill -0 "$WATCH" 2>/dev/null; then
			echo "process $WATCH died while waiting for: $*" >&2
			return 1
		fi
		sleep 0.05
		tries=$((tries - 1))
	done
	echo "timed out waiting for: $*" >&2
	return 1
}

# Starts the demo target (or $TARGET_BIN); sets TARGET_PID once it printed
# "ready". An earlier target's output goes first: the new one truncates it
# only once it runs, and its "ready" read before that was taken for this
# one's while TARGET_PID was still a shell, not yet exec'd.
start_target() {
	rm -f "$T/target.out" "$T/target.err"
	"${TARGET_BIN:-$DEMO}" "$@" > "$T/target.out" 2> "$T/target.err" &
	TARGET_PID=$!
	PIDS+=("$TARGET_PID")
	WATCH=$TARGET_PID wait_for grep -q '^ready' "$T/target.out" || { cat "$T/target.err"; return 1; }
}

# Starts pprof-fcgi on $SOCK ($T/app.sock) with the given options; $AS may
# hold a command prefix (setpriv ...) to run it as another user, and
# $CPU_SAMPLER a cpu-sampler to force, $PERF_LAYOUT a perf-layout.
SOCK="$T/app.sock"
start_app() {
	${AS:-} "$APP" --listen "unix:$SOCK" ${CPU_SAMPLER:+--cpu-sampler "$CPU_SAMPLER"} \
		${PERF_LAYOUT:+--perf-layout "$PERF_LAYOUT"} "$@" 2>> "$T/app.log" &
	APP_PID=$!
	PIDS+=("$APP_PID")
	WATCH=$APP_PID wait_for test -S "$SOCK" || { cat "$T/app.log"; return 1; }
}

# Runs "$1 PORT" (which writes a config for PORT, starts a server in the
# background and sets SERVER_PID) on random loopback ports until the server
# answers; sets BASE. A taken port is the one race expected here.
on_free_port() {
	local start=$1 attempt port
	for attempt in 1 2 3 4 5 6 7 8; do
		port=$(( 20000 + (RANDOM * 32768 + RANDOM) % 40000 ))
		"$start" "$port" || return 1
		BASE="http://127.0.0.1:$port"
		if WATCH=$SERVER_PID wait_for curl -s -o /dev/null "$BASE/"; then
			PIDS+=("$SERVER_PID")
			return 0
		fi
		kill "$SERVER_PID" 2>/dev/null; wait "$SERVER_PID" 2>/dev/null
	done
	return 1
}

# The conf/ examples' authentication (the token or basic auth) as the
# tests run it: users from $T/htpasswd (BASIC_USER, BASIC_PASSWORD).
# AUTH=token-only: lighttpd's token-only variant, made as its comment says
# (url.access-deny in place of auth.require: no token is a 403).
BASIC_USER=e2e-user BASIC_PASSWORD=e2e-password
auth_conf() {
	[ -f "$T/htpasswd" ] || htpasswd -cbm "$T/htpasswd" "$BASIC_USER" "$BASIC_PASSWORD" 2>/dev/null
	sed -e "s|/etc/pprof-fcgi/htpasswd|$T/htpasswd|" |
	if [ "${AUTH:-}" = token-only ]; then
		sed -e 's|auth.require = ( "" => var.pprof_basic )|url.access-deny = ( "" )|'
	else
		cat
	fi
}

# conf/lighttpd.conf (or $LIGHTTPD_CONF) with the test's socket, port and
# token.
TOKEN=e2e-token
lighttpd_conf() { # PORT
	sed -e "s|^var.pprof_socket = .*|var.pprof_socket = \"$SOCK\"|" \
	    -e "s|^var.pprof_port = .*|var.pprof_port = $1|" \
	    -e "s|^var.pprof_token = .*|var.pprof_token = \"$TOKEN\"|" \
	    -e "s|^var.pprof_htpasswd = .*|var.pprof_htpasswd = \"$T/htpasswd\"|" \
	    -e "s|^var.pprof_ui = .*|var.pprof_ui = \"$VIEWER/\"|" \
	    -e "s|^server.document-root = .*|server.document-root = \"$T\"|" \
	    -e "s|^server.errorlog = .*|server.errorlog = \"$T/lighttpd.err\"|" \
	    -e "s|^accesslog.filename = .*|accesslog.filename = \"$T/access.log\"|" \
	    "${LIGHTTPD_CONF:-$top_srcdir/conf/lighttpd.conf}" | auth_conf |
	if [ "${NO_TOKEN:-0}" = 1 ]; then
		# tests that run go tool pprof run without authentication, as
		# run.sh does
		sed -e '/^# BEGIN auth/,/^# END auth/d'
	else
		cat
	fi
}
lighttpd_run() { # PORT
	lighttpd_conf "$1" > "$T/lighttpd.conf"
	lighttpd -D -f "$T/lighttpd.conf" > "$T/lighttpd.out" 2>&1 &
	SERVER_PID=$!
}
start_lighttpd() {
	on_free_port lighttpd_run && LIGHTTPD_PID=$SERVER_PID && return 0
	cat "$T/lighttpd.out" "$T/lighttpd.err" 2>/dev/null
	return 1
}

# conf/nginx.conf inside a minimal main config of the test's own.
nginx_run() { # PORT
	mkdir -p "$T/nginx"
	cp /etc/nginx/fastcgi_params "$T/nginx/"
	sed -e "s|unix:/run/pprof-fcgi/pprof-fcgi.sock|unix:$SOCK|" \
	    -e "s|listen 127.0.0.1:8200;|listen 127.0.0.1:$1;|" \
	    -e "s|/usr/local/share/pprof-fcgi/ui|$VIEWER|" \
	    -e "s|\"change-me\"|\"$TOKEN\"|" -e "s|\"Bearer change-me\"|\"Bearer $TOKEN\"|" \
	    "$top_srcdir/conf/nginx.conf" | auth_conf > "$T/nginx/site.conf"
	cat > "$T/nginx/nginx.conf" <<EON
daemon off;
master_process off;
pid $T/nginx/nginx.pid;
error_log $T/nginx/error.log info;
events { worker_connections 64; }
http {
	access_log $T/nginx/access.log;
	client_body_temp_path $T/nginx/body;
	fastcgi_temp_path $T/nginx/fastcgi;
	proxy_temp_path $T/nginx/proxy;
	uwsgi_temp_path $T/nginx/uwsgi;
	scgi_temp_path $T/nginx/scgi;
	include $T/nginx/site.conf;
}
EON
	nginx -p "$T/nginx" -c "$T/nginx/nginx.conf" > "$T/nginx/out" 2>&1 &
	SERVER_PID=$!
}
start_nginx() {
	on_free_port nginx_run && return 0
	cat "$T/nginx/out" "$T/nginx/error.log" 2>/dev/null
	return 1
}

# conf/apache.conf inside a minimal main config; Apache's children run as
# www-data, which reaches the socket through its group, as deployed.
apache_run() { # PORT
	mkdir -p "$T/apache"
	# www-data reads the viewer: a copy in $T, since the build tree may lie
	# under a directory only root can enter (a clone in a mktemp -d)
	[ -d "$T/apache/ui" ] || { cp -rL "$VIEWER" "$T/apache/ui" && chmod -R a+rX "$T/apache/ui"; }
	sed -e "s|unix:/run/pprof-fcgi/pprof-fcgi.sock|unix:$SOCK|g" \
	    -e "s|127.0.0.1:8200|127.0.0.1:$1|g" \
	    -e "s|/usr/local/share/pprof-fcgi/ui|$T/apache/ui|g" \
	    -e "s|'change-me'|'$TOKEN'|" -e "s|'Bearer change-me'|'Bearer $TOKEN'|" \
	    "$top_srcdir/conf/apache.conf" | auth_conf > "$T/apache/site.conf"
	local mods=/usr/lib/apache2/modules
	cat > "$T/apache/apache.conf" <<EOA
ServerRoot $T/apache
ServerName localhost
PidFile $T/apache/httpd.pid
Mutex file:$T/apache default
ErrorLog $T/apache/error.log
LogLevel warn
LoadModule mpm_event_module $mods/mod_mpm_event.so
LoadModule authz_core_module $mods/mod_authz_core.so
LoadModule authz_user_module $mods/mod_authz_user.so
LoadModule authn_core_module $mods/mod_authn_core.so
LoadModule authn_file_module $mods/mod_authn_file.so
LoadModule auth_basic_module $mods/mod_auth_basic.so
LoadModule proxy_module $mods/mod_proxy.so
LoadModule proxy_fcgi_module $mods/mod_proxy_fcgi.so
LoadModule alias_module $mods/mod_alias.so
LoadModule mime_module $mods/mod_mime.so
LoadModule headers_module $mods/mod_headers.so
LoadModule dir_module $mods/mod_dir.so
TypesConfig /etc/mime.types
User www-data
Group www-data
Include $T/apache/site.conf
EOA
	apache2 -X -f "$T/apache/apache.conf" > "$T/apache/out" 2>&1 &
	SERVER_PID=$!
}
start_apache() {
	on_free_port apache_run && return 0
	cat "$T/apache/out" "$T/apache/error.log" 2>/dev/null
	return 1
}

# get PATH [curl options...]: fetches $BASE$PATH with the token; sets
# STATUS, and the files $T/body and $T/headers.
get() {
	local path=$1; shift
	STATUS=$(curl -s -o "$T/body" -D "$T/headers" -w '%{http_code}' \
		-H "X-Vault-Token: $TOKEN" "$@" "$BASE$path")
}

# header NAME: the value of a response header of the last get.
header() {
	grep -i "^$1:" "$T/headers" | head -n1 | sed -e 's/^[^:]*: *//' -e 's/\r$//'
}

expect_status() { # NAME WANT
	if [ "$STATUS" = "$2" ]; then pass "$1: status $2"; else fail "$1: status $STATUS, want $2 (body: $(head -c 300 "$T/body"))"; fi
}
expect_header() { # NAME HEADER WANT
	local got; got=$(header "$2")
	if [ "$got" = "$3" ]; then pass "$1: $2: $3"; else fail "$1: $2 is '$got', want '$3'"; fi
}
expect_body() { # NAME WANT (exact)
	if [ "$(cat "$T/body")" = "$2" ]; then pass "$1: body"; else fail "$1: body is '$(head -c 300 "$T/body")', want '$2'"; fi
}
expect_body_has() { # NAME TEXT
	if grep -qF -- "$2" "$T/body"; then pass "$1: body has '$2'"; else fail "$1: body lacks '$2': $(head -c 300 "$T/body")"; fi
}

# expect_viewer NAME PATH: PATH (with the token) is the viewer's index.html,
# as the web server serves it
expect_viewer() {
	get "$2"
	expect_status "$1: $2" 200
	cmp -s "$T/body" "$VIEWER/index.html" && pass "$1: $2 is the viewer's" \
		|| fail "$1: $2 is not the viewer's: $(head -c 200 "$T/body")"
	expect_header "$1: $2" Content-Type "text/html; charset=utf-8"
}

# untraced PID: every thread of PID has TracerPid 0.
untraced() {
	! grep -h '^TracerPid:' /proc/"$1"/task/*/status 2>/dev/null | grep -qv $'TracerPid:\t0$'
}
# traced PID: some thread of PID is traced now.
traced() { ! untraced "$1"; }
# sampling PID: a CPU profile of PID is under way: by ptrace (a thread
# traced) or by perf_event (pprof-fcgi, $APP_PID, holds perf events)
sampling() { traced "$1" || perf_fds "$APP_PID" | grep -qv '^0$'; }
# perf_fds PID: how many perf_event descriptors PID holds
perf_fds() { ls -l /proc/"$1"/fd 2>/dev/null | grep -c 'perf_event'; }

# cpu_ticks PID: utime + stime of the process, in clock ticks.
cpu_ticks() {
	sed 's/.*) //' "/proc/$1/stat" | awk '{ print $12 + $13 }'
}

# contend_ran: the "ran A B C" line of targets/contend ($TARGET_PID, its
# output in $T/target.out) after asking for it: the CPU ns its burst
# functions ran so far, by the loop thread's own clock
contend_ran() {
	local before; before=$(grep -c '^ran' "$T/target.out")
	kill -USR1 "$TARGET_PID"
	WAIT_S=5 wait_for sh -c "[ \$(grep -c '^ran' '$T/target.out') -gt $before ]"
	grep '^ran' "$T/target.out" | tail -n1
}
# contend_profile FILE SECONDS: a 500 Hz CPU profile of targets/contend
# ($TARGET_PID, served at $P) into FILE, the truth read around it: sets
# ran0 and ran1 (contend_ran) and ticks0 and ticks1 (cpu_ticks)
contend_profile() {
	local c
	curl -s -o "$1" "$P/profile?seconds=$2&hz=500" & c=$!
	WAIT_S=10 wait_for sampling "$TARGET_PID"
	# /proc first: contend_ran's round trip took seconds on a loaded
	# machine, time the profile holds and a later ticks0 did not (110%)
	ticks0=$(cpu_ticks "$TARGET_PID"); ran0=$(contend_ran)
	# the window ends when pprof-fcgi stops sampling, before it symbolizes
	contend_over() { ! kill -0 "$c" 2>/dev/null || ! sampling "$TARGET_PID"; }
	WAIT_S=$(($2 + 30)) wait_for contend_over
	ticks1=$(cpu_ticks "$TARGET_PID"); ran1=$(contend_ran)
	wait $c
}

# ---- heap profiles (e2e_heap.sh, e2e_redis.sh)
# value FILE INDEX FUNC: the flat value of FUNC for sample INDEX, in bytes
# or objects, as go tool pprof prints it (0 when FUNC is not listed)
value() {
	go tool pprof -unit=B -sample_index="$2" -top -nodecount=1000 -nodefraction=0 "$1" 2>/dev/null |
		awk -v f="$3" '$6 == f { v = $1; sub(/B$/, "", v); print v; found = 1 } END { if (!found) print 0 }'
}
# cum FILE INDEX FUNC: the same, cumulative (FUNC and what it calls)
cum() {
	go tool pprof -unit=B -sample_index="$2" -top -nodecount=1000 -nodefraction=0 "$1" 2>/dev/null |
		awk -v f="$3" '$6 == f { v = $4; sub(/B$/, "", v); print v; found = 1 } END { if (!found) print 0 }'
}
# ms_of FUNC: FUNC's cumulative ms in go tool pprof -top -unit=ms output
# ($TOP, or $T/top.txt); a clone suffix (".constprop.0") is the same FUNC
ms_of() { awk -v f="$1" '$NF == f || index($NF, f ".") == 1 { sub(/ms$/, "", $4); print $4 + 0; exit }' "${TOP:-$T/top.txt}"; }
# within NAME GOT WANT PERCENT
within() {
	if awk -v g="$2" -v w="$3" -v p="$4" 'BEGIN { d = g - w; if (d < 0) d = -d; exit !(d <= w * p / 100) }'; then
		pass "$1: $2 (want $3 ±$4%)"
	else
		fail "$1: $2, want $3 ±$4%"
	fi
}
# equal NAME GOT WANT
equal() { [ "$2" = "$3" ] && pass "$1: $2" || fail "$1: $2, want $3"; }

# ---- the agent in Debian's redis-server (e2e_redis.sh, e2e_agent_redis.sh):
# its allocations go through jemalloc; /heap read at $P (rate 1)
MiB=1048576
RSOCK=$T/redis.sock
# start_redis [PREFIX...]: redis-server on $RSOCK without persistence, run
# by PREFIX (env LD_PRELOAD=... for the preloaded agent); sets REDIS_PID,
# ready once it answers
start_redis() {
	"$@" redis-server --port 0 --unixsocket "$RSOCK" --save '' \
		--appendonly no --logfile "$T/redis.log" > /dev/null 2>&1 &
	REDIS_PID=$!
	PIDS+=("$REDIS_PID")
	WATCH=$REDIS_PID wait_for redis-cli -s "$RSOCK" ping ||
		{ fail "redis-server did not start: $(tail -n 5 "$T/redis.log")"; return 1; }
}
# inuse: the bytes in use the last debug=1 answer's header gives; used:
# redis's own count, INFO memory's used_memory
inuse() { sed -n '1s/^heap profile: [0-9]*: \([0-9]*\) \[.*/\1/p' "$T/body"; }
used() { redis-cli -s "$RSOCK" info memory | tr -d '\r' | sed -n 's/^used_memory://p'; }
# redis_pipe WHAT FILE N: FILE's N commands into redis, every one answered
# without an error
redis_pipe() {
	redis-cli -s "$RSOCK" --pipe < "$2" > "$T/pipe.out" 2>&1
	grep -q "errors: 0, replies: $3\$" "$T/pipe.out" && pass "$1: redis answered $3 commands" \
		|| fail "$1: redis-cli --pipe: $(tail -n 2 "$T/pipe.out")"
}
# redis_values WHAT: 64 SETs of 1 MiB: /heap rises with used_memory, all
# under readQueryFromClient (a value of 1 MiB asked is 1.25 MiB held in
# jemalloc's size classes: what used_memory counts, and /heap); sets before
# (in use at the start) and leaves the profile in $T/full.pb.gz
redis_values() {
	get "$P/heap?debug=1"
	expect_status "$1: heap debug=1 before" 200
	before=$(inuse)
	local used_before held rose i
	used_before=$(used)
	[ -n "$before" ] && pass "$1: in use at the start: $before B" || fail "$1: no heap header: $(head -c 200 "$T/body")"
	head -c "$MiB" /dev/zero | tr '\0' v > "$T/value"
	for i in $(seq 0 63); do
		printf '*3\r\n$3\r\nSET\r\n$%d\r\n%s\r\n$%d\r\n' $((4 + ${#i})) "big:$i" "$MiB"
		cat "$T/value"
		printf '\r\n'
	done > "$T/set.resp"
	redis_pipe "$1: 64 values of 1 MiB" "$T/set.resp" 64
	get "$P/heap?debug=1"
	held=$(inuse) rose=$(($(used) - used_before))
	[ "$rose" -ge $((64 * MiB)) ] && pass "$1: used_memory rose by $rose B" || fail "$1: used_memory rose by $rose B"
	within "$1: in use after 64 values of 1 MiB, over the start, against used_memory's rise" \
		$((${held:-0} - ${before:-0})) $rose 1
	get "$P/heap"
	cp "$T/body" "$T/full.pb.gz"
	within "$1: inuse_space under readQueryFromClient" \
		"$(cum "$T/full.pb.gz" inuse_space readQueryFromClient)" $rose 10
}
# redis_values_gone WHAT: after FLUSHALL, redis_values' values are gone
# from /heap; leaves the profile in $T/empty.pb.gz
redis_values_gone() {
	redis-cli -s "$RSOCK" flushall sync > /dev/null
	get "$P/heap?debug=1"
	local left gone v
	left=$(inuse)
	gone=$((${left:-0} - ${before:-0}))
	[ -n "$left" ] && [ "$gone" -lt $((4 * MiB)) ] && pass "$1: deleted: in use $gone B over the start" \
		|| fail "$1: after FLUSHALL, in use $left B (start $before B)"
	get "$P/heap"
	cp "$T/body" "$T/empty.pb.gz"
	v=$(cum "$T/empty.pb.gz" inuse_space readQueryFromClient)
	[ "${v%.*}" -lt $((2 * MiB)) ] && pass "$1: nothing left in use under readQueryFromClient ($v B)" \
		|| fail "$1: in use under readQueryFromClient after FLUSHALL: $v B"
}
# redis_keys WHAT N: N keys of 1 KiB (their commands left in $T/keys.resp):
# /heap counts what jemalloc holds for each block, as redis's own
# used_memory does (zmalloc_size: malloc_usable_size), so the two rise by
# the same bytes (1 KiB asked is 1,280 B held, with the key, its object
# and its dict entry besides); the difference is allocations redis makes
# outside zmalloc. Bytes asked for fell ~20% short of used_memory. After
# FLUSHALL both are back where they were. The profiles before and after
# the keys are left in $T/keys0.pb.gz and $T/keys1.pb.gz.
redis_keys() {
	local heap0 used0 heap1 used1 heap2 used2 d u
	head -c 1024 /dev/zero | tr '\0' k > "$T/kvalue"
	awk -v n="$2" -v v="$(cat "$T/kvalue")" 'BEGIN {
		for (i = 0; i < n; i++) {
			k = "key:" i
			printf "*3\r\n$3\r\nSET\r\n$%d\r\n%s\r\n$%d\r\n%s\r\n", length(k), k, length(v), v
		}
	}' > "$T/keys.resp"
	get "$P/heap?debug=1"
	heap0=$(inuse) used0=$(used)
	get "$P/heap"
	cp "$T/body" "$T/keys0.pb.gz"
	redis_pipe "$1: $2 keys of 1 KiB" "$T/keys.resp" "$2"
	get "$P/heap?debug=1"
	heap1=$(inuse) used1=$(used)
	get "$P/heap"
	cp "$T/body" "$T/keys1.pb.gz"
	within "$1: in use after $2 keys of 1 KiB, against used_memory's rise ($((used1 - used0)) B)" \
		$((heap1 - heap0)) $((used1 - used0)) 1
	redis-cli -s "$RSOCK" flushall sync > /dev/null
	get "$P/heap?debug=1"
	heap2=$(inuse) used2=$(used)
	d=$((heap2 - heap0)) u=$((used2 - used0))
	[ "${d#-}" -le $(((heap1 - heap0) / 100)) ] && [ "${u#-}" -le $(((used1 - used0) / 100)) ] \
		&& pass "$1: after FLUSHALL: in use back to the start ($d B), as used_memory ($u B)" \
		|| fail "$1: after FLUSHALL: in use $d B from the start, used_memory $u B"
}

# ---- targets/late-target, into which the agent is loaded while 8
# threads allocate (e2e_agent_late.sh, e2e_agent_mntns.sh); /heap read at $P
# late BIN [ARGS]: starts BIN reading commands from a fifo (fd 7)
late() {
	rm -f "$T/cmd" "$T/target.out"
	mkfifo "$T/cmd"
	"$@" < "$T/cmd" > "$T/target.out" 2> "$T/target.err" &
	TARGET_PID=$!
	PIDS+=("$TARGET_PID")
	exec 7> "$T/cmd"
	WATCH=$TARGET_PID wait_for grep -q '^ready' "$T/target.out"
}
# say COMMAND ANSWER: sends COMMAND, waits for a line starting with ANSWER
say() {
	echo "$1" >&7
	WATCH=$TARGET_PID WAIT_S=60 wait_for grep -q "^$2" "$T/target.out" || fail "no answer $2 to $1"
}
held() { awk -v s="$1" -v f="${2:-3}" '$1 == "held" && $2 == s { v = $f } END { print v }' "$T/target.out"; }
serve() { start_app --target-pid "$TARGET_PID" && NO_TOKEN=1 start_lighttpd; }
unserve() {
	exec 7>&-
	kill ${APP_PID:-} ${LIGHTTPD_PID:-} "$TARGET_PID" 2>/dev/null
	wait ${APP_PID:-} ${LIGHTTPD_PID:-} "$TARGET_PID" 2>/dev/null
	rm -f "$SOCK"
}
# exact_heap WHAT: once every worker replaced its blocks since the load,
# /heap's late_alloc_here equals what the target holds (rate 1)
exact_heap() {
	say pause paused
	get "$P/heap"
	expect_status "$1: heap" 200
	cp "$T/body" "$T/heap.pb.gz"
	equal "$1: late_alloc_here inuse_space" "$(value "$T/heap.pb.gz" inuse_space late_alloc_here)" "$(held late_alloc_here)"
	equal "$1: late_alloc_here inuse_objects" "$(value "$T/heap.pb.gz" inuse_objects late_alloc_here)" "$(held late_alloc_here 4)"
}
alive() {
	kill -0 "$TARGET_PID" 2>/dev/null && pass "$1: the target runs on" || fail "$1: the target died: $(tail -n 3 "$T/target.err")"
}

# Ends the test: stops the app so a sanitizer build reports leaks, fails on
# any sanitizer report in its log, and prints the summary line CI reads.
finish() {
	if [ -n "${APP_PID:-}" ] && kill -0 "$APP_PID" 2>/dev/null; then
		kill -TERM "$APP_PID"
		wait "$APP_PID" 2>/dev/null
	fi
	if grep -qE 'Sanitizer|runtime error:' "$T/app.log" 2>/dev/null; then
		fail "sanitizer report in the app's log:"
		grep -A30 -E 'Sanitizer|runtime error:' "$T/app.log" | head -60
	fi
	echo "$PASSES passed, $FAILS failed"
	[ "$FAILS" -eq 0 ]
}
