#include "ep/ep.h"

#include "ctx.h"
#include "edge/http.h"
#include "ep/offcpu.h"

/* /block and /mutex: where threads waited over a window. */
static int offcpu(struct ctx *ctx, const struct req *req, struct resp *resp, struct err *e,
		  enum offcpu_kind kind, const char *name)
{
	int text = 0;
	if (offcpu_profile(ctx, req->pid, kind, req->params.debug, req->params.seconds,
			   &resp->body, &text, e) < 0)
		return -1;
	if (!text)
		resp_attachment(resp, name);
	return 0;
}

int ep_block(struct ctx *ctx, const struct req *req, struct resp *resp, struct err *e)
{
	return offcpu(ctx, req, resp, e, OFFCPU_BLOCK, req->params.has_seconds ? "block-delta" : "block");
}

int ep_mutex(struct ctx *ctx, const struct req *req, struct resp *resp, struct err *e)
{
	return offcpu(ctx, req, resp, e, OFFCPU_MUTEX, req->params.has_seconds ? "mutex-delta" : "mutex");
}
