#include "check_main.h"
#include "config.h"
#include "ctx.h"
#include "profile/symbolize.h"
#include "base/err.h"
#include "edge/http.h"
#include "edge/router.h"

#include <signal.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static const char *match(const char *script, const char *path_info, enum router_match want)
{
	static char name[64];
	ck_assert_int_eq(router_match(script, path_info, name, sizeof name), want);
	return name;
}

START_TEST(test_match_any_split)
{
	/* lighttpd: mount in SCRIPT_NAME, endpoint in PATH_INFO */
	ck_assert_str_eq(match("/v1/sys/pprof", "/profile", ROUTER_ENDPOINT), "profile");
	ck_assert_str_eq(match("/v1/sys/pprof", "/", ROUTER_ENDPOINT), "index");
	/* Apache mod_proxy_fcgi: everything in SCRIPT_NAME */
	ck_assert_str_eq(match("/v1/sys/pprof/heap", "", ROUTER_ENDPOINT), "heap");
	ck_assert_str_eq(match("/debug/pprof/", "", ROUTER_ENDPOINT), "index");
	/* nginx, split after the slash */
	ck_assert_str_eq(match("/debug/pprof/", "goroutine", ROUTER_ENDPOINT), "goroutine");
	ck_assert_str_eq(match("", "/symbolz", ROUTER_ENDPOINT), "symbol");
	ck_assert_str_eq(match("/symbolz", "", ROUTER_ENDPOINT), "symbol");
	ck_assert_str_eq(match("/pprof/a/b/cmdline", "", ROUTER_ENDPOINT), "cmdline");
	ck_assert_str_eq(match("", "", ROUTER_ENDPOINT), "index");
	ck_assert_str_eq(match(NULL, NULL, ROUTER_ENDPOINT), "index");
	match("/v1/sys/pprof", "", ROUTER_REDIRECT);
	match("/debug/pprof", NULL, ROUTER_REDIRECT);
	/* the viewer's files, however the server split the path */
	match("/v1/sys/pprof", "/ui/index.html", ROUTER_VIEWER);
	match("/v1/sys/pprof/ui/index.html", "", ROUTER_VIEWER);
	match("/debug/pprof/", "ui/", ROUTER_VIEWER);
	match("/debug/pprof", "/ui", ROUTER_VIEWER);
	ck_assert_str_eq(match("/debug/pprof", "/uix", ROUTER_ENDPOINT), "uix");
	/* unknown names come back as they are, cut to the buffer */
	ck_assert_str_eq(match("/x", "/nosuch", ROUTER_ENDPOINT), "nosuch");
	char longpath[300];
	memset(longpath, 'a', sizeof longpath - 1);
	longpath[0] = '/';
	longpath[sizeof longpath - 1] = '\0';
	ck_assert_uint_eq(strlen(match(longpath, "", ROUTER_ENDPOINT)), 63);
}
END_TEST

/* A request through the router against a child process as target. */
static struct config cfg;
static struct ctx ctx;
static pid_t child;

static void setup(void)
{
	child = fork();
	if (child == 0) {
		pause();
		_exit(0);
	}
	memset(&cfg, 0, sizeof cfg);
	cfg.max_seconds = 300;
	cfg.threads = 1;
	ctx.cfg = &cfg;
	ctx.target.pid = child;
	ctx.self = getpid();
	ctx.symbolizer = symbolizer_new(); /* the index looks for the preload agent */
	pthread_mutex_init(&ctx.sym_lock, NULL);
}

static void teardown(void)
{
	kill(child, SIGKILL);
	waitpid(child, NULL, 0);
	symbolizer_free(ctx.symbolizer);
	ctx.symbolizer = NULL;
	pthread_mutex_destroy(&ctx.sym_lock);
}

struct answer {
	int status;
	char body[8192];
	char headers[2048];
	const char *type;
};

static void handle_accept(const char *method, const char *script, const char *path_info,
			  const char *query, const char *accept, struct answer *a)
{
	struct req req = { .method = method, .script_name = script, .path_info = path_info,
			   .query_string = query, .accept = accept };
	struct resp resp;
	resp_init(&resp);
	router_handle(&ctx, &req, &resp);
	a->status = resp.status;
	a->type = resp.content_type;
	snprintf(a->body, sizeof a->body, "%s", buf_cstr(&resp.body));
	snprintf(a->headers, sizeof a->headers, "%s", buf_cstr(&resp.headers));
	req_release(&req);
	resp_release(&resp);
}

static void handle(const char *method, const char *script, const char *path_info,
		   const char *query, struct answer *a)
{
	handle_accept(method, script, path_info, query, NULL, a);
}

START_TEST(test_handle_answers)
{
	struct answer a;
	handle("GET", "/v1/sys/pprof", "/nosuch", "", &a);
	ck_assert_int_eq(a.status, 404);
	ck_assert_str_eq(a.body, "Unknown profile\n");
	ck_assert_str_eq(a.headers, "X-Go-Pprof: 1\r\n");
	ck_assert_str_eq(a.type, "text/plain; charset=utf-8");

	handle("GET", "/v1/sys/pprof", "", "debug=1", &a);
	ck_assert_int_eq(a.status, 301);
	ck_assert_str_eq(a.headers, "Location: /v1/sys/pprof/?debug=1\r\n");
	ck_assert_str_eq(a.body, "<a href=\"/v1/sys/pprof/?debug=1\">Moved Permanently</a>.\n\n");

	handle("PUT", "/v1/sys/pprof", "/cmdline", "", &a);
	ck_assert_int_eq(a.status, 405);
	ck_assert_str_eq(a.body, "method PUT not allowed for /cmdline\n");
	ck_assert_ptr_nonnull(strstr(a.headers, "Allow: GET, HEAD\r\n"));

	handle("POST", "/v1/sys/pprof", "/symbol", "", &a);
	ck_assert_int_eq(a.status, 200); /* POST is allowed there */
	ck_assert_str_eq(a.body, "num_symbols: 1\n");

	/* /agent changes the target: POST alone, and never when so configured */
	handle("GET", "/v1/sys/pprof", "/agent", "", &a);
	ck_assert_int_eq(a.status, 405);
	ck_assert_ptr_nonnull(strstr(a.headers, "Allow: POST\r\n"));
	ck_assert_ptr_nonnull(strstr(a.body, "POST it to load the heap agent"));
	cfg.agent_load = "never";
	handle("POST", "/v1/sys/pprof", "/agent", "", &a);
	cfg.agent_load = NULL;
	ck_assert_int_eq(a.status, 403);
	ck_assert_ptr_nonnull(strstr(a.body, "agent-load = never"));

	handle("GET", "/v1/sys/pprof", "/profile", "seconds=0", &a);
	ck_assert_int_eq(a.status, 400);
	ck_assert_str_eq(a.body, "invalid value for \"seconds\" - must be a positive integer\n");

	handle("GET", "/v1/sys/pprof", "/cmdline", "", &a);
	ck_assert_int_eq(a.status, 200);
	ck_assert_ptr_nonnull(strstr(a.body, "check_router"));
	ck_assert_str_eq(a.headers, "");

	handle("HEAD", "/v1/sys/pprof/", "", "", &a);
	ck_assert_int_eq(a.status, 200);
	ck_assert_str_eq(a.type, "text/html; charset=utf-8");
	ck_assert_ptr_nonnull(strstr(a.body, "<!DOCTYPE html>"));
}
END_TEST

START_TEST(test_target_gone)
{
	teardown();
	struct answer a;
	handle("GET", "/v1/sys/pprof", "/cmdline", "", &a);
	ck_assert_int_eq(a.status, 503);
	char want[64];
	snprintf(want, sizeof want, "target not running: pid %d\n", (int)child);
	ck_assert_str_eq(a.body, want);
	/* bad parameters are still reported first */
	handle("GET", "/v1/sys/pprof", "/goroutine", "debug=7", &a);
	ck_assert_int_eq(a.status, 400);
	/* a browser gets a page saying so, with the same status */
	handle_accept("GET", "/v1/sys/pprof/", "", "",
		      "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8", &a);
	ck_assert_int_eq(a.status, 503);
	ck_assert_str_eq(a.type, "text/html; charset=utf-8");
	ck_assert_ptr_nonnull(strstr(a.body, "<!DOCTYPE html>"));
	char reason[80];
	snprintf(reason, sizeof reason, "class=\"notice\">target not running: pid %d</p>", (int)child);
	ck_assert_ptr_nonnull(strstr(a.body, reason));
	handle_accept("GET", "/v1/sys/pprof/", "", "", "*/*", &a);
	ck_assert_str_eq(a.type, "text/plain; charset=utf-8");
	ck_assert_str_eq(a.body, want);
}
END_TEST

/* a browser's Accept ranks HTML first; curl's, Go's and Prometheus' do not */
START_TEST(test_prefers_html)
{
	ck_assert(http_prefers_html("text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"));
	ck_assert(http_prefers_html("text/html"));
	ck_assert(http_prefers_html(" TEXT/HTML ; level=1 , application/json;q=0.5"));
	ck_assert(!http_prefers_html(NULL));
	ck_assert(!http_prefers_html(""));
	ck_assert(!http_prefers_html("*/*"));
	ck_assert(!http_prefers_html("text/*"));
	ck_assert(!http_prefers_html("application/json, text/html;q=0.5"));
	ck_assert(!http_prefers_html("text/html;q=0"));
	ck_assert(!http_prefers_html("application/openmetrics-text;version=1.0.0,text/plain;q=0.5,*/*;q=0.1"));
	ck_assert(!http_prefers_html(",;,"));
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("router");
	TCase *tc = tcase_create("match");
	tcase_add_test(tc, test_match_any_split);
	tcase_add_test(tc, test_prefers_html);
	suite_add_tcase(s, tc);
	TCase *th = tcase_create("handle");
	tcase_add_checked_fixture(th, setup, teardown);
	tcase_add_test(th, test_handle_answers);
	tcase_add_test(th, test_target_gone);
	suite_add_tcase(s, th);
	return s;
}

CHECK_MAIN(suite)
