#!/bin/bash
# pprof-fcgi --check with the config it would run with: for a target that
# works, exit 0 and one line per thing a first run depends on; for a
# target that does not exist, a socket directory that does not, exit 1 and
# the line that says so; a stripped module and the agent are reported.
. "$(dirname "$0")/lib.sh"
AGENT="$top_builddir/agent/.libs/libpprof-agent.so"

conf() { # TARGET-LINE LISTEN
	printf '%s\nlisten = %s\ndebug-dir = %s\n' "$1" "$2" "$T/debug" > "$T/check.conf"
}
check() { "$APP" --config "$T/check.conf" --check > "$T/check.out" 2>&1; echo $? > "$T/check.rc"; }
has() { # NAME PATTERN
	grep -q -- "$2" "$T/check.out" && pass "$1" || fail "$1: no line $2 in: $(cat "$T/check.out")"
}

# --- a target that works: exit 0, each line
TARGET_BIN="$T/demo-stripped"
cp "$DEMO" "$TARGET_BIN" && strip --strip-all "$TARGET_BIN"
PPROF_MEMRATE=1 LD_PRELOAD="$AGENT" start_target || exit 1
conf "target-pid = $TARGET_PID" "unix:$T/app.sock"
check
equal "exit status with a target that works" "$(cat "$T/check.rc")" 0
has "the config file" "^note config: $T/check.conf$"
has "the target, and why" "^ok   target: pid $TARGET_PID (demo-stripped, $TARGET_BIN), as target-pid gives it$"
has "ptrace allowed, with CAP_SYS_PTRACE and Yama" '^ok   ptrace: allowed on pid .*CAP_SYS_PTRACE \(yes\|no\), kernel.yama.ptrace_scope '
has "no other tracer" "^ok   tracer: "
has "the target's seccomp" "^ok   seccomp: the target: no filter$"
has "perf events, reported" "^note perf events: kernel.perf_event_paranoid "
has "kernel symbols, reported" "^note kernel symbols: kernel.kptr_restrict "
ID=$(readelf -n "$TARGET_BIN" | sed -n 's/.*Build ID: *//p')
has "the stripped module, and the debug file that would name it" \
	"^warn debug info: $TARGET_BIN (build-id $ID): no symbols.*put its debug file at $T/debug/.build-id/${ID:0:2}/${ID:2}.debug"
has "the agent, loaded" "^ok   agent: loaded (version [0-9]*), one sample per 1 bytes"
has "the socket" "^ok   socket: $T/app.sock: can be made in $T"
untraced "$TARGET_PID" && pass "the target is left untraced" || fail "the target is traced after --check"

# --- a target that does not exist: exit 1 and the line
conf "target-exe = no-such-program-e2e" "unix:$T/app.sock"
check
equal "exit status without the target" "$(cat "$T/check.rc")" 1
has "the missing target" '^FAIL target: executable "no-such-program-e2e": target not running'

# --- a socket directory that does not exist: named, with the command
conf "target-pid = $TARGET_PID" "unix:$T/run/pprof-fcgi/app.sock"
check
equal "exit status without the socket's directory" "$(cat "$T/check.rc")" 1
has "the missing directory and how to make it" \
	"^FAIL socket: $T/run/pprof-fcgi/app.sock: its directory $T/run/pprof-fcgi does not exist: create it (mkdir -p $T/run/pprof-fcgi"
finish
