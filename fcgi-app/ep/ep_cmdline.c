#include "ep/ep.h"

#include "ctx.h"
#include "edge/http.h"
#include "collect/proc.h"

int ep_cmdline(struct ctx *ctx, const struct req *req, struct resp *resp, struct err *e)
{
	(void)ctx;
	if (proc_cmdline(req->pid, &resp->body, e) < 0)
		return -1;
	resp->content_type = "text/plain; charset=utf-8";
	return 0;
}
