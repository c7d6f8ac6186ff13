#!/bin/bash
# ./run.sh: installs what is missing, builds, and serves the pprof API of a
# bundled demo target (or of --target-pid PID) through lighttpd on
# 127.0.0.1:8200 until Ctrl-C, then stops everything it started.
#
#   ./run.sh [--target-pid PID] [--port PORT]
set -euo pipefail
cd "$(dirname "$0")"
top=$(pwd)
port=8200
target_pid=
while [ $# -gt 0 ]; do
	case "$1" in
	--target-pid) target_pid=${2:?--target-pid needs a pid}; shift 2 ;;
	--port) port=${2:?--port needs a number}; shift 2 ;;
	-h|--help) sed -n '2,${/^#/!q;s/^# \{0,1\}//p}' "$0"; exit 0 ;; # the comment on top
	*) echo "run.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
	esac
done
if [ -n "$target_pid" ] && ! kill -0 "$target_pid" 2>/dev/null; then
	echo "run.sh: no process with pid $target_pid" >&2
	exit 1
fi

tools/install-deps.sh
# the flame-graph viewer; without it (offline) everything else works
viewer_note=
tools/fetch-viewer.sh > /dev/null ||
	viewer_note="(no flame graphs: tools/fetch-viewer.sh failed; run it, then rm -rf build and ./run.sh)"
if [ ! -x build/fcgi-app/pprof-fcgi ] || [ ! -f build/Makefile ]; then
	./autogen.sh > /dev/null
	[ -f Makefile ] && make distclean > /dev/null 2>&1 || true
	mkdir -p build
	(cd build && ../configure -q)
fi
echo "run.sh: building"
make -s -C build -j"$(nproc 2>/dev/null || echo 2)" > /dev/null

run=$top/run
mkdir -p "$run"
rm -f "$run/pprof-fcgi.sock"
pids=()
stop() {
	trap - EXIT INT TERM
	echo
	echo "run.sh: stopping"
	local p
	for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
	for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
}
trap stop EXIT
trap 'exit 0' INT TERM

# wait_up SECONDS PID COMMAND...: polls COMMAND until it succeeds
wait_up() {
	local tries=$(($1 * 20)) pid=$2; shift 2
	while ! "$@" > /dev/null 2>&1; do
		kill -0 "$pid" 2>/dev/null || return 1
		tries=$((tries - 1)); [ "$tries" -gt 0 ] || return 1
		sleep 0.05
	done
}

if [ -z "$target_pid" ]; then
	# with the preload agent, so /heap, /allocs and /threadcreate have data
	LD_PRELOAD="$PWD/build/agent/.libs/libpprof-agent.so" \
		build/tests/targets/demo-target --pidfile "$run/demo.pid" > "$run/demo.out" 2>&1 &
	pids+=($!)
	wait_up 10 $! grep -q '^ready' "$run/demo.out" || { cat "$run/demo.out"; exit 1; }
	target_pid=$(cat "$run/demo.pid")
	what="the demo target (pid $target_pid: threads hash-worker, sort-worker, lock-holder, lock-waiter, cond-waiter, sleeper, pipe-reader, epoll-waiter)"
else
	what="pid $target_pid ($(cat "/proc/$target_pid/comm"))"
fi

# lighttpd serves the viewer from the build tree, not from where make
# install would put it: the flame-graph links are on when it is there
viewer=off
[ -f build/ui/viewer/index.html ] && viewer=on
build/fcgi-app/pprof-fcgi --listen "unix:$run/pprof-fcgi.sock" --target-pid "$target_pid" --viewer "$viewer" \
	2> "$run/pprof-fcgi.log" &
pids+=($!)
wait_up 10 $! test -S "$run/pprof-fcgi.sock" || { cat "$run/pprof-fcgi.log"; exit 1; }

# conf/lighttpd.conf as shipped, on this port and socket. Authentication
# is left out: this demo listens on 127.0.0.1 only.
sed -e "s|^var.pprof_socket = .*|var.pprof_socket = \"$run/pprof-fcgi.sock\"|" \
    -e "s|^var.pprof_port = .*|var.pprof_port = $port|" \
    -e "s|^server.document-root = .*|server.document-root = \"$run\"|" \
    -e "s|^var.pprof_ui = .*|var.pprof_ui = \"$top/build/ui/viewer/\"|" \
    -e "s|^server.errorlog = .*|server.errorlog = \"$run/lighttpd.log\"|" \
    -e "s|^accesslog.filename = .*|accesslog.filename = \"$run/access.log\"|" \
    -e '/^# BEGIN auth/,/^# END auth/d' \
    conf/lighttpd.conf > "$run/lighttpd.conf"
lighttpd -D -f "$run/lighttpd.conf" > "$run/lighttpd.out" 2>&1 &
lighttpd_pid=$!
pids+=($lighttpd_pid)
base="http://127.0.0.1:$port/v1/sys/pprof"
if ! wait_up 10 $lighttpd_pid curl -sf -o /dev/null "$base/cmdline"; then
	echo "run.sh: lighttpd did not start on 127.0.0.1:$port (port taken? try --port N)" >&2
	cat "$run/lighttpd.out" "$run/lighttpd.log" 2>/dev/null | tail -5 >&2
	exit 1
fi

# /heap and /threadcreate say what they can: the agent's data, or without
# it an empty heap profile whose comment says how to load the agent
if grep -q libpprof-agent "/proc/$target_pid/maps" 2>/dev/null; then
	heap="live memory by allocating stack (preload agent)"
	threads="the pthread_create stacks of the threads"
else
	heap="empty: no preload agent in pid $target_pid (its comment says how to add it)"
	threads="the threads by start routine (stacks need the agent)"
fi

cat <<EOM

pprof-fcgi is serving $what
through lighttpd at $base/

Try:
  open $base/ in a browser         the index: target, threads, profiles, flame graphs $viewer_note
  curl -s $base/cmdline | tr '\\0' ' '; echo
  go tool pprof -top '$base/profile?seconds=5'     CPU profile, 5 s
  go tool pprof -http=:8300 '$base/profile?seconds=10'   the same in pprof's web UI
  curl -s '$base/goroutine?debug=2'                every thread's stack, now
  go tool pprof -top '$base/mutex?seconds=5'       where threads wait for locks
  go tool pprof -top '$base/heap'                  $heap
  curl -s '$base/threadcreate?debug=1'             $threads
  curl -o trace.pftrace '$base/trace?seconds=3'    a Perfetto trace (ui.perfetto.dev)

Logs: $run/pprof-fcgi.log, $run/lighttpd.log. Ctrl-C stops everything.
EOM
wait "$lighttpd_pid"
