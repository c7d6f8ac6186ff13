#include "edge/router.h"

#include "ctx.h"
#include "ep/ep.h"
#include "edge/http.h"
#include "base/log.h"
#include "edge/params.h"
#include "collect/proc.h"
#include "edge/query.h"
#include "encode/html.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

enum route_flags {
	ROUTE_POST = 1 << 0,   /* POST allowed besides GET and HEAD */
	ROUTE_TARGET = 1 << 1, /* needs the live target pid */
	ROUTE_POST_ONLY = 1 << 2, /* changes the target: POST alone */
};

struct route {
	const char *name;
	unsigned flags;
	unsigned params;       /* params_flags */
	long default_seconds;  /* window when seconds is absent; 0: none */
	ep_fn handler;
};

#define DELTA (PARAMS_SECONDS_DELTA | PARAMS_DEBUG | PARAMS_PPROF)
#define WINDOW (PARAMS_SECONDS_WINDOW)

static const struct route routes[] = {
	{ "index", ROUTE_TARGET, 0, 0, ep_index },
	{ "cmdline", ROUTE_TARGET, 0, 0, ep_cmdline },
	{ "profile", ROUTE_TARGET, WINDOW | PARAMS_HZ | PARAMS_PPROF, 30, ep_profile },
	{ "goroutine", ROUTE_TARGET, DELTA, 0, ep_goroutine },
	{ "threadcreate", ROUTE_TARGET, DELTA, 0, ep_threadcreate },
	{ "heap", ROUTE_TARGET, DELTA, 0, ep_heap },
	{ "allocs", ROUTE_TARGET, DELTA, 0, ep_allocs },
	{ "block", ROUTE_TARGET, DELTA, 5, ep_block },
	{ "mutex", ROUTE_TARGET, DELTA, 5, ep_mutex },
	{ "symbol", ROUTE_TARGET | ROUTE_POST, 0, 0, ep_symbol },
	{ "trace", ROUTE_TARGET, WINDOW | PARAMS_HZ, 1, ep_trace },
	{ "agent", ROUTE_TARGET | ROUTE_POST_ONLY, PARAMS_RETRY, 0, ep_agent },
};

enum router_match router_match(const char *script_name, const char *path_info,
			       char *name, size_t size)
{
	/* Servers split the path differently; joined, it is the same. */
	char path[4096];
	snprintf(path, sizeof path, "%s%s", script_name ? script_name : "",
		 path_info ? path_info : "");
	/* the viewer's static files are the web server's to serve; a request
	 * for one that reaches the app means its config does not route them */
	size_t len = strlen(path);
	if (strstr(path, "/ui/") || (len >= 3 && strcmp(path + len - 3, "/ui") == 0))
		return ROUTER_VIEWER;
	const char *slash = strrchr(path, '/');
	const char *last = slash ? slash + 1 : path;
	if (!*last)
		last = "index";
	else if (strcmp(last, "symbolz") == 0)
		last = "symbol";
	else if (strcmp(last, "pprof") == 0)
		return ROUTER_REDIRECT;
	snprintf(name, size, "%s", last);
	return ROUTER_ENDPOINT;
}

static const struct route *route_find(const char *name)
{
	for (size_t i = 0; i < sizeof routes / sizeof routes[0]; i++)
		if (strcmp(routes[i].name, name) == 0)
			return &routes[i];
	return NULL;
}

bool router_is_timed(const char *script_name, const char *path_info, const char *query_string)
{
	char name[64];
	if (router_match(script_name, path_info, name, sizeof name) != ROUTER_ENDPOINT)
		return false;
	const struct route *r = route_find(name);
	if (!r)
		return false;
	if (r->params & PARAMS_SECONDS_WINDOW || r->default_seconds > 0)
		return true;
	/* a delta: seconds=N with a value; a cheap look, the router validates */
	return (r->params & PARAMS_SECONDS_DELTA) && query_string &&
	       (strncmp(query_string, "seconds=", 8) == 0 || strstr(query_string, "&seconds="));
}

static void redirect(const struct req *req, struct resp *resp)
{
	struct buf loc;
	buf_init(&loc, "location", 16 * 1024);
	buf_puts(&loc, req->script_name);
	buf_puts(&loc, req->path_info);
	buf_putc(&loc, '/');
	if (*req->query_string) {
		buf_putc(&loc, '?');
		buf_puts(&loc, req->query_string);
	}
	resp->status = 301;
	resp->content_type = "text/html; charset=utf-8";
	resp_header(resp, "Location", "%s", buf_cstr(&loc));
	/* as Go's http.Redirect: a link for clients that do not follow */
	buf_puts(&resp->body, "<a href=\"");
	for (const char *p = buf_cstr(&loc); *p; p++) {
		if (*p == '"' || *p == '<' || *p == '>' || *p == '&')
			buf_printf(&resp->body, "&#%d;", *p);
		else
			buf_putc(&resp->body, *p);
	}
	buf_puts(&resp->body, "\">Moved Permanently</a>.\n\n");
	buf_release(&loc);
}

static bool method_allowed(const struct route *r, const char *method)
{
	if (r->flags & ROUTE_POST_ONLY)
		return strcmp(method, "POST") == 0;
	return strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0 ||
	       ((r->flags & ROUTE_POST) && strcmp(method, "POST") == 0);
}

/* For a person in a browser, the 503 of a target that does not run is a
 * page saying which and what pprof-fcgi waits for; scrapers keep the text. */
static void missing_page(const struct ctx *ctx, const struct req *req, struct resp *resp,
			 const struct err *e)
{
	struct buf path;
	buf_init(&path, "path", 8 * 1024);
	buf_puts(&path, req->script_name);
	buf_puts(&path, req->path_info);
	buf_reset(&resp->body);
	resp->content_type = "text/html; charset=utf-8";
	html_missing(&resp->body, buf_cstr(&path), &ctx->target, e->msg);
	buf_release(&path);
}

void router_handle(struct ctx *ctx, struct req *req, struct resp *resp)
{
	char name[64];
	struct err e = { 0 };
	bool gone = false;
	switch (router_match(req->script_name, req->path_info, name, sizeof name)) {
	case ROUTER_REDIRECT:
		redirect(req, resp);
		return;
	case ROUTER_VIEWER:
		resp_error(resp, 404, "the web server is not serving the viewer: it must serve "
			   "MOUNT/ui/ from " PF_VIEWER_DIR " before its FastCGI mount "
			   "(see docs/deployment.md)");
		return;
	case ROUTER_ENDPOINT:
		break;
	}
	const struct route *r = route_find(name);
	if (!r) {
		resp_error(resp, 404, "Unknown profile");
		return;
	}
	req->endpoint = r->name;
	if (!method_allowed(r, req->method)) {
		char msg[256];
		snprintf(msg, sizeof msg, "method %.16s not allowed for /%s%s", req->method, r->name,
			 r->flags & ROUTE_POST_ONLY ? ": POST it to load the heap agent into the "
			 "running target (a GET never changes the target)" : "");
		resp_error(resp, 405, msg);
		resp_header(resp, "Allow", "%s", r->flags & ROUTE_POST_ONLY ? "POST" :
			    r->flags & ROUTE_POST ? "GET, HEAD, POST" : "GET, HEAD");
		return;
	}
	if (query_parse(&req->query, req->query_string, &e) < 0 ||
	    params_parse(&req->query, r->params, r->default_seconds, ctx->cfg->max_seconds,
			 &req->params, &e) < 0)
		goto fail;
	if ((r->flags & ROUTE_TARGET) && proc_find(&ctx->target, ctx->self, &req->found, &e) < 0) {
		gone = true;
		goto fail;
	}
	req->pid = req->found.pid;
	if (r->handler(ctx, req, resp, &e) < 0)
		goto fail;
	if (buf_check(&resp->body, &e) < 0 || buf_check(&resp->headers, &e) < 0)
		goto fail;
	return;
fail:
	if (http_status(e.kind) >= 500)
		log_warn("/%s: %s", r->name, e.msg);
	resp_from_err(resp, &e);
	if (gone && http_prefers_html(req->accept))
		missing_page(ctx, req, resp, &e);
}
