#!/bin/bash
# Every endpoint once, with pprof-fcgi under valgrind memcheck: no error,
# and nothing leaked when it stops (every request frees what it allocated).
. "$(dirname "$0")/lib.sh"
export HOME="$T" PPROF_TMPDIR="$T"

# the demo target runs with the preload agent, so the heap reader is checked too
LD_PRELOAD="$top_builddir/agent/.libs/libpprof-agent.so" start_target || exit 1
AS="valgrind -q --error-exitcode=99 --leak-check=full --show-leak-kinds=definite,indirect --errors-for-leak-kinds=definite,indirect --log-file=$T/valgrind.log" \
	WAIT_S=60 start_app --target-pid "$TARGET_PID" || exit 1
start_lighttpd || exit 1
P=/v1/sys/pprof
for req in / cmdline 'goroutine?debug=2' 'goroutine?debug=1' goroutine 'threadcreate?debug=1' \
	   'profile?seconds=2' 'block?seconds=1' 'mutex?seconds=1&debug=0' 'trace?seconds=1' heap \
	   'heap?debug=1' 'allocs?seconds=1' 'threadcreate' \
	   'symbol' nosuch 'profile?seconds=0'; do
	get "$P/$req" --max-time 120
	case "$STATUS" in 200|400|404) pass "under valgrind: $req: $STATUS" ;; *) fail "under valgrind: $req: $STATUS" ;; esac
done
get "$P/symbol" --data-binary '0x1+0x2'
expect_status "under valgrind: symbol POST" 200
kill -TERM "$APP_PID"
WAIT_S=120 wait_for sh -c "! kill -0 $APP_PID"
wait "$APP_PID"; rc=$?
APP_PID=
[ "$rc" = 0 ] && pass "valgrind: no error, no leak (exit 0)" || fail "valgrind exit $rc: $(head -40 "$T/valgrind.log")"
[ ! -s "$T/valgrind.log" ] && pass "valgrind log empty" || fail "valgrind said: $(head -40 "$T/valgrind.log")"
finish
