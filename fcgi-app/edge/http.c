#include "edge/http.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

void req_release(struct req *r)
{
	query_release(&r->query);
}

void resp_init(struct resp *r)
{
	r->status = 200;
	r->content_type = "text/plain; charset=utf-8";
	buf_init(&r->headers, "response headers", 16 * 1024);
	buf_init(&r->body, "response body", HTTP_BODY_OUT_MAX);
}

void resp_release(struct resp *r)
{
	buf_release(&r->headers);
	buf_release(&r->body);
}

void resp_header(struct resp *r, const char *name, const char *fmt, ...)
{
	char value[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(value, sizeof value, fmt, ap);
	va_end(ap);
	/* a value never carries a line break into the header block */
	for (char *p = value; *p; p++)
		if (*p == '\r' || *p == '\n')
			*p = ' ';
	buf_printf(&r->headers, "%s: %s\r\n", name, value);
}

void resp_attachment(struct resp *r, const char *filename)
{
	r->content_type = "application/octet-stream";
	resp_header(r, "Content-Disposition", "attachment; filename=\"%s\"", filename);
}

void resp_error(struct resp *r, int status, const char *msg)
{
	r->status = status;
	r->content_type = "text/plain; charset=utf-8";
	buf_reset(&r->headers);
	buf_reset(&r->body);
	resp_header(r, "X-Go-Pprof", "1");
	buf_puts(&r->body, msg);
	buf_putc(&r->body, '\n');
}

void resp_from_err(struct resp *r, const struct err *e)
{
	resp_error(r, http_status(e->kind), e->msg[0] ? e->msg : "internal error");
}

bool http_prefers_html(const char *accept)
{
	double html = 0, other = 0;
	for (const char *p = accept ? accept : ""; *p;) {
		size_t len = strcspn(p, ",");
		char range[256]; /* one media range: "type/subtype; param=value; q=0.9" */
		snprintf(range, sizeof range, "%.*s", (int)len, p);
		p += len + (p[len] == ',');
		char *save, *type = strtok_r(range, ";", &save);
		if (!type)
			continue;
		double q = 1;
		for (char *a; (a = strtok_r(NULL, ";", &save));) {
			a += strspn(a, " \t");
			if ((a[0] == 'q' || a[0] == 'Q') && a[1] == '=')
				q = strtod(a + 2, NULL);
		}
		type += strspn(type, " \t");
		type[strcspn(type, " \t")] = '\0';
		if (!strcasecmp(type, "text/html") || !strcasecmp(type, "application/xhtml+xml"))
			html = q > html ? q : html;
		else if (strcmp(type, "*/*") != 0 && strcasecmp(type, "text/*") != 0)
			other = q > other ? q : other;
	}
	return html > 0 && html >= other;
}

int http_status(enum err_kind kind)
{
	switch (kind) {
	case ERR_NONE: return 200;
	case ERR_INVALID: return 400;
	case ERR_NOT_FOUND: return 404;
	case ERR_METHOD: return 405;
	case ERR_TOO_LARGE: return 413;
	case ERR_TARGET: return 503;
	case ERR_PERMISSION: return 503;
	case ERR_BUSY: return 503;
	case ERR_INTERNAL: return 500;
	}
	return 500;
}

const char *http_reason(int status)
{
	switch (status) {
	case 200: return "OK";
	case 301: return "Moved Permanently";
	case 400: return "Bad Request";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 413: return "Payload Too Large";
	case 500: return "Internal Server Error";
	case 503: return "Service Unavailable";
	}
	return "Unknown";
}
