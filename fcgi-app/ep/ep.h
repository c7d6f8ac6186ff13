/* ep: the endpoints. Each validates nothing the router already did, asks
 * for data, hands it to an encoder, and fills the response. One file each. */
#ifndef PF_EP_H
#define PF_EP_H

struct ctx;
struct err;
struct req;
struct resp;

typedef int (*ep_fn)(struct ctx *ctx, const struct req *req, struct resp *resp,
		     struct err *e);

int ep_index(struct ctx *ctx, const struct req *req, struct resp *resp, struct err *e);
int ep_cmdline(struct ctx *ctx, const struct req *req, struct resp *resp, struct err *e);
int ep_profile(struct ctx *ctx, const struct req *req, struct resp *resp, struct err *e);
int ep_symbol(struct ctx *ctx, const struct req *req, struct resp *resp, struct err *e);
int ep_block(struct ctx *ctx, const struct req *req, struct resp *resp, struct err *e);
int ep_mutex(struct ctx *ctx, const struct req *req, struct resp *resp, struct err *e);
int ep_heap(struct ctx *ctx, const struct req *req, struct resp *resp, struct err *e);
int ep_allocs(struct ctx *ctx, const struct req *req, struct resp *resp, struct err *e);
int ep_trace(struct ctx *ctx, const struct req *req, struct resp *resp, struct err *e);
int ep_goroutine(struct ctx *ctx, const struct req *req, struct resp *resp, struct err *e);
int ep_threadcreate(struct ctx *ctx, const struct req *req, struct resp *resp, struct err *e);

#endif
