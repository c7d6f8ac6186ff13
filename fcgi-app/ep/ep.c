#include "ep/ep.h"

#include "base/buf.h"
#include "ctx.h"
#include "encode/pprof.h"

int ep_send_profile(struct ctx *ctx, pid_t pid, struct profile *p, const struct ep_body *how,
		    struct buf *out, struct err *e)
{
	ctx_symbolize(ctx, pid, p);
	if (how && how->symbolized)
		how->symbolized(p);
	if (how && how->text)
		how->text(out, p, how->arg);
	else if (pprof_encode(p, out, e) < 0)
		return -1;
	return buf_check(out, e);
}
