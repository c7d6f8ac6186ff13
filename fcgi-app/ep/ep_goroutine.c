#include "ep/ep.h"

#include "ctx.h"
#include "edge/http.h"
#include "ep/ep_threads.h"

/* Threads take the place of goroutines: every thread's stack now. */
int ep_goroutine(struct ctx *ctx, const struct req *req, struct resp *resp, struct err *e)
{
	int text = 0;
	long seconds = req->params.has_seconds ? req->params.seconds : 0;
	if (ep_threads_profile(ctx, req->pid, THREADS_GOROUTINE, req->params.debug, seconds,
			       &req->params, &resp->body, &text, e) < 0)
		return -1;
	if (!text)
		resp_attachment(resp, seconds ? "goroutine-delta" : "goroutine");
	return 0;
}
