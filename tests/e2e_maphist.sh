#!/bin/bash
# The mapping history (perf_event: MMAP2 and exec records; ptrace, with
# CPU_SAMPLER=ptrace as e2e_maphist_ptrace.sh runs it: /proc/PID/maps read
# when a sample lies outside every mapping known, and exec events): a
# library dlopened and dlclosed within the window is named from the file it
# was mapped from, as at the time of each sample; one whose file is gone by
# the time the profile is symbolized is said in the comment; after an exec
# mid-window, the new image's functions are named, and the old one's.
. "$(dirname "$0")/lib.sh"
export HOME="$T" PPROF_TMPDIR="$T"
PLUGIN="$top_builddir/tests/targets/.libs/plugin.so"

CPU_SAMPLER=${CPU_SAMPLER:-perf_event}

# follow: pprof-fcgi ($CPU_SAMPLER) anew, for the target started last
follow() {
	if [ -n "${APP_PID:-}" ]; then kill -TERM "$APP_PID"; wait "$APP_PID" 2>/dev/null; fi
	rm -f "$SOCK"
	start_app --target-pid "$TARGET_PID" || exit 1
}

# in_window WHAT: passes when the profile ($c) still runs, as WHAT is done
in_window() {
	kill -0 "$c" 2>/dev/null && pass "$1 inside the window" || fail "$1 after the window ended (a loaded machine?)"
}

# profile_plugin LIB: a 10 s profile of cpu-split at 500 Hz while it
# dlopens LIB, spins in it 3 s and dlcloses it, into $T/plugin.pb.gz (on
# a loaded machine the ptrace sampler keeps few stops of a thread that
# competes for a CPU: the library's thread must have some)
profile_plugin() {
	TARGET_BIN=$SPLIT start_target --plugin "$1" --unload-after 3000 || exit 1
	follow
	curl -s -o "$T/plugin.pb.gz" "$P/profile?seconds=10&hz=500" & c=$!
	WAIT_S=10 wait_for sampling "$TARGET_PID" || fail "profile never began"
	kill -USR1 "$TARGET_PID"
	WAIT_S=10 wait_for grep -q '^plugin unloaded' "$T/target.out" \
		&& pass "$(basename "$1") loaded and unloaded mid-profile" \
		|| fail "plugin not unloaded: $(cat "$T/target.err")"
	! grep -q "$(basename "$1")" "/proc/$TARGET_PID/maps" && in_window "$(basename "$1") unmapped" \
		|| fail "$(basename "$1") still mapped"
	wait $c
	kill -TERM "$TARGET_PID"; wait "$TARGET_PID" 2>/dev/null
}

NO_TOKEN=1 start_lighttpd || exit 1
P="$BASE/v1/sys/pprof"

# --- dlopen, CPU in the library, dlclose, all inside the window: its
# function and source line named, its mapping the file it came from
profile_plugin "$PLUGIN"
go tool pprof -top -lines "$T/plugin.pb.gz" > "$T/plugin.txt" 2>&1
grep -q 'plugin_spin .*plugin.c:[0-9]' "$T/plugin.txt" \
	&& pass "function of a library dlclosed mid-profile named, with its line" \
	|| fail "no plugin_spin with plugin.c: $(head -14 "$T/plugin.txt")"
go tool pprof -raw "$T/plugin.pb.gz" 2>/dev/null | grep -q '/plugin\.so [0-9a-f]\{40\} \[FN\]\[FL\]\[LN\]\[IN\]' \
	&& pass "its mapping: plugin.so with its build-id, symbolized" \
	|| fail "no plugin.so mapping: $(go tool pprof -raw "$T/plugin.pb.gz" 2>&1 | grep -A8 '^Mappings')"
gunzip -c "$T/plugin.pb.gz" | tr -c '[:print:]' '\n' | grep -q 'plugin.so, unmapped since they were sampled, are named' \
	&& pass "the comment says it was named from its file" || fail "no comment on plugin.so"

# --- a copy of it, removed once unloaded and before the window ends: its
# frames keep their mapping, get no name, and the comment says why
cp "$PLUGIN" "$T/gone2.so"
TARGET_BIN=$SPLIT start_target --plugin "$T/gone2.so" --unload-after 3000 || exit 1
follow
curl -s -o "$T/gone.pb.gz" "$P/profile?seconds=10&hz=500" & c=$!
WAIT_S=10 wait_for sampling "$TARGET_PID" || fail "profile never began"
kill -USR1 "$TARGET_PID"
WAIT_S=10 wait_for grep -q '^plugin unloaded' "$T/target.out" && rm -f "$T/gone2.so" \
	|| fail "gone2.so not unloaded: $(cat "$T/target.err")"
in_window "gone2.so unloaded and removed"
wait $c
kill -TERM "$TARGET_PID"; wait "$TARGET_PID" 2>/dev/null
gunzip -c "$T/gone.pb.gz" | tr -c '[:print:]' '\n' | tr '\n' ' ' |
	grep -qi 'gone2.so, unmapped since they were sampled, have no names: open [^ ]*gone2.so: no such file' \
	&& pass "a library's file removed before symbolizing: the comment says so" \
	|| fail "no comment on gone2.so: $(gunzip -c "$T/gone.pb.gz" | tr -c '[:print:]' '\n' | grep gone2)"
go tool pprof -raw "$T/gone.pb.gz" 2>/dev/null | grep -q '/gone2\.so ' \
	&& pass "its frames keep their mapping (the file's name)" || fail "no gone2.so mapping"
! go tool pprof -top "$T/gone.pb.gz" 2>/dev/null | grep -q plugin_spin \
	&& pass "and no name was made up for them" || fail "plugin_spin named from nowhere"

# --- exec mid-window: the new image's threads are named (their tids are
# new; their mappings came as MMAP2 records after the exec record)
TARGET_BIN=$SPLIT start_target || exit 1
follow
old=$(ls /proc/"$TARGET_PID"/task | tr '\n' ' ')
curl -s -o "$T/exec.pb.gz" "$P/profile?seconds=10" & c=$!
WAIT_S=10 wait_for sampling "$TARGET_PID" || fail "profile never began"
# the old image runs 0.3 CPU-seconds into the window first (some 30
# samples at 100 Hz), and the new one has most of the window
c0=$(cpu_ticks "$TARGET_PID")
WAIT_S=8 wait_for sh -c "[ \$(sed 's/.*) //' /proc/$TARGET_PID/stat | awk '{print \$12+\$13}') -gt $((c0 + 30)) ]" \
	|| fail "the old image made no progress"
kill -USR2 "$TARGET_PID"
WAIT_S=10 wait_for sh -c "[ \$(grep -c '^ready' '$T/target.out') -ge 2 ]" \
	&& pass "target exec'd itself mid-profile" || fail "target did not exec: $(cat "$T/target.err")"
new=$(ls /proc/"$TARGET_PID"/task | tr '\n' ' ')
wait $c
gunzip -c "$T/exec.pb.gz" | tr -c '[:print:]' '\n' | grep -q "exec'd a new image" \
	&& pass "exec: inside the window" || fail "exec: not inside the window (no comment)"
# tids of the new image's workers (not the main thread, whose tid is the pid)
tids=$(for t in $new; do case " $old " in *" $t "*) ;; *) echo "$t" ;; esac; done | tr '\n' ' ')
[ -n "$tids" ] && pass "new threads after the exec: $tids" || fail "no new thread after exec: $old / $new"
go tool pprof -traces "$T/exec.pb.gz" > "$T/exec.txt" 2>&1
# each trace: its thread_id line, then its frames
awk -v tids=" $tids" '/^ *thread_id:/ { mine = index(tids, " " $2 " ") > 0 } mine && /spin_hot/ { n++ }
	END { exit !n }' "$T/exec.txt" && pass "exec: the new image's functions named (spin_hot on its threads)" \
	|| fail "exec: no spin_hot on the new threads $tids: $(head -30 "$T/exec.txt")"
# and the old image's, sampled before the exec, from its mappings then
# (there before the window: seeded from /proc/PID/maps)
olds=$(for t in $old; do [ "$t" = "$TARGET_PID" ] || echo "$t"; done | tr '\n' ' ')
awk -v tids=" $olds " '/^ *thread_id:/ { mine = index(tids, " " $2 " ") > 0 } mine && /spin_hot/ { n++ }
	END { exit !n }' "$T/exec.txt" && pass "exec: the old image's functions named too (spin_hot on $olds)" \
	|| fail "exec: no spin_hot on the old threads $olds: $(head -30 "$T/exec.txt")"
gunzip -c "$T/exec.pb.gz" | tr -c '[:print:]' '\n' | grep -q 'cpu-split, unmapped since they were sampled, are named' \
	&& pass "exec: the comment says the old image was named from its file" || fail "exec: no comment on the old image"
finish
