#include "base/buf.h"
#include "check_main.h"
#include "encode/html.h"
#include "collect/proc.h"

#include <stdio.h>
#include <string.h>

START_TEST(test_escape)
{
	struct buf b;
	buf_init(&b, "html", 1024);
	html_escape(&b, "<a href=\"x\">&'</a>");
	ck_assert_str_eq(buf_cstr(&b), "&lt;a href=&#34;x&#34;&gt;&amp;&#39;&lt;/a&gt;");
	buf_release(&b);
}
END_TEST

/* A whole page: it ends the document, and every opened element of these
 * kinds is closed. */
static void assert_whole(const char *h)
{
	ck_assert_int_eq(strncmp(h, "<!DOCTYPE html>\n<html lang=\"en\">", 32), 0);
	ck_assert_str_eq(h + strlen(h) - 16, "</body>\n</html>\n");
	const char *tags[] = { "table", "tr", "td", "ul", "li", "p", "div", "thead", "tbody", "th",
			       "code" };
	for (size_t i = 0; i < sizeof tags / sizeof tags[0]; i++) {
		char open[16], close[16];
		snprintf(open, sizeof open, "<%s", tags[i]);
		snprintf(close, sizeof close, "</%s>", tags[i]);
		int opens = 0, closes = 0;
		for (const char *p = h; (p = strstr(p, open)); p++)
			if (p[strlen(open)] == '>' || p[strlen(open)] == ' ')
				opens++;
		for (const char *p = h; (p = strstr(p, close)); p++)
			closes++;
		ck_assert_msg(opens == closes, "<%s>: %d opened, %d closed", tags[i], opens, closes);
	}
}

/* page rendered into b (which the caller releases) */
static const char *render(struct buf *b, const struct html_index *page)
{
	buf_init(b, "html", 1 << 20);
	html_index(b, page);
	return buf_cstr(b);
}

START_TEST(test_index_page)
{
	struct proc_info info = { .pid = 4242, .threads = 7, .uptime_s = 3725, .rss_kb = 2048 };
	strcpy(info.exe, "/srv/<evil>");
	strcpy(info.comm, "svc");
	struct html_row rows[] = {
		{ "goroutine", 7, "Stack traces of all current threads", { { 0 } } },
		{ "heap", -1, "Live allocations & more", { { 0 } } },
	};
	struct html_index page = {
		.path = "/v1/sys/pprof/", .target = &info, .cmdline = "svc --flag <x>",
		.notice = "ptrace not permitted", .rows = rows, .nrows = 2,
		.found_by = "its argv[0]", .matches = 3,
		.unnamed = (const char *[]){ "/usr/bin/<stripped> (build-id ab12): to name its frames, "
					     "install" },
		.nunnamed = 1,
	};
	struct buf b;
	const char *h = render(&b, &page);
	ck_assert_int_eq(strncmp(h, "<!DOCTYPE html>\n<html lang=\"en\">", 32), 0);
	ck_assert_ptr_nonnull(strstr(h, "<title>/v1/sys/pprof/</title>"));
	ck_assert_ptr_nonnull(strstr(h, "pid 4242 (svc)"));
	ck_assert_ptr_nonnull(strstr(h, "/srv/&lt;evil&gt;"));
	ck_assert_ptr_nonnull(strstr(h, "<tr><th>Found by</th><td>its argv[0] (3 processes match: "
				     "the oldest of those found by the earliest name)</td></tr>"));
	ck_assert_ptr_null(strstr(h, "<evil>"));
	ck_assert_ptr_nonnull(strstr(h, "svc --flag &lt;x&gt;"));
	ck_assert_ptr_nonnull(strstr(h, "1h 2m 5s"));
	ck_assert_ptr_nonnull(strstr(h, "2.0 MiB"));
	ck_assert_ptr_nonnull(strstr(h, "class=\"notice\">ptrace not permitted</p>"));
	ck_assert_ptr_nonnull(strstr(h, "<ul class=\"unnamed\">\n<li>/usr/bin/&lt;stripped&gt; "
				     "(build-id ab12): to name its frames, install</li>\n</ul>"));
	ck_assert_ptr_nonnull(strstr(h, "<td class=\"count\">7</td><td><a href=\"goroutine?debug=1\">goroutine</a>"));
	ck_assert_ptr_nonnull(strstr(h, "<td class=\"count\"></td><td><a href=\"heap?debug=1\">heap</a>"));
	ck_assert_ptr_nonnull(strstr(h, "Live allocations &amp; more"));
	ck_assert_ptr_nonnull(strstr(h, "<a href=\"goroutine?debug=2\">full thread stack dump</a>"));
	assert_whole(h);
	buf_release(&b);
}
END_TEST

/* the flame-graph links: the viewer's page with the profile's URL relative
 * to it and a title naming the target, both percent-encoded */
START_TEST(test_index_flame_links)
{
	struct proc_info info = { .pid = 4242, .threads = 7 };
	strcpy(info.comm, "svc <x>");
	struct html_row rows[] = {
		{ "profile", -1, "CPU", { { "5 s", "seconds=5", "CPU 5 s" },
					  { "10 s", "seconds=10&inlines=split", "CPU 10 s" } } },
		{ "cmdline", -1, "The command line", { { 0 } } },
	};
	struct html_index page = { .path = "/", .target = &info, .rows = rows, .nrows = 2,
				   .viewer = true };
	struct buf b;
	const char *h = render(&b, &page);
	ck_assert_ptr_nonnull(strstr(h, "<th>Profile</th><th>Flame graph</th>"));
	ck_assert_ptr_nonnull(strstr(h,
		"<td><a class=\"flame\" href=\"ui/flame.html#profileURL=..%2Fprofile%3Fseconds%3D5"
		"&amp;title=svc%20%3Cx%3E%20%28pid%204242%29%3A%20CPU%205%20s&amp;view=left-heavy\">5 s</a>"
		" &middot; <a class=\"flame\" href=\"ui/flame.html#profileURL="
		"..%2Fprofile%3Fseconds%3D10%26inlines%3Dsplit&amp;title=svc%20%3Cx%3E%20%28pid%204242%29"
		"%3A%20CPU%2010%20s&amp;view=left-heavy\">10 s</a></td></tr>"));
	ck_assert_ptr_nonnull(strstr(h, ">cmdline</a></td><td></td></tr>"));
	ck_assert_ptr_null(strstr(h, "viewer-note"));
	assert_whole(h);
	buf_release(&b);

	/* off, or not installed: no links, and the note says why */
	page.viewer = false;
	page.viewer_note = "flame graphs: the viewer is not installed";
	h = render(&b, &page);
	ck_assert_ptr_null(strstr(h, "ui/flame.html"));
	ck_assert_ptr_null(strstr(h, "Flame graph"));
	ck_assert_ptr_nonnull(strstr(h, "<p class=\"viewer-note\">flame graphs: the viewer is not installed</p>"));
	assert_whole(h);
	buf_release(&b);
}
END_TEST

/* the target does not run: which, why, what pprof-fcgi waits for; escaped;
 * it reloads itself unless the target is a pid, which never comes back */
START_TEST(test_missing_page)
{
	static const struct {
		struct target_spec target;
		const char *reason;
		const char *has[4];
		const char *lacks;
	} cases[] = {
		{ { .exe = "svc<x>" }, "target not running: no process named \"svc<x>\"",
		  { "<code>executable &#34;svc&lt;x&gt;&#34;</code>",
		    "class=\"notice\">target not running: no process named &#34;svc&lt;x&gt;&#34;</p>",
		    "waiting for a process named <code>svc&lt;x&gt;</code>",
		    "<meta http-equiv=\"refresh\" content=\"5\">" }, "<x>" },
		{ { .pidfile = "/run/a&b.pid" }, "target not running: read pidfile /run/a&b.pid",
		  { "<code>pidfile /run/a&amp;b.pid</code>",
		    "waiting for <code>/run/a&amp;b.pid</code> to name a running process",
		    "reloads every 5 seconds", "<title>/debug/pprof/</title>" }, "a&b" },
		{ { .pid = 42 }, "target not running: pid 42",
		  { "<code>pid 42</code>", "waits for nothing", "target-pidfile", "target-exe" },
		  "refresh" },
	};
	struct buf b;
	buf_init(&b, "html", 1 << 20);
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		buf_reset(&b);
		html_missing(&b, "/debug/pprof/", &cases[i].target, cases[i].reason);
		const char *h = buf_cstr(&b);
		for (size_t k = 0; k < 4; k++)
			ck_assert_msg(strstr(h, cases[i].has[k]), "case %zu lacks %s: %s", i,
				      cases[i].has[k], h);
		ck_assert_ptr_null(strstr(h, cases[i].lacks));
		assert_whole(h);
	}
	buf_release(&b);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("html");
	TCase *tc = tcase_create("core");
	tcase_add_test(tc, test_escape);
	tcase_add_test(tc, test_index_page);
	tcase_add_test(tc, test_index_flame_links);
	tcase_add_test(tc, test_missing_page);
	suite_add_tcase(s, tc);
	return s;
}

CHECK_MAIN(suite)
