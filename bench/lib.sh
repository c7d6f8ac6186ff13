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

# start_app ARGS...: pprof-fcgi on $T/NAME.sock, logging to $T/NAME.log,
# ready; sets APP_PID. NAME is $APP_NAME, "app" unless set (for a bench
# that runs several side by side).
start_app() {
	local name=${APP_NAME:-app}
	rm -f "$T/$name.sock"
	"$APP" --listen "unix:$T/$name.sock" "$@" 2> "$T/$name.log" &
	APP_PID=$!
	PIDS+=("$APP_PID")
	while [ ! -S "$T/$name.sock" ]; do sleep 0.01; done
}

# request ENDPOINT QUERY OUT: one request straight over FastCGI (to the app
# named $APP_NAME, as start_app).
request() {
	SCRIPT_NAME=/v1/sys/pprof PATH_INFO="/$1" REQUEST_METHOD=GET QUERY_STRING="$2" \
		cgi-fcgi -bind -connect "$T/${APP_NAME:-app}.sock" > "$3"
}

# ---- what the preload agent costs (run-heap-bench.sh, run-redis-bench.sh)
AGENT=$top_builddir/agent/.libs/libpprof-agent.so
FORWARD=$top_builddir/bench/.libs/forward-preload.so

# under CONF CMD...: CMD without the agent (none), under the
# forwarding-only library (fwd), the agent with sampling off (off) or at
# its default rate (def)
under() {
	local conf=$1; shift
	case $conf in
	none) "$@" ;;
	fwd) LD_PRELOAD=$FORWARD "$@" ;;
	off) PPROF_MEMRATE=0 LD_PRELOAD=$AGENT "$@" ;;
	def) LD_PRELOAD=$AGENT "$@" ;;
	esac
}

# the first two CPUs this process may run on ($cpu1 empty on one CPU):
# loads measured two at a time run one on each
cpus=$(awk '/^Cpus_allowed_list/ { n = split($2, r, ","); for (i = 1; i <= n; i++) {
	split(r[i], b, "-"); for (c = b[1]; c <= (b[2] == "" ? b[1] : b[2]); c++) printf "%d ", c } }' /proc/self/status)
read -r cpu0 cpu1 _ <<< "$cpus"

# ratios: lines "WITH WITHOUT" (one per round) in; out the median of
# WITH / WITHOUT - 1 in percent and, in brackets, the standard error of
# their mean; "failed" when no line has both
ratios() {
	awk 'NF == 2 && $2 > 0 { print ($1 / $2 - 1) * 100 }' | sort -g |
		awk '{ v[NR] = $1; s += $1; q += $1 * $1 }
		END { if (!NR) { printf "failed"; exit }
		      m = s / NR; sd = NR > 1 ? sqrt((q - NR * m * m) / (NR - 1)) : 0
		      printf "%+.2f%% (±%.2f)", v[int((NR + 1) / 2)], sd / sqrt(NR) }'
}
