#!/bin/bash
# /profile end to end: lighttpd, pprof-fcgi, a target with a known CPU split,
# read by go tool pprof and protoc. Then the faults: concurrent profiles,
# the target exiting mid-profile, the app killed mid-profile.
. "$(dirname "$0")/lib.sh"
cpu_exclusive
export HOME="$T" PPROF_TMPDIR="$T"

TARGET_BIN=$SPLIT start_target || exit 1
# one accept thread: timed requests must not hold it
start_app --target-pid "$TARGET_PID" --threads 1 || exit 1
NO_TOKEN=1 start_lighttpd || exit 1
P="$BASE/v1/sys/pprof"

# --- one 5 s profile, every client; the target's CPU time read when
# sampling begins and when it ends (not around the request: on a busy
# machine attaching and symbolizing take long enough to skew the total)
(get /v1/sys/pprof/profile?seconds=5; echo "$STATUS" > "$T/status") & c=$!
WAIT_S=10 wait_for sampling "$TARGET_PID"
ticks0=$(cpu_ticks "$TARGET_PID")
sampled() { ! sampling "$TARGET_PID"; }
WAIT_S=20 wait_for sampled
ticks1=$(cpu_ticks "$TARGET_PID")
wait $c
STATUS=$(cat "$T/status")
expect_status "profile" 200
expect_header "profile" Content-Type application/octet-stream
expect_header "profile" Content-Disposition 'attachment; filename="profile"'
[ -z "$(header Content-Encoding)" ] && pass "profile: no Content-Encoding" || fail "profile: Content-Encoding set"
cp "$T/body" "$T/cpu.pb.gz"
gunzip -c "$T/cpu.pb.gz" > "$T/cpu.pb" && pass "profile: gzip" || fail "profile: not gzip"
protoc --proto_path="$top_srcdir/proto" --decode=perftools.profiles.Profile profile.proto \
	< "$T/cpu.pb" > "$T/cpu.txt" 2> "$T/protoc.err" && pass "protoc decodes the profile" \
	|| fail "protoc: $(cat "$T/protoc.err")"
for s in '"samples"' '"count"' '"cpu"' '"nanoseconds"' '"spin_hot' '"thread_id"' '"thread_name"' '"split-a"'; do
	grep -q "^string_table: $s" "$T/cpu.txt" && pass "profile strings: $s" || fail "profile strings lack $s"
done
grep -q '^period: 10000000$' "$T/cpu.txt" && pass "period 1e9/hz" || fail "period: $(grep ^period: "$T/cpu.txt")"
dur=$(sed -n 's/^duration_nanos: //p' "$T/cpu.txt")
[ -n "$dur" ] && [ "$dur" -ge 4900000000 ] && [ "$dur" -le 6000000000 ] && pass "duration_nanos $dur" || fail "duration_nanos '$dur'"
grep -q '^time_nanos: [1-9]' "$T/cpu.txt" && pass "time_nanos set" || fail "no time_nanos"
grep -q 'build_id: [1-9]' "$T/cpu.txt" && pass "mappings carry build ids" || fail "no build_id"

# sample_index and inlines=split, for viewers: the default type by name,
# each location one line; an unknown name is refused before the window
get "/v1/sys/pprof/profile?seconds=1&sample_index=samples&inlines=split"
expect_status "profile?sample_index=samples&inlines=split" 200
gunzip -c "$T/body" | protoc --proto_path="$top_srcdir/proto" --decode=perftools.profiles.Profile \
	profile.proto > "$T/split.txt" 2>&1
go tool pprof -top "$T/body" 2>&1 | grep -q '^Type: samples$' && pass "profile?sample_index=samples: the default" ||
	fail "profile?sample_index=samples: $(go tool pprof -top "$T/body" 2>&1 | grep ^Type)"
awk '/^location {/ { n = 0 } /^  line {/ { n++; if (n > 1) bad++ } /^location {/ { locs++ }
	END { exit !(locs > 0 && bad == 0) }' "$T/split.txt" && pass "inlines=split: one line per location" ||
	fail "inlines=split: a location with several lines"
t0=$(date +%s)
get "/v1/sys/pprof/profile?seconds=30&sample_index=cycles"
expect_status "profile?sample_index=cycles" 400
expect_body "profile?sample_index=cycles" 'invalid value for "sample_index" - must be one of samples, cpu'
[ $(($(date +%s) - t0)) -lt 10 ] && pass "profile?sample_index=cycles: refused before the 30 s window" ||
	fail "profile?sample_index=cycles: refused after $(($(date +%s) - t0)) s"

go tool pprof -top -unit=ms "$T/cpu.pb.gz" > "$T/top.txt" 2>&1
# the program's own mapping first, as in Go's: pprof names it "File:"
grep -q '^File: cpu-split$' "$T/top.txt" && pass "main binary first: File: cpu-split" \
	|| fail "main binary: $(grep '^File:' "$T/top.txt")"
# GCC may name a clone spin_hot.constprop.0: match the name and any suffix.
# Cumulative time: the target splits its CPU time including the clock reads
# each function makes (flat time leaves those to __vdso_clock_gettime).
hot=$(ms_of spin_hot); cold=$(ms_of spin_cold)
if [ -n "$hot" ] && [ -n "$cold" ] && [ "$(echo "$hot + $cold > 0" | bc)" = 1 ]; then
	pass "spin_hot and spin_cold both in the profile"
else
	fail "go tool pprof -top lacks spin_hot/spin_cold: $(head -20 "$T/top.txt")"
fi
# The split is checked against what the target says it ran (counted at its
# exit, below), on a profile of 2,500 samples (at 100 Hz, 1,000 samples of
# two correlated threads vary by ±2 points from run to run).
curl -s -o "$T/split.pb.gz" "$P/profile?seconds=5&hz=500"
go tool pprof -top -unit=ms "$T/split.pb.gz" > "$T/split.txt" 2>&1
hot=$(TOP="$T/split.txt" ms_of spin_hot); cold=$(TOP="$T/split.txt" ms_of spin_cold)
split_pct=
[ -n "$hot" ] && [ -n "$cold" ] && [ "$(echo "$hot + $cold > 0" | bc)" = 1 ] \
	&& split_pct=$(echo "scale=1; 100 * $hot / ($hot + $cold)" | bc)
# the profile's CPU time against the kernel's accounting of the window
total=$(sed -n 's/.*Total samples = \([0-9.]*\)ms.*/\1/p' "$T/top.txt")
hz=$(getconf CLK_TCK)
kernel_ms=$(( (ticks1 - ticks0) * 1000 / hz ))
if [ -n "$total" ] && [ "$kernel_ms" -gt 0 ]; then
	ratio=$(echo "100 * $total / $kernel_ms" | bc)
	[ "$ratio" -ge 85 ] && [ "$ratio" -le 115 ] && pass "cpu total ${total}ms vs kernel ${kernel_ms}ms" \
		|| fail "cpu total ${total}ms vs kernel ${kernel_ms}ms ($ratio%)"
else
	fail "no total ($total) or kernel time ($kernel_ms)"
fi
go tool pprof -traces "$T/cpu.pb.gz" > "$T/traces.txt" 2>&1
awk '/spin_hot/{h=1} h&&/worker/{w=1} w&&/start_thread/{s=1} s&&/clone/{print "ok"; exit}' "$T/traces.txt" | grep -q ok \
	&& pass "traces: spin_hot -> worker -> start_thread -> clone" || fail "traces: $(head -20 "$T/traces.txt")"
go tool pprof -top -lines "$T/cpu.pb.gz" 2>&1 | grep -q 'spin_hot[^ ]* .*cpu-split.c:[0-9]' \
	&& pass "-lines: source file and line" || fail "-lines: no cpu-split.c lines"
go tool pprof -top -unit=ms -tagfocus=thread_name=split-a "$T/cpu.pb.gz" > "$T/focus.txt" 2>&1
a=$(sed -n 's/.*Total samples = \([0-9.]*\)ms.*/\1/p' "$T/focus.txt")
shown=$(sed -n 's/^Showing nodes accounting for \([0-9.]*\)ms.*/\1/p' "$T/focus.txt")
[ -n "$a" ] && [ -n "$shown" ] && [ "$(echo "$shown < $total * 0.75 && $shown > $total * 0.25" | bc)" = 1 ] \
	&& pass "-tagfocus thread_name=split-a keeps one thread (${shown}ms of ${total}ms)" \
	|| fail "-tagfocus: $(head -8 "$T/focus.txt")"

# go tool pprof fetching the URL itself
go tool pprof -top "$P/profile?seconds=1" > "$T/url.txt" 2>&1 && grep -q spin_hot "$T/url.txt" \
	&& pass "go tool pprof URL/profile?seconds=1" || fail "go tool pprof URL: $(tail -5 "$T/url.txt")"
untraced "$TARGET_PID" && pass "target untraced after the profiles" || fail "target still traced"

# --- two profiles at once share the loop; /cmdline answers meanwhile
curl -s -o "$T/c1" "$P/profile?seconds=3" & c1=$!
curl -s -o "$T/c2" "$P/profile?seconds=2&hz=250" & c2=$!
WAIT_S=10 wait_for sampling "$TARGET_PID"
t0=$(date +%s%N)
get /v1/sys/pprof/cmdline
t1=$(date +%s%N)
expect_status "cmdline during profiles" 200
[ $(( (t1 - t0) / 1000000 )) -lt 1000 ] && pass "cmdline answered during profiles" || fail "cmdline took $(( (t1 - t0) / 1000000 )) ms"
wait $c1 $c2
for f in c1 c2; do
	go tool pprof -top "$T/$f" 2>/dev/null | grep -q spin_hot && pass "concurrent profile $f valid" || fail "concurrent profile $f invalid"
done

# --- beyond max-timed-requests: 503 with the reason
kill -TERM "$APP_PID"; wait "$APP_PID" 2>/dev/null; rm -f "$SOCK"
start_app --target-pid "$TARGET_PID" --max-timed-requests 1 || exit 1
curl -s -o "$T/c1" "$P/profile?seconds=3" & c1=$!
WAIT_S=10 wait_for sampling "$TARGET_PID"
get /v1/sys/pprof/profile?seconds=1
expect_status "over the timed cap" 503
expect_body "over the timed cap" "too many timed requests at once: 1 already running (max-timed-requests)"
wait $c1
go tool pprof -top "$T/c1" 2>/dev/null | grep -q spin_hot && pass "the running profile completes" || fail "the running profile broke"

# --- SIGTERM mid-profile: the window ends now, the client gets what there is
curl -s -o "$T/c1" -w '%{http_code}' "$P/profile?seconds=20" > "$T/c1.status" & c1=$!
WAIT_S=10 wait_for sampling "$TARGET_PID"
# something to deliver: a second of the target's CPU in the window (the
# ptrace sampler keeps a stack only where a thread ran at a tick, and on a
# busy machine the busy threads are often waiting)
cpu_past() { [ "$(cpu_ticks "$TARGET_PID")" -ge "$1" ]; }
WAIT_S=15 wait_for cpu_past $(( $(cpu_ticks "$TARGET_PID") + $(getconf CLK_TCK) ))
t0=$(date +%s)
kill -TERM "$APP_PID"
WAIT_S=10 wait_for sh -c "! kill -0 $APP_PID" && pass "SIGTERM mid-profile: app stops in $(( $(date +%s) - t0 )) s" \
	|| fail "app still running 10 s after SIGTERM"
wait "$APP_PID" 2>/dev/null
wait $c1
[ "$(cat "$T/c1.status")" = 200 ] && go tool pprof -top "$T/c1" 2>/dev/null | grep -q spin_hot \
	&& pass "SIGTERM mid-profile: partial profile delivered" || fail "SIGTERM mid-profile: status $(cat "$T/c1.status")"
untraced "$TARGET_PID" && pass "SIGTERM mid-profile: target untraced" || fail "target traced after SIGTERM"
rm -f "$SOCK"
start_app --target-pid "$TARGET_PID" || exit 1

# --- the split the first profile reported, against the one the target ran
# (by its own thread CPU clock, counted at exit): within 4 points
kill -TERM "$TARGET_PID"; wait "$TARGET_PID" 2>/dev/null
read -r _ ran_hot ran_cold < <(grep '^split ' "$T/target.out")
if [ -n "$split_pct" ] && [ -n "${ran_hot:-}" ]; then
	ran_pct=$(echo "scale=1; 100 * $ran_hot / ($ran_hot + $ran_cold)" | bc)
	diff=$(echo "$split_pct - $ran_pct" | bc | tr -d -)
	[ "$(echo "$diff <= 4" | bc)" = 1 ] \
		&& pass "hot/cold split reported as $split_pct%, ran $ran_pct% (75% asked)" \
		|| fail "hot/cold split reported as $split_pct%, ran $ran_pct%: more than 4 points apart"
else
	fail "no split to compare: profile '$split_pct', target '$(grep '^split' "$T/target.out")'"
fi

# --- a library loaded while the profile runs: its functions named, with
# their source file (the maps change under the sampling loop)
PLUGIN="$top_builddir/tests/targets/.libs/plugin.so"
TARGET_BIN=$SPLIT start_target --plugin "$PLUGIN" || exit 1
kill -TERM "$APP_PID"; wait "$APP_PID" 2>/dev/null; rm -f "$SOCK"
start_app --target-pid "$TARGET_PID" || exit 1
curl -s -o "$T/plugin.pb.gz" "$P/profile?seconds=4" & c=$!
WAIT_S=10 wait_for sampling "$TARGET_PID" || fail "profile never began"
! grep -q plugin.so "/proc/$TARGET_PID/maps" && pass "plugin not loaded when the profile began" \
	|| fail "plugin loaded too early"
kill -USR1 "$TARGET_PID"
WAIT_S=10 wait_for grep -q '^plugin loaded' "$T/target.out" && pass "plugin loaded mid-profile" \
	|| fail "plugin not loaded: $(cat "$T/target.err")"
wait $c
go tool pprof -top -lines "$T/plugin.pb.gz" > "$T/plugin.txt" 2>&1
grep -q 'plugin_spin .*plugin.c:[0-9]' "$T/plugin.txt" \
	&& pass "function of a library loaded mid-profile named, with its line" \
	|| fail "no plugin_spin with plugin.c: $(head -12 "$T/plugin.txt")"

# --- the target exits mid-profile: 200, what was collected, a comment
kill -TERM "$TARGET_PID"; wait "$TARGET_PID" 2>/dev/null
# (4 s: with ptrace, a stack is kept only where a thread ran at a tick, and
# on a busy machine the busy threads are often waiting)
TARGET_BIN=$SPLIT start_target --exit-after 4 || exit 1
kill -TERM "$APP_PID"; wait "$APP_PID" 2>/dev/null; rm -f "$SOCK"
start_app --target-pid "$TARGET_PID" || exit 1
t0=$(date +%s)
get /v1/sys/pprof/profile?seconds=8
t1=$(date +%s)
expect_status "target exits mid-profile" 200
[ $((t1 - t0)) -lt 7 ] && pass "answered when the target exited ($((t1 - t0)) s)" || fail "took $((t1 - t0)) s"
gunzip -c "$T/body" | protoc --proto_path="$top_srcdir/proto" --decode=perftools.profiles.Profile profile.proto > "$T/exit.txt" 2>&1
grep -q "exited .* into the 8 s profile" "$T/exit.txt" && pass "comment says when the target exited" || fail "no exit comment"
grep -q '"spin_hot' "$T/exit.txt" && pass "partial profile has samples" || fail "partial profile empty"
get /v1/sys/pprof/profile?seconds=1
expect_status "profile of a gone target" 503

# --- SIGKILL of the app mid-profile leaves every target thread running, untraced
TARGET_BIN=$SPLIT start_target || exit 1
kill -TERM "$APP_PID" 2>/dev/null; wait "$APP_PID" 2>/dev/null; rm -f "$SOCK"
start_app --target-pid "$TARGET_PID" || exit 1
curl -s -o /dev/null "$P/profile?seconds=10" & c=$!
WAIT_S=10 wait_for sampling "$TARGET_PID" && pass "profile in progress" || fail "never traced"
killed=$APP_PID
kill -KILL "$APP_PID"; wait "$APP_PID" 2>/dev/null
# the kernel freed the events with the descriptors: neither the target nor
# any process of this test holds one (other tests' profiles may, at once)
held=0
for d in /proc/[0-9]*; do
	[ "${d#/proc/}" = "$TARGET_PID" ] || tr '\0' ' ' < "$d/cmdline" 2>/dev/null | grep -qF "$T" || continue
	held=$((held + $(perf_fds "${d#/proc/}")))
done
[ "$held" = 0 ] && pass "SIGKILL mid-profile: no perf event left" || fail "$held perf event descriptors left"
WAIT_S=10 wait_for untraced "$TARGET_PID" && pass "SIGKILL mid-profile: target untraced" || fail "target still traced after SIGKILL"
stopped=$(grep -h '^State:' /proc/"$TARGET_PID"/task/*/status | grep -c 't (tracing stop)\|T (stopped)')
[ "$stopped" = 0 ] && pass "SIGKILL mid-profile: no thread stopped" || fail "$stopped threads stopped"
c0=$(cpu_ticks "$TARGET_PID")
WAIT_S=10 wait_for sh -c "[ \$(sed 's/.*) //' /proc/$TARGET_PID/stat | awk '{print \$12+\$13}') -gt $((c0 + 10)) ]" \
	&& pass "SIGKILL mid-profile: target keeps running" || fail "target makes no progress"
gdb -batch -p "$TARGET_PID" -ex 'info threads' > "$T/gdb.txt" 2>&1
grep -q 'split-a' "$T/gdb.txt" && pass "a debugger attaches afterwards" || fail "gdb: $(tail -3 "$T/gdb.txt")"
wait $c 2>/dev/null
rm -f "$SOCK"
start_app --target-pid "$TARGET_PID" || exit 1
get /v1/sys/pprof/profile?seconds=3
expect_status "a new profile after SIGKILL of $killed" 200
go tool pprof -top "$T/body" 2>/dev/null | grep -q spin_hot && pass "a new profile after SIGKILL has samples" \
	|| fail "the profile after SIGKILL has no spin_hot"
APP_PID=
finish
