#!/bin/bash
# The README and docs/ say what works, and it does:
#   - README.md has at most 300 lines, ./run.sh and ./check.sh in its first 40;
#   - every markdown link in README.md and docs/*.md resolves inside the
#     repository (file and heading), none goes outside (tests/doc_check.py);
#   - every block marked <!-- test: run --> runs, as written, against the
#     demo target (with the agent) behind conf/lighttpd.conf and pprof-fcgi,
#     127.0.0.1:8200 replaced by this test's port;
#   - the other blocks are checked for what they are: sh by bash -n, YAML
#     parsed, Alloy balanced, excerpts found in their conf/ file, systemd
#     units (conf/ and docs' ini blocks) by systemd-analyze verify, and
#     make install with DESTDIR puts the files where the docs say.
# Each check is also run on a planted bad input, which it must reject.
. "$(dirname "$0")/lib.sh"
export HOME="$T" PPROF_TMPDIR="$T"
PY=$(command -v /usr/bin/python3 || command -v python3)
DOC_CHECK=("$PY" "$top_srcdir/tests/doc_check.py")
DOCS=("$top_srcdir/README.md" "$top_srcdir"/docs/*.md)
[ "${#DOCS[@]}" -ge 8 ] && pass "README.md and ${#DOCS[@]} - 1 pages in docs/" \
	|| fail "docs/ pages missing: ${DOCS[*]}"

# check NAME WANT ARGS...: doc_check.py ARGS must exit 0 (WANT=ok) or
# non-zero (WANT=bad); its FAIL lines are shown when it fails unexpectedly
check() {
	local name=$1 want=$2 rc=0; shift 2
	"${DOC_CHECK[@]}" "$@" > "$T/check.out" 2>&1 || rc=$?
	if [ "$want" = ok ] && [ "$rc" = 0 ]; then
		pass "$name: $(grep -c '^ok' "$T/check.out") checks"
	elif [ "$want" = bad ] && [ "$rc" = 1 ]; then
		pass "$name: rejected ($(grep -m1 '^FAIL' "$T/check.out" | sed "s|$T/||"))"
	else
		fail "$name: exit $rc, want $want"
		grep -v '^ok' "$T/check.out" | head -20
	fi
}

# ---- README length and first screen
check "README.md" ok readme "$top_srcdir/README.md"
mkdir -p "$T/bad/docs"
{ echo './run.sh'; echo './check.sh'; seq 299; } > "$T/bad/long.md"
check "planted: a 301-line README" bad readme "$T/bad/long.md"
{ echo './run.sh'; seq 40; echo './check.sh'; } > "$T/bad/late.md"
check "planted: ./check.sh on line 42" bad readme "$T/bad/late.md"

# ---- links
check "links" ok links "$top_srcdir" "${DOCS[@]}"
printf '# A heading\n\ntext\n' > "$T/bad/docs/a.md"
printf '[a](docs/a.md#a-heading) and [b](docs/a.md)\n' > "$T/bad/good.md"
check "planted: good links" ok links "$T/bad" "$T/bad/good.md"
n=0
for link in '../shared/SPEC.md' 'docs/nosuch.md' 'docs/a.md#no-such-heading' 'https://example.com/' \
	"$top_srcdir/README.md"; do
	n=$((n + 1))
	printf 'See [this](%s).\n' "$link" > "$T/bad/link$n.md"
	check "planted: a link to $link" bad links "$T/bad" "$T/bad/link$n.md"
done

# ---- blocks that cannot run here: sh syntax, YAML, Alloy, excerpts
check "blocks" ok blocks "$top_srcdir" "${DOCS[@]}"
printf '```sh\nif true; then echo\n```\n' > "$T/bad/sh.md"
check "planted: a sh block with a syntax error" bad blocks "$T/bad" "$T/bad/sh.md"
printf '```yaml\nscrape_configs:\n  - job_name: [x\n```\n' > "$T/bad/yaml.md"
check "planted: broken YAML" bad blocks "$T/bad" "$T/bad/yaml.md"
printf '```alloy\npyroscope.scrape "x" {\n  targets = [{"a" = "b"}]\n```\n' > "$T/bad/alloy.md"
check "planted: an Alloy block with an unclosed brace" bad blocks "$T/bad" "$T/bad/alloy.md"
mkdir -p "$T/bad/conf"
printf 'a;\nb;\n' > "$T/bad/conf/x.conf"
printf '<!-- test: excerpt conf/x.conf -->\n```\nb;\na;\n```\n' > "$T/bad/excerpt.md"
check "planted: an excerpt out of order" bad blocks "$T/bad" "$T/bad/excerpt.md"

# ---- systemd units: conf/ as shipped and the docs' ini blocks
mkdir -p "$T/units"
# verify_unit NAME FILE: systemd-analyze verify with no complaint at all
verify_unit() {
	local out rc=0
	out=$(systemd-analyze verify "$2" 2>&1) || rc=$?
	if [ "$rc" = 0 ] && [ -z "$out" ]; then return 0; fi
	echo "$out" | sed "s|$T/||g" | head -5 > "$T/verify.out"
	return 1
}
unit_file() { # SRC NAME: SRC (a .in) with its paths, the app this build's
	sed -e "s|@bindir@/pprof-fcgi|$APP|" -e "s|@sysconfdir@|/etc|g" "$1" > "$T/units/$2"
	echo "$T/units/$2"
}
for u in pprof-fcgi.service pprof-fcgi@.service; do
	name=${u/@./@docs.}
	if verify_unit "$u" "$(unit_file "$top_srcdir/conf/$u.in" "$name")"; then
		pass "conf/$u.in: systemd-analyze verify"
	else
		fail "conf/$u.in: $(cat "$T/verify.out")"
	fi
done
mkdir -p "$T/ini"
nini=$("${DOC_CHECK[@]}" extract ini "$T/ini" "${DOCS[@]}")
for f in "$T"/ini/*.ini; do
	[ -e "$f" ] || continue
	where=$(head -n1 "$f" | sed "s|^# $top_srcdir/||")
	# a drop-in: completed into a unit with the app as its command
	{ printf '[Unit]\nDescription=docs block\n'
	  grep -q '^ExecStart=' "$f" || printf '[Service]\nExecStart=%s --help\n' "$APP"
	  sed "s|/usr/local/bin/pprof-fcgi|$APP|" "$f"; } > "$T/units/docs-block.service"
	if verify_unit "$where" "$T/units/docs-block.service"; then pass "$where: systemd-analyze verify"
	else fail "$where: $(cat "$T/verify.out")"; fi
done
[ "$nini" -ge 1 ] && pass "$nini systemd block(s) in docs/" || fail "no ini block found in docs/"
printf '[Unit]\nDescription=planted\n[Service]\nExecStart=%s\nNoSuchKey=1\n' "$APP" > "$T/units/planted.service"
verify_unit planted "$T/units/planted.service" && fail "planted: unknown key accepted" \
	|| pass "planted: a unit with an unknown key: rejected ($(head -n1 "$T/verify.out"))"

# ---- make install into a scratch DESTDIR: the files where the docs say
mkvar() { sed -n "s/^$1 = //p" "$top_builddir/Makefile"; }
prefix=$(mkvar prefix)
exec_prefix=$(mkvar exec_prefix); exec_prefix=${exec_prefix//'${prefix}'/$prefix}
bindir=$(mkvar bindir); bindir=${bindir//'${exec_prefix}'/$exec_prefix}
libdir=$(mkvar libdir); libdir=${libdir//'${exec_prefix}'/$exec_prefix}
inst=$T/inst
for d in fcgi-app agent; do
	make -s -C "$top_builddir/$d" install DESTDIR="$inst" > "$T/install.out" 2>&1 \
		|| { fail "make install in $d:"; tail -5 "$T/install.out"; }
done
installed() { [ -f "$inst$1" ]; }
want_bin=$bindir/pprof-fcgi want_lib=$libdir/libpprof-agent.so
if [ "$prefix" = /usr/local ]; then
	# the default prefix: the paths README.md and docs/ name
	for p in /usr/local/bin/pprof-fcgi /usr/local/lib/libpprof-agent.so; do
		grep -qF "$p" "${DOCS[@]}" && pass "the docs name $p" || fail "the docs never name $p"
		[ "$p" = "$want_bin" ] || [ "$p" = "$want_lib" ] || fail "$p is not where make install puts it"
	done
fi
for p in "$want_bin" "$want_lib"; do
	installed "$p" && pass "make install DESTDIR: $p" || fail "make install DESTDIR: no $p"
done
"$inst$want_bin" --help > /dev/null 2>&1 && pass "installed pprof-fcgi --help" \
	|| fail "installed pprof-fcgi --help fails"
installed "$libdir/libpprof-agent-nosuch.so" && fail "planted: a missing file found" \
	|| pass "planted: a file make install does not put there: not found"

# ---- the runnable blocks, against a live demo
mkdir -p "$T/run" "$T/work"
nrun=$("${DOC_CHECK[@]}" extract run "$T/run" "${DOCS[@]}")
[ "$nrun" -ge 5 ] && pass "$nrun runnable blocks" || fail "only $nrun runnable blocks"
LD_PRELOAD="$top_builddir/agent/.libs/libpprof-agent.so" start_target || exit 1
start_app --target-pid "$TARGET_PID" || exit 1
NO_TOKEN=1 start_lighttpd || exit 1
# run_block FILE: the block as written, with this test's address, in
# $T/work; its output in $T/block.out
run_block() {
	sed "s|http://127.0.0.1:8200|$BASE|g" "$1" > "$T/block.sh"
	(cd "$T/work" && timeout 120 bash -e -o pipefail "$T/block.sh") > "$T/block.out" 2>&1
}
for f in "$T"/run/*.sh; do
	where=$(head -n1 "$f" | sed "s|^# $top_srcdir/||")
	if run_block "$f"; then
		pass "$where: runs ($(wc -l < "$T/block.out") lines of output)"
	else
		fail "$where: fails:"
		tail -n 15 "$T/block.out"
	fi
done
printf '# planted\ncurl -sf -o /dev/null http://127.0.0.1:8200/v1/sys/pprof/nosuch\n' > "$T/planted.sh"
run_block "$T/planted.sh" && fail "planted: a block asking for an unknown profile ran" \
	|| pass "planted: a block asking for an unknown profile fails"
untraced "$TARGET_PID" && pass "the demo is left untraced" || fail "the demo is still traced"

finish
