#include "encode/html.h"

#include "base/buf.h"
#include "collect/proc.h"

#include <limits.h>
#include <string.h>

void html_escape(struct buf *out, const char *s)
{
	for (; *s; s++) {
		switch (*s) {
		case '<': buf_puts(out, "&lt;"); break;
		case '>': buf_puts(out, "&gt;"); break;
		case '&': buf_puts(out, "&amp;"); break;
		case '"': buf_puts(out, "&#34;"); break;
		case '\'': buf_puts(out, "&#39;"); break;
		default: buf_putc(out, *s);
		}
	}
}

/* encodeURIComponent, stricter: everything but unreserved characters, so
 * the result is also safe inside an HTML attribute. */
static void uri_component(struct buf *out, const char *s)
{
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		    c == '-' || c == '_' || c == '.' || c == '~')
			buf_putc(out, (char)c);
		else
			buf_printf(out, "%%%02X", c);
	}
}

/* The row's links into the viewer: ui/flame.html#profileURL=... (our page
 * in front of speedscope: an error answer reads as the server wrote it); the
 * profile's URL is relative to the viewer's page, one folder down. */
static void flame_links(struct buf *out, const struct proc_info *t, const struct html_row *r)
{
	struct buf url, title;
	buf_init(&url, "profile url", 4096);
	buf_init(&title, "title", 4096);
	for (size_t i = 0; i < HTML_FLAMES_MAX && r->flames[i].label; i++) {
		const struct html_flame *f = &r->flames[i];
		buf_reset(&url);
		buf_reset(&title);
		buf_printf(&url, "../%s?%s", r->name, f->query);
		buf_printf(&title, "%s (pid %d): %s", t->comm[0] ? t->comm : "target", (int)t->pid,
			   f->title);
		buf_puts(out, i ? " &middot; " : "");
		buf_puts(out, "<a class=\"flame\" href=\"ui/flame.html#profileURL=");
		uri_component(out, buf_cstr(&url));
		buf_puts(out, "&amp;title=");
		uri_component(out, buf_cstr(&title));
		buf_puts(out, "&amp;view=left-heavy\">");
		html_escape(out, f->label);
		buf_puts(out, "</a>");
	}
	buf_release(&url);
	buf_release(&title);
}

static void uptime(struct buf *out, double s)
{
	long t = (long)s;
	if (t >= 86400)
		buf_printf(out, "%ldd %ldh %ldm", t / 86400, t % 86400 / 3600, t % 3600 / 60);
	else if (t >= 3600)
		buf_printf(out, "%ldh %ldm %lds", t / 3600, t % 3600 / 60, t % 60);
	else
		buf_printf(out, "%ldm %lds", t / 60, t % 60);
}

/* Everything up to the page's <h1>title</h1>; refresh_s > 0 reloads it. */
static void page_head(struct buf *out, const char *title, int refresh_s)
{
	buf_puts(out, "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n");
	if (refresh_s > 0)
		buf_printf(out, "<meta http-equiv=\"refresh\" content=\"%d\">\n", refresh_s);
	/* no favicon request: the app has none, and its 404 is a console error */
	buf_puts(out, "<link rel=\"icon\" href=\"data:,\">\n<title>");
	html_escape(out, title);
	buf_puts(out, "</title>\n<style>\n"
		 "body{font-family:sans-serif;margin:1.5rem}\n"
		 "table{border-collapse:collapse}\n"
		 "td,th{padding:.15rem .8rem .15rem 0;text-align:left}\n"
		 "td.count{text-align:right}\n"
		 ".profile-name{display:inline-block;width:7rem;font-weight:bold}\n"
		 ".notice{background:#fff3cd;padding:.4rem .8rem;border:1px solid #e0c96b}\n"
		 "code{background:#f3f3f3;padding:0 .2rem}\n"
		 "</style>\n</head>\n<body>\n<h1>");
	html_escape(out, title);
	buf_puts(out, "</h1>\n");
}

void html_index(struct buf *out, const struct html_index *page)
{
	const struct proc_info *t = page->target;
	page_head(out, page->path, 0);
	buf_puts(out, "<table class=\"target\">\n");
	buf_printf(out, "<tr><th>Target</th><td>pid %d", (int)t->pid);
	if (t->comm[0]) {
		buf_puts(out, " (");
		html_escape(out, t->comm);
		buf_puts(out, ")");
	}
	buf_puts(out, "</td></tr>\n");
	if (page->found_by) {
		buf_puts(out, "<tr><th>Found by</th><td>");
		html_escape(out, page->found_by);
		if (page->matches > 1)
			buf_printf(out, " (%d processes match: the oldest of those found by the "
				   "earliest name)", page->matches);
		buf_puts(out, "</td></tr>\n");
	}
	buf_puts(out, "<tr><th>Executable</th><td><code>");
	html_escape(out, t->exe[0] ? t->exe : "(not readable)");
	buf_puts(out, "</code></td></tr>\n");
	if (page->cmdline) {
		buf_puts(out, "<tr><th>Command line</th><td><code>");
		html_escape(out, page->cmdline);
		buf_puts(out, "</code></td></tr>\n");
	}
	buf_printf(out, "<tr><th>Threads</th><td>%ld</td></tr>\n", t->threads);
	buf_puts(out, "<tr><th>Uptime</th><td>");
	uptime(out, t->uptime_s);
	buf_puts(out, "</td></tr>\n");
	buf_printf(out, "<tr><th>RSS</th><td>%.1f MiB</td></tr>\n</table>\n", (double)t->rss_kb / 1024.0);
	if (page->notice) {
		buf_puts(out, "<p class=\"notice\">");
		html_escape(out, page->notice);
		buf_puts(out, "</p>\n");
	}
	if (page->agent) {
		buf_puts(out, "<p>Heap agent: ");
		html_escape(out, page->agent);
		buf_puts(out, "</p>\n");
	}
	if (page->agent_form)
		buf_puts(out, "<form method=\"post\" action=\"agent\"><button type=\"submit\">Load the "
			 "heap agent</button> into the running process: this changes the process (one "
			 "thread lends itself for a few milliseconds; the agent stays loaded and counts "
			 "allocations from then on).</form>\n");
	if (page->nunnamed) {
		buf_puts(out, "<p class=\"notice\">Modules without symbols: their frames are "
			 "unnamed in every profile.</p>\n<ul class=\"unnamed\">\n");
		for (size_t i = 0; i < page->nunnamed; i++) {
			buf_puts(out, "<li>");
			html_escape(out, page->unnamed[i]);
			buf_puts(out, "</li>\n");
		}
		buf_puts(out, "</ul>\n");
	}
	if (page->viewer_note) {
		buf_puts(out, "<p class=\"viewer-note\">");
		html_escape(out, page->viewer_note);
		buf_puts(out, "</p>\n");
	}
	buf_puts(out, "<p>Types of profiles available:</p>\n<table>\n"
		 "<thead><tr><th>Count</th><th>Profile</th>");
	if (page->viewer)
		buf_puts(out, "<th>Flame graph</th>");
	buf_puts(out, "</tr></thead>\n<tbody>\n");
	for (size_t i = 0; i < page->nrows; i++) {
		const struct html_row *r = &page->rows[i];
		buf_puts(out, "<tr><td class=\"count\">");
		if (r->count >= 0)
			buf_printf(out, "%ld", r->count);
		buf_puts(out, "</td><td><a href=\"");
		html_escape(out, r->name);
		buf_puts(out, "?debug=1\">");
		html_escape(out, r->name);
		buf_puts(out, "</a></td>");
		if (page->viewer) {
			buf_puts(out, "<td>");
			flame_links(out, t, r);
			buf_puts(out, "</td>");
		}
		buf_puts(out, "</tr>\n");
	}
	buf_puts(out, "</tbody>\n</table>\n"
		 "<p><a href=\"goroutine?debug=2\">full thread stack dump</a></p>\n"
		 "<p>Profile descriptions:</p>\n<ul>\n");
	for (size_t i = 0; i < page->nrows; i++) {
		buf_puts(out, "<li><div class=\"profile-name\">");
		html_escape(out, page->rows[i].name);
		buf_puts(out, ":</div> ");
		html_escape(out, page->rows[i].desc);
		buf_puts(out, "</li>\n");
	}
	buf_puts(out, "</ul>\n</body>\n</html>\n");
}

#define RELOAD_S 5

void html_missing(struct buf *out, const char *path, const struct target_spec *target,
		  const char *reason)
{
	char what[PATH_MAX + 64];
	proc_describe(target, what, sizeof what);
	page_head(out, path, target->pid ? 0 : RELOAD_S);
	buf_puts(out, "<table class=\"target\">\n<tr><th>Target</th><td><code>");
	html_escape(out, what);
	buf_puts(out, "</code></td></tr>\n</table>\n<p class=\"notice\">");
	html_escape(out, reason);
	buf_puts(out, "</p>\n<p>");
	if (target->exe) {
		buf_puts(out, "pprof-fcgi is waiting for a process named <code>");
		html_escape(out, target->exe);
		buf_puts(out, "</code> (by its executable, the path it was executed through, "
			 "its argv[0] or its comm) to start.");
	} else if (target->pidfile) {
		buf_puts(out, "pprof-fcgi is waiting for <code>");
		html_escape(out, target->pidfile);
		buf_puts(out, "</code> to name a running process, as the service writes it when it starts.");
	} else {
		buf_printf(out, "pprof-fcgi waits for nothing: pid %ld names one process, and a "
			   "restarted service gets a new pid. Give pprof-fcgi the new pid, or let it "
			   "follow restarts with <code>target-pidfile</code> or <code>target-exe</code>.",
			   target->pid);
	}
	buf_puts(out, "</p>\n");
	if (!target->pid)
		buf_printf(out, "<p>This page reloads every %d seconds and shows the profiles once "
			   "the target runs.</p>\n", RELOAD_S);
	buf_puts(out, "</body>\n</html>\n");
}
