# Shared start-up of the bench scripts: paths, a private directory removed
# on exit with everything started, the demo target, pprof-fcgi on a socket,
# and the small helpers they all use. Sourced by bench/run-*.sh.
set -u
: "${top_srcdir:=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}"
: "${top_builddir:=$top_srcdir}"
APP=$top_builddir/fcgi-app/pprof-fcgi
DEMO=$top_builddir/tests/targets/demo-target
SECS=${BENCH_SECONDS:-10}
T=$(mktemp -d "${TMPDIR:-/tmp}/pprof-bench.XXXXXX")
PIDS=()
bench_cleanup() { kill "${PIDS[@]}" 2>/dev/null; wait 2>/dev/null; rm -rf "$T"; }
trap bench_cleanup EXIT

# CPU seconds (user + system) process PID has used.
cpu_s() { sed 's/.*) //' "/proc/$1/stat" | awk -v hz="$(getconf CLK_TCK)" '{ printf "%.2f", ($12 + $13) / hz }'; }

# start_demo ARGS...: the demo target, ready; sets DEMO_PID.
start_demo() {
	"$DEMO" "$@" > "$T/demo.out" &
	DEMO_PID=$!
	PIDS+=("$DEMO_PID")
	while ! grep -q '^ready' "$T/demo.out"; do sleep 0.01; done
}

# start_app ARGS...: pprof-fcgi on $T/app.sock, ready; sets APP_PID.
start_app() {
	rm -f "$T/app.sock"
	"$APP" --listen "unix:$T/app.sock" "$@" 2> "$T/app.log" &
	APP_PID=$!
	PIDS+=("$APP_PID")
	while [ ! -S "$T/app.sock" ]; do sleep 0.01; done
}

# request ENDPOINT QUERY OUT: one request straight over FastCGI.
request() {
	SCRIPT_NAME=/v1/sys/pprof PATH_INFO="/$1" REQUEST_METHOD=GET QUERY_STRING="$2" \
		cgi-fcgi -bind -connect "$T/app.sock" > "$3"
}
