#!/usr/bin/env python3
"""doc_check: the static checks of README.md and docs/*.md (tests/e2e_docs.sh).

  doc_check.py readme FILE            at most 300 lines; ./run.sh and ./check.sh in the first 40
  doc_check.py links ROOT FILE...     every markdown link resolves inside ROOT (file and #anchor);
                                      http(s) only to the hosts in ALLOWED_HOSTS
  doc_check.py blocks ROOT FILE...    sh blocks pass bash -n, yaml blocks parse, alloy blocks
                                      balance, "excerpt" blocks appear in their file
  doc_check.py extract KIND DIR FILE...  writes each block marked <!-- test: KIND --> (run), or
                                      each ```ini block (ini), to DIR, one file per block

A fenced block is marked by an HTML comment on the line before its fence:
<!-- test: run --> (run against a live demo by e2e_docs.sh) or
<!-- test: excerpt PATH --> (its lines appear, in order, in PATH).
Prints "ok - ..." and "FAIL - ..." lines; exits 1 on any failure.
"""
import os
import re
import subprocess
import sys

README_MAX_LINES = 300
FIRST_SCREEN = 40
# Links out of the repository are allowed only to the reference pages of the
# tools the docs name; everything the project itself says lives in docs/.
ALLOWED_HOSTS = {"go.dev", "pkg.go.dev", "perfetto.dev", "ui.perfetto.dev",
                 "www.parca.dev", "parca.dev", "grafana.com"}

MARK = re.compile(r"^<!--\s*test:\s*(\S+)\s*(.*?)\s*-->\s*$")
FENCE = re.compile(r"^(\s*)(```+|~~~+)\s*([\w+-]*)")
LINK = re.compile(r"!?\[(?:[^\[\]]|\[[^\]]*\])*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
REFDEF = re.compile(r"^\s{0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s+\"[^\"]*\")?\s*$")
HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")

failures = 0


def ok(msg):
    print("ok - " + msg)


def fail(msg):
    global failures
    failures += 1
    print("FAIL - " + msg)


def blocks(path):
    """(first line number, language, mark, mark argument, text) per fenced block"""
    out = []
    lines = open(path, encoding="utf-8").read().split("\n")
    i = 0
    while i < len(lines):
        m = FENCE.match(lines[i])
        if not m:
            i += 1
            continue
        fence, lang = m.group(2), m.group(3)
        mark = MARK.match(lines[i - 1]) if i > 0 else None
        start = i + 1
        j = start
        while j < len(lines) and not lines[j].strip().startswith(fence):
            j += 1
        out.append((start, lang, mark.group(1) if mark else "", mark.group(2) if mark else "",
                    "\n".join(lines[start:j]) + "\n"))
        i = j + 1
    return out


def prose(path):
    """the file's lines outside fenced blocks, inline code blanked"""
    out, fence = [], None
    for line in open(path, encoding="utf-8").read().split("\n"):
        m = FENCE.match(line)
        if fence:
            if line.strip().startswith(fence):
                fence = None
            out.append("")
        elif m:
            fence = m.group(2)
            out.append("")
        else:
            out.append(re.sub(r"`+[^`]*`+", "``", line))
    return out


def slug(title):
    """GitHub's anchor for a heading"""
    title = re.sub(r"`|\*\*?|_{2}", "", title)
    title = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", title)
    s = re.sub(r"[^\w\- ]", "", title.strip().lower())
    return s.replace(" ", "-")


def anchors(path):
    seen, out = {}, set()
    for line in prose(path):
        m = HEADING.match(line)
        if not m:
            continue
        s = slug(m.group(2))
        n = seen.get(s, 0)
        seen[s] = n + 1
        out.add(s if n == 0 else "%s-%d" % (s, n))
    return out


def check_readme(path):
    lines = open(path, encoding="utf-8").read().rstrip("\n").split("\n")
    if len(lines) <= README_MAX_LINES:
        ok("%s: %d lines (at most %d)" % (path, len(lines), README_MAX_LINES))
    else:
        fail("%s: %d lines, more than %d" % (path, len(lines), README_MAX_LINES))
    first = "\n".join(lines[:FIRST_SCREEN])
    for cmd in ("./run.sh", "./check.sh"):
        if re.search(r"^\s*" + re.escape(cmd) + r"\b", first, re.M):
            ok("%s: %s in the first %d lines" % (path, cmd, FIRST_SCREEN))
        else:
            fail("%s: no %s command in the first %d lines" % (path, cmd, FIRST_SCREEN))


def check_links(root, path):
    root = os.path.realpath(root)
    n, before = 0, failures
    for lineno, line in enumerate(prose(path), 1):
        targets = [m.group(1) for m in LINK.finditer(line)]
        m = REFDEF.match(line)
        if m:
            targets.append(m.group(1))
        for t in targets:
            n += 1
            where = "%s:%d: link %s" % (path, lineno, t)
            if re.match(r"^[a-z][a-z0-9+.-]*:", t, re.I):
                host = re.match(r"^https?://([^/:]+)", t, re.I)
                if host and host.group(1).lower() in ALLOWED_HOSTS:
                    continue
                fail(where + ": points outside the repository (allowed: https to "
                     + ", ".join(sorted(ALLOWED_HOSTS)) + ")")
                continue
            file, _, frag = t.partition("#")
            dest = os.path.realpath(os.path.join(os.path.dirname(path), file)) if file else os.path.realpath(path)
            if dest != root and not dest.startswith(root + os.sep):
                fail(where + ": points outside the repository")
            elif not os.path.exists(dest):
                fail(where + ": no such file")
            elif frag and dest.endswith(".md") and frag not in anchors(dest):
                fail(where + ": no heading #%s in %s" % (frag, os.path.relpath(dest, root)))
    if failures == before:
        ok("%s: %d links resolve" % (path, n))


def balanced(text):
    """braces, brackets and double quotes of an Alloy (HCL-like) block"""
    stack, i = [], 0
    pairs = {")": "(", "]": "[", "}": "{"}
    while i < len(text):
        c = text[i]
        if c == '"':
            j = i + 1
            while j < len(text) and text[j] != '"':
                j += 2 if text[j] == "\\" else 1
            if j >= len(text):
                return "unterminated string"
            i = j
        elif text.startswith("//", i):
            j = text.find("\n", i)
            i = len(text) if j < 0 else j
            continue
        elif c in "([{":
            stack.append(c)
        elif c in ")]}":
            if not stack or stack.pop() != pairs[c]:
                return "unbalanced %s" % c
        i += 1
    return "unclosed %s" % stack[-1] if stack else None


def check_blocks(root, path):
    for start, lang, mark, arg, text in blocks(path):
        where = "%s:%d: %s block" % (path, start, lang or "plain")
        if mark == "excerpt":
            src = os.path.join(root, arg)
            want = [l.strip() for l in text.split("\n") if l.strip()]
            have = [l.strip() for l in open(src, encoding="utf-8")] if os.path.exists(src) else []
            k = 0
            for l in have:
                if k < len(want) and l == want[k]:
                    k += 1
            if k == len(want):
                ok(where + ": every line is in " + arg)
            else:
                fail(where + ": %r is not in %s (in order)" % (want[k] if want else "", arg))
        elif lang in ("sh", "bash", "shell"):
            r = subprocess.run(["bash", "-n"], input=text, text=True, capture_output=True)
            if r.returncode == 0:
                ok(where + ": bash -n")
            else:
                fail(where + ": bash -n: " + r.stderr.strip())
        elif lang == "yaml":
            import yaml
            try:
                yaml.safe_load(text)
                ok(where + ": parses")
            except yaml.YAMLError as err:
                fail(where + ": " + str(err).replace("\n", " "))
        elif lang == "alloy":
            err = balanced(text)
            if err:
                fail(where + ": " + err)
            else:
                ok(where + ": braces and quotes balance")


def extract(kind, outdir, paths):
    n = 0
    for path in paths:
        for start, lang, mark, _, text in blocks(path):
            if (kind == "ini" and lang == "ini") or (kind != "ini" and mark == kind):
                n += 1
                name = "%02d-%s-%d.%s" % (n, os.path.basename(path).replace(".md", ""), start,
                                          "ini" if kind == "ini" else "sh")
                with open(os.path.join(outdir, name), "w", encoding="utf-8") as f:
                    f.write("# %s:%d\n" % (path, start) + text)
    print(n)


def main(argv):
    if len(argv) >= 2 and argv[0] == "readme":
        check_readme(argv[1])
    elif len(argv) >= 3 and argv[0] == "links":
        for p in argv[2:]:
            check_links(argv[1], p)
    elif len(argv) >= 3 and argv[0] == "blocks":
        for p in argv[2:]:
            check_blocks(argv[1], p)
    elif len(argv) >= 4 and argv[0] == "extract":
        extract(argv[1], argv[2], argv[3:])
        return 0
    else:
        sys.stderr.write(__doc__)
        return 2
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
