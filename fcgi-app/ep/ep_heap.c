#include "ep/ep.h"

#include "ctx.h"
#include "collect/heap.h"
#include "edge/http.h"
#include "collect/proc.h"

#include <stdio.h>

/* /heap and /allocs: the preload agent's allocation samples, read from the
 * target's memory (process_vm_readv: the ptrace permission, no stop). */
static int heap(struct ctx *ctx, const struct req *req, struct resp *resp, struct err *e,
		enum heap_kind kind, const char *name)
{
	if (proc_check_access(req->pid, e) < 0)
		return -1;
	int text = 0;
	long seconds = req->params.has_seconds ? req->params.seconds : 0;
	if (heap_profile(ctx, req->pid, kind, req->params.debug, seconds, &resp->body, &text, e) < 0)
		return -1;
	if (!text) {
		char file[32];
		snprintf(file, sizeof file, "%s%s", name, seconds ? "-delta" : "");
		resp_attachment(resp, file);
	}
	return 0;
}

int ep_heap(struct ctx *ctx, const struct req *req, struct resp *resp, struct err *e)
{
	return heap(ctx, req, resp, e, HEAP_HEAP, "heap");
}

int ep_allocs(struct ctx *ctx, const struct req *req, struct resp *resp, struct err *e)
{
	return heap(ctx, req, resp, e, HEAP_ALLOCS, "allocs");
}
