#include "ep.h"

#include "err.h"
#include "http.h"

int ep_unimplemented(struct ctx *ctx, const struct req *req, struct resp *resp,
		     struct err *e)
{
	(void)ctx;
	(void)resp;
	return err_set(e, ERR_UNIMPLEMENTED,
		       "/%s is not implemented yet in this version of pprof-fcgi", req->endpoint);
}
