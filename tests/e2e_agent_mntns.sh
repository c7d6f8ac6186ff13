#!/bin/bash
# POST /agent into targets in mount namespaces of their own
# (targets/late-target, 8 threads allocating). One has an empty tmpfs over
# the directory holding the agent, so the agent's path does not exist for
# it: the loader writes the agent into a memfd of the target's and dlopens
# that, so /heap then holds exactly what was allocated since (rate 1).
# The other has an empty tmpfs over the directory of libunwind, which the
# agent loads when it starts: the answer is an error line with the dynamic
# loader's text, naming the missing library; the target runs on, untraced.
. "$(dirname "$0")/lib.sh"
export HOME="$T" PPROF_TMPDIR="$T"
AGENT="$top_builddir/agent/.libs/libpprof-agent.so"
LATE="$top_builddir/tests/targets/late-target"
P=/v1/sys/pprof
[ -f "$AGENT" ] || { fail "no agent at $AGENT"; exit 1; }

# $HIDE DIR CMD...: CMD in a mount namespace of its own, an empty tmpfs
# over DIR in it (one process: CMD has unshare's pid)
HIDE=(unshare -m --propagation private sh -c 'mount -t tmpfs pprof-e2e "$0" && exec "$@"')
# sees PATH: whether the target ($TARGET_PID) finds PATH in its root
sees() { [ -e "/proc/$TARGET_PID/root$1" ]; }
untraced_after() {
	WAIT_S=10 wait_for untraced "$TARGET_PID" && pass "$1: every thread untraced" \
		|| fail "$1: the target is left traced"
}

# --- the agent's path missing in the target's mount namespace
late "${HIDE[@]}" "$(dirname "$AGENT")" "$LATE" "$AGENT" || { finish; exit 1; }
! sees "$AGENT" && [ -e "$AGENT" ] && pass "the agent's path does not exist for the target" \
	|| fail "the target sees $AGENT"
start_app --target-pid "$TARGET_PID" --agent-rate 1 && NO_TOKEN=1 start_lighttpd || { finish; exit 1; }
get "$P/agent" -d ''
expect_status "POST /agent, the agent's path hidden" 200
expect_body_has "POST /agent, the agent's path hidden" "agent loaded into pid $TARGET_PID at "
say "loaded 1" loaded
untraced_after "the agent's path hidden"
grep -q '/memfd:libpprof-agent.so' "/proc/$TARGET_PID/maps" && pass "the agent is mapped from a memfd" \
	|| fail "no memfd agent in the target's maps"
exact_heap "the agent's path hidden"
say resume resumed
alive "the agent's path hidden"
unserve

# --- libunwind, which the agent loads as it starts, missing there: the
# target already runs (its own libraries are mapped), then the tmpfs
# covers the directory libunwind is in (with /usr merged, also the one
# ld.so.cache names)
lib=$(ldconfig -p | awk '$1 == "libunwind.so.8" && /x86-64/ { print $NF; exit }')
[ -n "$lib" ] && [ -e "$lib" ] && pass "libunwind.so.8 is $lib" || fail "no libunwind.so.8 in ld.so.cache"
late unshare -m --propagation private "$LATE" "$AGENT" || { finish; exit 1; }
nsenter -t "$TARGET_PID" -m mount -t tmpfs pprof-e2e "$(dirname "$(readlink -f "$lib")")" || fail "mount over libunwind's directory"
! sees "$lib" && ! sees "$(readlink -f "$lib")" && pass "libunwind.so.8 does not exist for the target" \
	|| fail "the target sees $lib"
start_app --target-pid "$TARGET_PID" --agent-rate 1 && NO_TOKEN=1 start_lighttpd || { finish; exit 1; }
get "$P/agent" -d ''
case $STATUS in
4??|5??) pass "POST /agent without libunwind: status $STATUS" ;;
*) fail "POST /agent without libunwind: status $STATUS, want 4xx or 5xx" ;;
esac
expect_body_has "POST /agent without libunwind" "libunwind.so.8: cannot open shared object file: No such file or directory"
equal "POST /agent without libunwind: one line" "$(wc -l < "$T/body")" 1
untraced_after "libunwind hidden"
say pause paused
say resume resumed
alive "libunwind hidden"
unserve

finish
