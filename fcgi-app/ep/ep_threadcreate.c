#include "ep/ep.h"

#include "ctx.h"
#include "edge/http.h"
#include "collect/collector.h"
#include "ep/ep_threads.h"

/* Where the current threads began: their start routines (the creating
 * pthread_create call stacks need the preload agent). */
int ep_threadcreate(struct ctx *ctx, const struct req *req, struct resp *resp, struct err *e)
{
	/* the agent's table is read before the thread dump: the sampler's
	 * preconditions first, so that a refusal names them */
	if (collector_check(ctx->collector, req->pid, e) < 0)
		return -1;
	int text = 0;
	long seconds = req->params.has_seconds ? req->params.seconds : 0;
	/* debug=2 has no per-thread form here: Go answers it as debug=1 */
	int debug = req->params.debug == 2 ? 1 : req->params.debug;
	if (ep_threads_profile(ctx, req->pid, THREADS_THREADCREATE, debug, seconds,
			       &req->params, &resp->body, &text, e) < 0)
		return -1;
	if (!text)
		resp_attachment(resp, seconds ? "threadcreate-delta" : "threadcreate");
	return 0;
}
