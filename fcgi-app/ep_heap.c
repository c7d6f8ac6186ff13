#include "ep.h"

#include "ctx.h"
#include "http.h"
#include "pprof.h"
#include "proc.h"
#include "profile.h"

#include <stdio.h>
#include <time.h>

/* Allocation history cannot be read from outside a process: it comes from
 * the preload agent, which this version does not ship yet. Until then the
 * answer is Go's profile with no samples and a comment that says why, so
 * scrapers and go tool pprof keep working. */
#define NO_AGENT "no allocation data: heap and allocs profiles come from the preload agent " \
		 "(LD_PRELOAD=libpprof-agent.so), which this version of pprof-fcgi does not ship yet"

static int heap(struct ctx *ctx, const struct req *req, struct resp *resp, struct err *e,
		const char *name, int default_type)
{
	(void)ctx;
	struct proc_info info;
	if (proc_info(req->pid, &info, e) < 0)
		return -1;
	if (req->params.debug) {
		/* Go's legacy text, with native figures where Go has MemStats */
		resp->content_type = "text/plain; charset=utf-8";
		buf_printf(&resp->body, "heap profile: 0: 0 [0: 0] @ heap/%d\n\n", 524288 * 2);
		buf_printf(&resp->body, "# %s\n\n# native process\n# pid = %d\n# RSS = %ld\n# Threads = %ld\n",
			   NO_AGENT, (int)req->pid, info.rss_kb * 1024, info.threads);
		return 0;
	}
	struct profile p;
	profile_init(&p);
	profile_add_type(&p, "alloc_objects", "count");
	profile_add_type(&p, "alloc_space", "bytes");
	profile_add_type(&p, "inuse_objects", "count");
	profile_add_type(&p, "inuse_space", "bytes");
	p.default_type = default_type;
	p.period_type = (struct profile_value_type){ "space", "bytes" };
	p.period = 524288;
	struct timespec now;
	clock_gettime(CLOCK_REALTIME, &now);
	p.time_nanos = (int64_t)now.tv_sec * 1000000000LL + now.tv_nsec;
	profile_add_comment(&p, NO_AGENT);
	int rc = pprof_encode(&p, &resp->body, e);
	profile_release(&p);
	if (rc == 0) {
		char file[32];
		snprintf(file, sizeof file, "%s%s", name, req->params.has_seconds ? "-delta" : "");
		resp_attachment(resp, file);
	}
	return rc;
}

int ep_heap(struct ctx *ctx, const struct req *req, struct resp *resp, struct err *e)
{
	return heap(ctx, req, resp, e, "heap", 3); /* inuse_space */
}

int ep_allocs(struct ctx *ctx, const struct req *req, struct resp *resp, struct err *e)
{
	return heap(ctx, req, resp, e, "allocs", 1); /* alloc_space */
}
