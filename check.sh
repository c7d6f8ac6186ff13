#!/bin/bash
# ./check.sh: installs what is missing, builds, runs every test.
#   1. Debian packages (tools/install-deps.sh; as root)
#   2. build/      : ./configure && make && make check
#   3. build-asan/ : the same with --enable-sanitizers (ASan + UBSan)
#   4. build-fuzz/ : CC=clang --enable-fuzzers, make fuzz (FUZZ_SECONDS each)
#   5. make distcheck in build/: the tarball builds, installs and passes its tests
# Exits non-zero on any failure and prints each suite's summary.
set -euo pipefail
cd "$(dirname "$0")"
top=$(pwd)
jobs=$(nproc 2>/dev/null || echo 2)

tools/install-deps.sh
# the browser viewer into its cache (configure finds it there), and what
# the browser test drives chromium with
tools/fetch-viewer.sh > /dev/null
tools/fetch-viewer.sh --browser-test > /dev/null
./autogen.sh > /dev/null
# out-of-tree builds need an unconfigured source tree
[ -f Makefile ] && make distclean > /dev/null 2>&1 || true

summary() { # DIR: the closing line of every test log
	local log
	for log in "$1"/tests/*.log; do
		[ "$(basename "$log")" = test-suite.log ] && continue
		printf '%-28s %s\n' "$(basename "$log" .log):" "$(grep -E '^[0-9]+%: Checks:|^[0-9]+ passed, [0-9]+ failed' "$log" | tail -n1)"
	done
}

status=0
run_build() { # DIR [configure options]
	local dir=$1; shift
	echo "== $dir: configure $*"
	mkdir -p "$dir"
	(cd "$dir" && "$top/configure" -q "$@" && make -s -j"$jobs" > /dev/null) || { echo "== $dir: build failed"; return 1; }
	echo "== $dir: make check"
	if (cd "$dir" && make -s -j"$jobs" check > "$dir/check.out" 2>&1); then
		summary "$dir"
	else
		summary "$dir"
		cat "$dir/tests/test-suite.log" 2>/dev/null || cat "$dir/check.out"
		return 1
	fi
}

run_build "$top/build" || status=1
run_build "$top/build-asan" --enable-sanitizers || status=1

# the libFuzzer harnesses, briefly; `make -C build-fuzz/tests fuzz` runs longer
fuzz_seconds=${FUZZ_SECONDS:-15}
echo "== $top/build-fuzz: CC=clang configure --enable-fuzzers, make fuzz ($fuzz_seconds s each)"
mkdir -p "$top/build-fuzz"
if (cd "$top/build-fuzz" && CC=clang "$top/configure" -q --enable-fuzzers && make -s -j"$jobs" > /dev/null &&
    make -s -C tests fuzz FUZZ_SECONDS="$fuzz_seconds" > fuzz.out 2>&1); then
	grep '^fuzz: .* stat::' "$top/build-fuzz/fuzz.out"
	fuzz_failed=0
else
	cat "$top/build-fuzz/fuzz.out" 2>/dev/null | tail -40
	fuzz_failed=1
	status=1
fi

echo "== $top/build: make distcheck"
if (cd "$top/build" && make -s distcheck > distcheck.out 2>&1); then
	grep -A1 'archives ready' "$top/build/distcheck.out" | tail -n1
	distcheck_ok=1
else
	tail -40 "$top/build/distcheck.out"
	distcheck_ok=0
	status=1
fi

# one closing line over everything, in the form CI reads
passed=0 failed=0
for log in build/tests/*.log build-asan/tests/*.log; do
	case "$(basename "$log")" in test-suite.log) continue ;; esac
	if line=$(grep -E '^[0-9]+%: Checks: [0-9]+, Failures: [0-9]+, Errors: [0-9]+' "$log" | tail -n1); then
		n=$(sed -E 's/.*Checks: ([0-9]+).*/\1/' <<< "$line")
		f=$(sed -E 's/.*Failures: ([0-9]+), Errors: ([0-9]+).*/\1 \2/' <<< "$line")
		passed=$((passed + n - ${f% *} - ${f#* })); failed=$((failed + ${f% *} + ${f#* }))
	elif line=$(grep -E '^[0-9]+ passed, [0-9]+ failed$' "$log" | tail -n1); then
		passed=$((passed + ${line%% *})); f=${line#*, }; failed=$((failed + ${f%% *}))
	fi
done
# each fuzzer that ran clean counts as one passed test
nfuzz=$(grep -c '^fuzz: .* stat::' "$top/build-fuzz/fuzz.out" 2>/dev/null || echo 0)
passed=$((passed + nfuzz + distcheck_ok)); failed=$((failed + ${fuzz_failed:-0} + 1 - distcheck_ok))
[ "$status" = 0 ] || [ "$failed" -gt 0 ] || failed=1
echo "check: $passed passed, $failed failed"
exit "$status"
