#include "ep/ep.h"

#include "collect/collector.h"
#include "ctx.h"
#include "edge/http.h"
#include "base/log.h"
#include "profile/profile.h"

#include <time.h>

static void on_sample(void *arg, const struct collector_sample *s)
{
	struct profile *p = arg;
	if (s->settle) {
		profile_settle_thread(p, s->tid, (int64_t)s->cpu_ns);
		return;
	}
	if (s->tick) {
		profile_add_tick(p, s->pcs, s->npcs, s->tid, s->thread_name);
		return;
	}
	int64_t values[2] = { s->sampled ? 1 : 0, (int64_t)s->cpu_ns };
	profile_add_sample(p, s->pcs, s->npcs, values, s->tid, s->thread_name);
}

int ep_profile(struct ctx *ctx, const struct req *req, struct resp *resp, struct err *e)
{
	pid_t pid = req->pid;
	struct profile p;
	profile_init_cpu(&p, req->params.hz);
	if (ep_profile_options(&p, &req->params, e) < 0) {
		profile_release(&p);
		return -1;
	}

	/* modules now, while the target surely runs; again at the end */
	ctx_read_modules(ctx, pid);

	struct collector_sub sub = { .hz = req->params.hz, .on_sample = on_sample, .arg = &p };
	struct collector_sub *subs[] = { &sub };
	struct collector_window w;
	int rc = collector_window(ctx->collector, pid, subs, 1, req->params.seconds, &w, e);
	if (rc < 0)
		goto out;
	p.time_nanos = w.start_ns;
	p.duration_nanos = w.duration_ns;
	if (w.target_exited)
		profile_add_comment(&p, "target pid %d exited %.1f s into the %ld s profile",
				    (int)pid, w.exited_after_s, req->params.seconds);
	if (w.target_execd)
		profile_add_comment(&p, "target pid %d exec'd a new image %.1f s into the %ld s "
				    "profile: samples from before are named from the old image's "
				    "files where the perf_event sampler recorded its mappings, else "
				    "they have no symbols", (int)pid, w.execd_after_s,
				    req->params.seconds);
	ctx_comment_sampling(ctx, SAMPLER_CPU, req->params.hz, &sub.stats, &p);
	if ((rc = ep_send_profile(ctx, pid, &p, NULL, &resp->body, e)) < 0)
		goto out;
	resp_attachment(resp, "profile");
out:
	profile_release(&p);
	return rc;
}
