#!/bin/bash
# From a build to a running service, as docs/deployment.md says: make
# install with --prefix into a scratch directory puts pprof-fcgi, the
# agent, the conf examples, the config, the systemd units (with the
# configured paths, the socket directory made by RuntimeDirectory=) and
# their user (sysusers.d); the installed binary, run as the installed unit
# runs it, with the installed config, answers behind lighttpd from the
# installed example; run by hand without the socket's directory, it says
# which directory to make; make uninstall leaves no file behind.
. "$(dirname "$0")/lib.sh"
export HOME="$T" PPROF_TMPDIR="$T"
PREFIX=$T/prefix
UNIT=$PREFIX/lib/systemd/system/pprof-fcgi.service

make -s -C "$top_builddir" install prefix="$PREFIX" > "$T/install.out" 2>&1 \
	&& pass "make install prefix=\$T/prefix" || { fail "make install: $(tail -5 "$T/install.out")"; finish; exit 1; }
for f in bin/pprof-fcgi lib/libpprof-agent.so etc/pprof-fcgi/pprof-fcgi.conf \
	lib/systemd/system/pprof-fcgi.service lib/systemd/system/pprof-fcgi@.service \
	lib/sysusers.d/pprof-fcgi.conf share/pprof-fcgi/conf/lighttpd.conf \
	share/pprof-fcgi/conf/nginx.conf share/pprof-fcgi/conf/apache.conf \
	share/pprof-fcgi/conf/pprof-fcgi.conf; do
	[ -f "$PREFIX/$f" ] && pass "installed: $f" || fail "not installed: $f"
done

# --- the units: the configured paths, no @placeholder@ left
grep -q "^ExecStart=$PREFIX/bin/pprof-fcgi --config $PREFIX/etc/pprof-fcgi/pprof-fcgi.conf --listen unix:/run/pprof-fcgi/pprof-fcgi.sock$" "$UNIT" \
	&& pass "the unit runs the installed binary with the installed config" || fail "unit: $(grep ExecStart "$UNIT")"
left=$(grep -h '@[a-z_]*@' "$UNIT" "$PREFIX/lib/systemd/system/pprof-fcgi@.service")
[ -z "$left" ] && pass "no placeholder left in the units" || fail "a placeholder is left: $left"
grep -q '^RuntimeDirectory=pprof-fcgi$' "$UNIT" && pass "RuntimeDirectory=pprof-fcgi makes /run/pprof-fcgi" \
	|| fail "no RuntimeDirectory=pprof-fcgi"
grep -q '^CacheDirectory=pprof-fcgi$' "$UNIT" && grep -q '^Environment=DEBUGINFOD_CACHE_PATH=%C/pprof-fcgi/' "$UNIT" \
	&& pass "debuginfod's cache in the unit's CacheDirectory=" || fail "no debuginfod cache directory"
grep -q '^AmbientCapabilities=CAP_SYS_PTRACE CAP_PERFMON CAP_SYSLOG$' "$UNIT" \
	&& ! grep -q '^ProtectKernelTunables=yes' "$UNIT" && pass "CAP_SYS_PTRACE, CAP_PERFMON, CAP_SYSLOG; kallsyms not hidden" \
	|| fail "capabilities: $(grep Capabilit "$UNIT")"
out=$(systemd-analyze verify "$UNIT" "$PREFIX/lib/systemd/system/pprof-fcgi@.service" 2>&1) && [ -z "$out" ] \
	&& pass "systemd-analyze verify the installed units" || fail "verify: $out"
user=$(sed -n 's/^User=//p' "$UNIT")
mkdir -p "$T/sysroot/etc"
systemd-sysusers --root="$T/sysroot" "$PREFIX/lib/sysusers.d/pprof-fcgi.conf" > /dev/null 2>&1
grep -q "^$user:" "$T/sysroot/etc/passwd" && pass "systemd-sysusers creates the unit's User=$user" \
	|| fail "no user $user from $PREFIX/lib/sysusers.d/pprof-fcgi.conf"

# --- by hand, without the socket's directory: which one to make
"$PREFIX/bin/pprof-fcgi" --target-pid $$ --listen "unix:$T/run/pprof-fcgi/pprof-fcgi.sock" > "$T/hand.out" 2>&1
grep -q "directory $T/run/pprof-fcgi does not exist: create it (mkdir -p $T/run/pprof-fcgi" "$T/hand.out" \
	&& pass "a missing socket directory is named, with the mkdir" || fail "by hand: $(cat "$T/hand.out")"

# --- the installed binary, as the installed unit runs it, behind lighttpd
# from the installed example
start_target || exit 1
sed -i "s|^# target-pid = .*|target-pid = $TARGET_PID|" "$PREFIX/etc/pprof-fcgi/pprof-fcgi.conf"
cmd=$(sed -n 's/^ExecStart=//p' "$UNIT" | sed "s|unix:/run/pprof-fcgi/pprof-fcgi.sock|unix:$SOCK|")
$cmd 2>> "$T/app.log" &
APP_PID=$!
PIDS+=("$APP_PID")
WATCH=$APP_PID wait_for test -S "$SOCK" || { fail "the installed pprof-fcgi: $(cat "$T/app.log")"; finish; exit 1; }
LIGHTTPD_CONF="$PREFIX/share/pprof-fcgi/conf/lighttpd.conf" start_lighttpd || exit 1
P=/v1/sys/pprof
curl -s -H "X-Vault-Token: $TOKEN" -o "$T/index.html" -w '%{http_code}' "$BASE$P/" > "$T/code"
equal "the index through the installed lighttpd example" "$(cat "$T/code")" 200
grep -q "pid $TARGET_PID" "$T/index.html" && pass "it names the installed config's target" \
	|| fail "index: $(head -c 300 "$T/index.html")"
curl -s -H "X-Vault-Token: $TOKEN" "$BASE$P/goroutine?debug=1" > "$T/g.txt"
grep -q $'^#\t0x[0-9a-f]*\twait_for_lock+0x' "$T/g.txt" && pass "goroutine?debug=1, symbolized" \
	|| fail "goroutine: $(head -3 "$T/g.txt")"

# --- uninstall: no file left (the config, unchanged, goes too; edited, it stays)
make -s -C "$top_builddir" uninstall prefix="$PREFIX" > "$T/uninstall.out" 2>&1 || fail "make uninstall"
left=$(find "$PREFIX" -type f | sed "s|$PREFIX/||")
equal "files left by make uninstall" "$left" "etc/pprof-fcgi/pprof-fcgi.conf"
finish
