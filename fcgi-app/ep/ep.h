/* ep: the endpoints. Each validates nothing the router already did, asks
 * for data, hands it to an encoder, and fills the response. One file each. */
#ifndef PF_EP_H
#define PF_EP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct buf;
struct config;
struct ctx;
struct err;
struct heap_snapshot;
struct params;
struct profile;
struct req;
struct resp;

typedef int (*ep_fn)(struct ctx *ctx, const struct req *req, struct resp *resp,
		     struct err *e);

/* Whether the index links to the browser viewer: config key viewer = on,
 * or auto and the viewer is installed where make install put it. */
bool ep_viewer_shown(const struct config *cfg);
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
/* CLOCK_REALTIME ns as "2026-01-02T03:04:05Z". */
void ep_utc(int64_t ns, char *out, size_t size);
/* POST: loads the heap agent into the running target (collect/agentload). */
int ep_agent(struct ctx *ctx, const struct req *req, struct resp *resp, struct err *e);
/* POST /agent's work, for agent-load = at-start's poller too: loads the
 * agent into pid unless it is there, or the last load into that process
 * (pid, start time, exec) failed and retry is false; logs a load with
 * who; a 503 (no thread could lend itself now) is not kept. polled (the
 * poller): a try that ends as the last did is not logged again. The
 * answer's status and line, or -1 with e (the target's modules could not
 * be read). */
int ep_agent_load(struct ctx *ctx, pid_t pid, const char *who, bool retry, bool polled,
		  char *line, size_t size, struct err *e);
int ep_threadcreate(struct ctx *ctx, const struct req *req, struct resp *resp, struct err *e);

/* What a builder adds to the tail every profile ends with; all optional. */
struct ep_body {
	/* called once p's frames have names, before it is written */
	void (*symbolized)(struct profile *p);
	/* writes p to out as text; NULL: gzipped pprof */
	void (*text)(struct buf *out, const struct profile *p, const void *arg);
	const void *arg; /* the text's */
};

/* Applies a request's sample_index and inlines to p, just made by its
 * constructor (so an unknown type is refused before any window): 400
 * listing p's types. Ignored with debug=1/2, whose text has no types. */
int ep_profile_options(struct profile *p, const struct params *pp, struct err *e);

/* The tail of a profile endpoint: symbolizes p (a failure is a comment
 * in it), then writes it to out as how says (NULL: pprof); ERR_TOO_LARGE
 * when out went over its bound. */
int ep_send_profile(struct ctx *ctx, pid_t pid, struct profile *p, const struct ep_body *how,
		    struct buf *out, struct err *e);

/* Names the frames of p in libraries unloaded since their stack was
 * taken (from s, the later snapshot when there are two) before p is
 * symbolized: from each library's file (in pid's root; 0: pprof-fcgi's)
 * if it is still the one that was loaded (its build-id says), else
 * HEAP_UNLOADED_NAME; a comment for each library says which, "...
 * unloaded since SINCE ...". Returns how many locations were in unloaded
 * libraries. */
size_t ep_name_unloaded(struct ctx *ctx, pid_t pid, const struct heap_snapshot *s,
			struct profile *p, const char *since);

#endif
