/* query: a URL query string split into decoded key/value pairs.
 *
 * "+" is a space and "%XX" a byte, as in HTML forms; a malformed escape or
 * one that would decode to NUL stays literal, so it fails any typed getter
 * instead of silently shortening the value. Keys may repeat: getters see
 * the first, as Go's FormValue does. Bounded: QUERY_MAX_PARAMS pairs. */
#ifndef PF_QUERY_H
#define PF_QUERY_H

#include <stddef.h>

struct err;

#define QUERY_MAX_PARAMS 64
#define QUERY_MAX_LEN (64 * 1024)

struct query_param {
	char *key;
	char *value;
};

struct query {
	struct query_param *params;
	size_t count;
};

/* raw may be NULL (no query). */
int query_parse(struct query *q, const char *raw, struct err *e);
void query_release(struct query *q);
/* The first value of key, or NULL when absent. */
const char *query_get(const struct query *q, const char *key);

/* Decimal integer as Go's strconv.ParseInt(s, 10, 64): optional sign, digits,
 * no spaces. 0 with *out set, -1 when s is not such a number. */
int query_parse_long(const char *s, long *out);

#endif
