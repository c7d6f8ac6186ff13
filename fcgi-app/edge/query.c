#include "edge/query.h"

#include "base/err.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Decodes s[0..len) into a new string. */
static char *decode(const char *s, size_t len)
{
	char *out = malloc(len + 1), *o = out;
	if (!out)
		abort();
	for (size_t i = 0; i < len; i++) {
		int hi, lo;
		if (s[i] == '+') {
			*o++ = ' ';
		} else if (s[i] == '%' && i + 2 < len && (hi = hexval(s[i + 1])) >= 0 &&
			   (lo = hexval(s[i + 2])) >= 0 && (hi | lo)) {
			*o++ = (char)(hi << 4 | lo);
			i += 2;
		} else {
			*o++ = s[i];
		}
	}
	*o = '\0';
	return out;
}

int query_parse(struct query *q, const char *raw, struct err *e)
{
	q->params = NULL;
	q->count = 0;
	if (!raw || !*raw)
		return 0;
	size_t rawlen = strlen(raw);
	if (rawlen > QUERY_MAX_LEN)
		return err_set(e, ERR_TOO_LARGE, "query string of %zu bytes over the limit of %d",
			       rawlen, QUERY_MAX_LEN);
	q->params = calloc(QUERY_MAX_PARAMS, sizeof *q->params);
	if (!q->params)
		abort();
	const char *p = raw;
	while (*p) {
		size_t len = strcspn(p, "&;");
		if (len > 0) {
			if (q->count == QUERY_MAX_PARAMS) {
				query_release(q);
				return err_set(e, ERR_TOO_LARGE, "more than %d query parameters",
					       QUERY_MAX_PARAMS);
			}
			const char *eq = memchr(p, '=', len);
			size_t klen = eq ? (size_t)(eq - p) : len;
			struct query_param *qp = &q->params[q->count++];
			qp->key = decode(p, klen);
			qp->value = eq ? decode(eq + 1, len - klen - 1) : decode("", 0);
		}
		p += len;
		if (*p)
			p++;
	}
	return 0;
}

void query_release(struct query *q)
{
	for (size_t i = 0; i < q->count; i++) {
		free(q->params[i].key);
		free(q->params[i].value);
	}
	free(q->params);
	q->params = NULL;
	q->count = 0;
}

const char *query_get(const struct query *q, const char *key)
{
	for (size_t i = 0; i < q->count; i++)
		if (strcmp(q->params[i].key, key) == 0)
			return q->params[i].value;
	return NULL;
}

int query_parse_long(const char *s, long *out)
{
	const char *d = s;
	if (*d == '+' || *d == '-')
		d++;
	if (*d < '0' || *d > '9')
		return -1;
	for (const char *c = d; *c; c++)
		if (*c < '0' || *c > '9')
			return -1;
	errno = 0;
	char *end;
	long v = strtol(s, &end, 10);
	if (errno == ERANGE || *end)
		return -1;
	*out = v;
	return 0;
}
