#!/bin/bash
# Fetches the browser viewer, speedscope (MIT), from the npm registry into a
# cache outside the source and build trees, checks the tarball against the
# sha512 committed in tools/viewer.sha512, and unpacks its dist/release/.
# Prints the viewer's folder (what ./configure --with-viewer takes).
#
#   tools/fetch-viewer.sh            # into ${XDG_CACHE_HOME:-~/.cache}/pprof-fcgi
#   PPROF_FCGI_CACHE=DIR tools/fetch-viewer.sh
#   tools/fetch-viewer.sh --browser-test
#       instead: puppeteer-core as pinned by tests/browser/package-lock.json
#       (npm ci: integrity-checked, no browser download) into the cache;
#       prints its node_modules folder (the tests' NODE_PATH)
#
# The bundle is never committed: it is fetched, verified, unpacked.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
version=1.25.0
tgz=speedscope-$version.tgz
cache=${PPROF_FCGI_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/pprof-fcgi}
dest=$cache/speedscope-$version

need_npm() {
	command -v npm > /dev/null && return 0
	# Debian's npm only where no npm exists: a nodejs from elsewhere
	# brings its own, and Debian's package conflicts with it
	if [ "$(id -u)" != 0 ]; then
		echo "fetch-viewer: npm not found; run: sudo apt-get install -y npm" >&2
		exit 1
	fi
	echo "fetch-viewer: installing npm" >&2
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends npm >&2
}

if [ "${1:-}" = --browser-test ]; then
	lock=$here/../tests/browser/package-lock.json
	dir=$cache/browser-test
	# installed from this very lock file: nothing to do
	if ! cmp -s "$lock" "$dir/package-lock.json" || [ ! -d "$dir/node_modules/puppeteer-core" ]; then
		need_npm
		rm -rf "$dir"
		mkdir -p "$dir"
		cp "$here/../tests/browser/package.json" "$lock" "$dir/"
		PUPPETEER_SKIP_DOWNLOAD=1 npm ci --silent --prefix "$dir" --ignore-scripts --no-audit --no-fund >&2
	fi
	echo "$dir/node_modules"
	exit 0
fi

# an unpacked viewer from a verified tarball: nothing to do
if [ -f "$dest/index.html" ] && [ -f "$dest/.verified" ]; then
	echo "$dest"
	exit 0
fi
mkdir -p "$cache"
cd "$cache"
if ! (sha512sum --status -c "$here/viewer.sha512") 2>/dev/null; then
	need_npm
	rm -f "$tgz"
	npm pack --silent "speedscope@$version" > /dev/null
	if ! sha512sum --status -c "$here/viewer.sha512"; then
		echo "fetch-viewer: $cache/$tgz does not match tools/viewer.sha512; removed" >&2
		rm -f "$tgz"
		exit 1
	fi
fi
rm -rf "$dest.tmp"
mkdir -p "$dest.tmp"
tar -xzf "$tgz" -C "$dest.tmp" --strip-components=3 package/dist/release
tar -xzOf "$tgz" package/LICENSE > "$dest.tmp/LICENSE"
touch "$dest.tmp/.verified"
rm -rf "$dest"
mv "$dest.tmp" "$dest"
echo "$dest"
