#!/bin/bash
# Installs the Debian 12 packages pprof-fcgi needs to build, test and run,
# and only those missing. Run as root (CI is); otherwise it prints the
# apt-get command to run and fails.
set -euo pipefail

PACKAGES=(
	# build
	autoconf automake libtool pkg-config make gcc
	libfcgi-dev protobuf-c-compiler libprotobuf-c-dev zlib1g-dev
	libunwind-dev libdw-dev libelf-dev libiberty-dev
	# debug files fetched from DEBUGINFOD_URLS, off the request path
	libdebuginfod-dev
	# Debian's libc has no full symbol table: without its debug info,
	# start_thread, clone3 and __lll_lock_wait have no names
	libc6-dbg
	# tests: Check, web servers, clients
	check lighttpd nginx-light apache2 apache2-utils libfcgi-bin spawn-fcgi curl
	golang-go protobuf-compiler elfutils procps bc gdb
	# the real-browser test (e2e_browser.sh): headless, driven by
	# puppeteer-core, which tools/fetch-viewer.sh --browser-test installs
	chromium
	# the docs' checks: YAML blocks parsed, systemd units verified
	python3-yaml systemd
	# fuzzing: clang's libFuzzer
	clang libclang-rt-14-dev
	# the app under memcheck
	valgrind
	# load tests
	wrk
	# make bench: the references the agent is compared with
	libgoogle-perftools4 heaptrack
	# make bench: a real service the agent is measured in
	redis-server redis-tools
	# perf record, the reference CPU profiles are compared with
	# (e2e_redis_perf.sh, make bench)
	linux-perf
)

missing=()
for p in "${PACKAGES[@]}"; do
	status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
	[ "$status" = "install ok installed" ] || missing+=("$p")
done
[ "${#missing[@]}" -eq 0 ] && exit 0

echo "install-deps: installing ${missing[*]}"
if [ "$(id -u)" != 0 ]; then
	echo "install-deps: not root; run: sudo apt-get install -y ${missing[*]}" >&2
	exit 1
fi
export DEBIAN_FRONTEND=noninteractive
# never let a package's maintainer script start a web server on port 80
policy=/usr/sbin/policy-rc.d
made_policy=0
if [ ! -e "$policy" ]; then
	printf '#!/bin/sh\nexit 101\n' > "$policy"
	chmod +x "$policy"
	made_policy=1
fi
apt-get update -q || true
apt-get install -y -q --no-install-recommends "${missing[@]}"
[ "$made_policy" = 1 ] && rm -f "$policy"
exit 0
