#include "ep/offcpu.h"

#include "base/buf.h"
#include "collect/collector.h"
#include "ctx.h"
#include "base/err.h"
#include "encode/pprof.h"
#include "profile/profile.h"
#include "encode/text.h"

#include <stdbool.h>
#include <string.h>
#include <time.h>

static void on_wait(void *arg, const struct collector_sample *s)
{
	struct profile *p = arg;
	int64_t v[2] = { s->new_wait ? 1 : 0, (int64_t)s->delay_ns };
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

int offcpu_profile(struct ctx *ctx, pid_t pid, enum offcpu_kind kind, int debug, long seconds,
		   struct buf *out, int *text, struct err *e)
{
	struct profile p;
	profile_init(&p);
	profile_add_type(&p, "contentions", "count");
	profile_add_type(&p, "delay", "nanoseconds");
	p.period_type = p.types[0];
	p.period = 1;
	struct collector_sub sub = { .offcpu = true, .on_sample = on_wait, .arg = &p };
	struct collector_sub *subs[] = { &sub };
	struct collector_window w;
	int rc = collector_window(ctx->collector, pid, subs, 1, seconds, &w, e);
	if (rc < 0)
		goto out;
	p.time_nanos = w.start_ns;
	p.duration_nanos = w.duration_ns;
	if (w.target_exited)
		profile_add_comment(&p, "target pid %d exited %.1f s into the %ld s window", (int)pid,
				    w.exited_after_s, seconds);
	ctx_comment_sampling(ctx, SAMPLER_WAITS, COLLECTOR_OFFCPU_HZ, &sub.stats, &p);
	ctx_symbolize(ctx, pid, &p);
	if (kind == OFFCPU_MUTEX) {
		for (size_t i = 0; i < p.nsamples; i++)
			if (!in_lock(&p, &p.samples[i]))
				p.samples[i].values[0] = p.samples[i].values[1] = 0;
		p.drop_zero = true;
	}
	*text = debug != 0;
	if (*text) {
		text_contention(out, kind == OFFCPU_MUTEX ? "mutex" : "contention", &p);
		text_memory_map(out, &p);
	} else if ((rc = pprof_encode(&p, out, e)) < 0)
		goto out;
	rc = buf_check(out, e);
out:
	profile_release(&p);
	return rc;
}
