/* http: the request and response as the endpoints see them, with no trace
 * of FastCGI. The edge (fcgi.c) fills a req and writes a resp. */
#ifndef PF_HTTP_H
#define PF_HTTP_H

#include "base/buf.h"
#include "base/err.h"
#include "edge/params.h"
#include "edge/query.h"
#include "collect/proc.h"

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#define HTTP_BODY_IN_MAX (1u << 20)     /* largest request body (/symbol) */
#define HTTP_BODY_OUT_MAX (256u << 20)  /* largest response body */

struct req {
	const char *method;       /* "GET", "HEAD", "POST", ... */
	const char *script_name;  /* "" when absent */
	const char *path_info;    /* "" when absent */
	const char *query_string; /* raw, "" when absent */
	const char *accept;       /* the Accept header; "" or NULL when absent */
	const char *remote_user;  /* REMOTE_USER the web server passed; "" or NULL */
	const char *body;         /* POST body, NUL-terminated, may be NULL */
	size_t body_len;
	/* Filled by the router before an endpoint runs: */
	const char *endpoint;     /* "profile", "index", ... */
	struct query query;
	struct params params;
	pid_t pid;                /* the target, for endpoints that need one */
	struct proc_found found;  /* how the target was found, for the index to say */
};

struct resp {
	int status;
	const char *content_type; /* static string */
	struct buf headers;       /* extra "Name: value\r\n" lines */
	struct buf body;
};

void req_release(struct req *r); /* what the router added */

void resp_init(struct resp *r);
void resp_release(struct resp *r);
void resp_header(struct resp *r, const char *name, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* A pprof body: octet-stream, Content-Disposition attachment; filename=NAME. */
void resp_attachment(struct resp *r, const char *filename);
/* An error as Go's pprof gives it: text/plain, X-Go-Pprof: 1, one line. */
void resp_error(struct resp *r, int status, const char *msg);
void resp_from_err(struct resp *r, const struct err *e);

int http_status(enum err_kind kind);
/* Whether an Accept header ranks HTML first, as a browser's does
 * (text/html, then others with lower q); scrapers send none, or any type. */
bool http_prefers_html(const char *accept);
const char *http_reason(int status);

#endif
