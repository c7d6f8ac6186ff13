#include "ep/ep.h"

#include "base/buf.h"
#include "base/err.h"
#include "collect/collector.h"
#include "ctx.h"
#include "edge/http.h"
#include "encode/text.h"
#include "profile/profile.h"

#include <stdbool.h>
#include <string.h>
#include <time.h>

/* Where the target's threads wait, from the collector's wall-clock
 * passes over waiting threads: /block (every wait) and /mutex (waits in
 * lock acquisition). */
enum offcpu_kind { OFFCPU_BLOCK, OFFCPU_MUTEX };

static void on_wait(void *arg, const struct collector_sample *s)
{
	struct profile *p = arg;
	if (s->delay_ns == 0 && s->waits == 0)
		return; /* looked at, not waiting */
	int64_t v[2] = { (int64_t)s->waits, s->delay_ns };
	profile_add_wait_sample(p, s->pcs, s->npcs, v, 0, s->thread_name, s->wait_label);
}

/* Lock acquisition, as glibc and its callers name it (std::mutex ends in
 * pthread_mutex_lock). */
static bool is_lock_function(const char *f)
{
	static const char *const prefixes[] = {
		"pthread_mutex_lock", "__pthread_mutex_lock", "pthread_mutex_timedlock",
		"__pthread_mutex_timedlock", "pthread_mutex_clocklock", "__pthread_mutex_clocklock",
		"__lll_lock_wait", "__GI___lll_lock_wait", "pthread_rwlock_rdlock",
		"pthread_rwlock_wrlock", "__pthread_rwlock_rdlock", "__pthread_rwlock_wrlock",
		"pthread_rwlock_timed", "pthread_rwlock_clock", "sem_wait", "__new_sem_wait",
		"sem_timedwait", "sem_clockwait", "pthread_spin_lock", "lll_mutex_lock",
	};
	for (size_t i = 0; i < sizeof prefixes / sizeof prefixes[0]; i++)
		if (strncmp(f, prefixes[i], strlen(prefixes[i])) == 0)
			return true;
	return false;
}

static bool in_lock(const struct profile *p, const struct profile_sample *s)
{
	for (size_t j = 0; j < s->nlocs; j++) {
		const struct profile_location *l = &p->locations[s->locs[j]];
		for (size_t f = 0; f < l->nlines; f++)
			if (is_lock_function(l->lines[f].function))
				return true;
	}
	return false;
}

/* /mutex: only the waits in lock acquisition count. */
static void keep_locks(struct profile *p)
{
	for (size_t i = 0; i < p->nsamples; i++)
		if (!in_lock(p, &p->samples[i]))
			p->samples[i].values[0] = p->samples[i].values[1] = 0;
	p->drop_zero = true;
}

/* arg: the header, "mutex" or "contention" */
static void contention_text(struct buf *out, const struct profile *p, const void *arg)
{
	text_contention(out, arg, p);
	text_memory_map(out, p);
}

/* The body for a window of seconds: gzipped pprof (contentions/count,
 * delay/nanoseconds, thread_name and wait labels) or, with debug=1, Go's
 * contention text (*text set). */
static int offcpu_profile(struct ctx *ctx, pid_t pid, enum offcpu_kind kind,
			  const struct params *pp, struct buf *out, int *text, struct err *e)
{
	int debug = pp->debug;
	long seconds = pp->seconds;
	struct profile p;
	profile_init_contention(&p);
	struct collector_sub sub = { .offcpu = true, .on_sample = on_wait, .arg = &p };
	struct collector_sub *subs[] = { &sub };
	struct collector_window w;
	int rc = ep_profile_options(&p, pp, e);
	if (rc == 0)
		rc = collector_window(ctx->collector, pid, subs, 1, seconds, &w, e);
	if (rc < 0)
		goto out;
	p.time_nanos = w.start_ns;
	p.duration_nanos = w.duration_ns;
	if (w.target_exited)
		profile_add_comment(&p, "target pid %d exited %.1f s into the %ld s window", (int)pid,
				    w.exited_after_s, seconds);
	ctx_comment_sampling(ctx, SAMPLER_WAITS, COLLECTOR_OFFCPU_HZ, &sub.stats, &p);
	*text = debug != 0;
	struct ep_body how = {
		.symbolized = kind == OFFCPU_MUTEX ? keep_locks : NULL,
		.text = *text ? contention_text : NULL,
		.arg = kind == OFFCPU_MUTEX ? "mutex" : "contention",
	};
	rc = ep_send_profile(ctx, pid, &p, &how, out, e);
out:
	profile_release(&p);
	return rc;
}

/* /block and /mutex: where threads waited over a window. */
static int offcpu(struct ctx *ctx, const struct req *req, struct resp *resp, struct err *e,
		  enum offcpu_kind kind, const char *name)
{
	int text = 0;
	if (offcpu_profile(ctx, req->pid, kind, &req->params, &resp->body, &text, e) < 0)
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
