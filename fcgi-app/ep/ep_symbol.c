#include "ep/ep.h"

#include "base/vec.h"
#include "ctx.h"
#include "edge/http.h"
#include "collect/proc.h"
#include "profile/symbolize.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#define SYMBOL_MAX_ADDRESSES 100000

/* Go's /symbol: "num_symbols: 1", then "0xADDR name" for each address of
 * the request (POST body, or the raw GET query: 0xA+0xB+...) that resolves
 * in the target at its live address; the others are left out. */
int ep_symbol(struct ctx *ctx, const struct req *req, struct resp *resp, struct err *e)
{
	resp->content_type = "text/plain; charset=utf-8";
	buf_puts(&resp->body, "num_symbols: 1\n");
	const char *in = strcmp(req->method, "POST") == 0 ? req->body : req->query_string;
	if (!in || !*in)
		return 0;
	/* addresses first: bounded before any lookup */
	uint64_t *addrs = NULL;
	size_t n = 0, cap = 0;
	int rc = 0;
	for (const char *p = in; *p;) {
		size_t len = strcspn(p, "+");
		char tok[64];
		if (len > 0 && len < sizeof tok) {
			memcpy(tok, p, len);
			tok[len] = '\0';
			char *s = tok, *end;
			while (isspace((unsigned char)*s))
				s++;
			errno = 0;
			unsigned long long v = strtoull(s, &end, 0);
			while (isspace((unsigned char)*end))
				end++;
			if (end != s && !*end && !errno && *s != '-') {
				if (n == SYMBOL_MAX_ADDRESSES) {
					rc = err_set(e, ERR_TOO_LARGE, "more than %d addresses",
						     SYMBOL_MAX_ADDRESSES);
					goto out;
				}
				uint64_t *a = VEC_PUSH(addrs, n, cap, 64);
				*a = v;
			}
		}
		p += len;
		if (*p)
			p++;
	}
	if (n == 0)
		goto out;
	if ((rc = proc_check_access(req->pid, e)) < 0)
		goto out;
	pthread_mutex_lock(&ctx->sym_lock);
	rc = symbolizer_attach(ctx->symbolizer, req->pid, e);
	if (rc == 0) {
		struct buf name;
		buf_init(&name, "symbol name", 64 * 1024);
		for (size_t i = 0; i < n; i++) {
			buf_reset(&name);
			if (symbolize_name(ctx->symbolizer, addrs[i], &name, NULL) == 0)
				buf_printf(&resp->body, "%#" PRIx64 " %s\n", addrs[i], buf_cstr(&name));
		}
		buf_release(&name);
	}
	pthread_mutex_unlock(&ctx->sym_lock);
out:
	free(addrs);
	return rc;
}
