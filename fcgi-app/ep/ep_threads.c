#include "ep/ep_threads.h"

#include "base/buf.h"
#include "base/clock.h"
#include "base/err.h"
#include "base/log.h"
#include "base/vec.h"
#include "collect/collector.h"
#include "collect/heap.h"
#include "ctx.h"
#include "ep/ep.h"
#include "encode/text.h"
#include "profile/profile.h"
#include "profile/threads.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static void on_thread(void *arg, const struct collector_sample *s)
{
	struct thread_dump *d = arg;
	struct thread_stack *t = VEC_PUSH(d->t, d->n, d->cap, 64);
	t->tid = s->tid;
	snprintf(t->name, sizeof t->name, "%s", s->thread_name);
	t->state = s->state;
	t->wait = s->wait;
	t->cpu_total_ns = s->cpu_total_ns;
	t->without_stop = s->without_stop;
	t->npcs = s->npcs;
	t->pcs = malloc((s->npcs ? s->npcs : 1) * sizeof *t->pcs);
	if (!t->pcs)
		abort();
	memcpy(t->pcs, s->pcs, s->npcs * sizeof *t->pcs);
}

static int by_tid(const void *a, const void *b)
{
	const struct thread_stack *x = a, *y = b;
	return (x->tid > y->tid) - (x->tid < y->tid);
}

int ep_threads_dump(struct ctx *ctx, pid_t pid, struct thread_dump *d, struct err *e)
{
	memset(d, 0, sizeof *d);
	struct collector_sub sub = { .on_sample = on_thread, .arg = d };
	if (collector_snapshot(ctx->collector, pid, &sub, e) < 0)
		return -1;
	d->stops = sub.stats.stops;
	d->held_ns_max = sub.stats.held_ns_max;
	d->lost = sub.stats.lost;
	log_info("thread dump of pid %d: %zu threads, %llu stopped, longest held %.1f us",
		 (int)pid, d->n, (unsigned long long)d->stops, (double)d->held_ns_max / 1e3);
	/* the main thread (tid = pid) first, then by tid */
	qsort(d->t, d->n, sizeof *d->t, by_tid);
	for (size_t i = 1; i < d->n; i++)
		if (d->t[i].tid == pid) {
			struct thread_stack main_thread = d->t[i];
			memmove(&d->t[1], &d->t[0], i * sizeof *d->t);
			d->t[0] = main_thread;
			break;
		}
	return 0;
}

enum labels { LABELS_NONE, LABELS_NAME, LABELS_ALL };

static void add_stack(struct profile *p, const struct thread_stack *t, const uint64_t *pcs,
		      size_t n, int64_t value, enum labels labels)
{
	int64_t v[PROFILE_MAX_VALUES] = { value };
	profile_add_sample(p, pcs, n, v, labels == LABELS_ALL ? t->tid : 0,
			   labels != LABELS_NONE ? t->name : NULL);
}

static bool is_function(const struct profile *p, size_t loc, const char *name)
{
	const struct profile_location *l = &p->locations[loc];
	return l->nlines && strcmp(l->lines[l->nlines - 1].function, name) == 0;
}

/* Where a thread began: from its start routine (the frame above
 * start_thread) or main, down to the root. */
static size_t start_routine(const struct profile *full, size_t sample, size_t n)
{
	const struct profile_sample *s = &full->samples[sample];
	for (size_t j = 1; j < s->nlocs; j++)
		if (is_function(full, s->locs[j], "start_thread"))
			return j - 1;
	for (size_t j = 0; j < s->nlocs; j++)
		if (is_function(full, s->locs[j], "main"))
			return j;
	return n > 3 ? n - 3 : 0;
}

/* Adds d's stacks to p with value; threadcreate stacks are cut to their
 * start routine, which needs them symbolized first. */
static void add_dump(struct ctx *ctx, pid_t pid, const struct thread_dump *d,
		     enum threads_kind kind, struct profile *p, int64_t value, enum labels labels,
		     const struct heap_snapshot *agent, size_t *created)
{
	if (kind == THREADS_GOROUTINE) {
		(void)agent;
		(void)created;
		for (size_t i = 0; i < d->n; i++)
			add_stack(p, &d->t[i], d->t[i].pcs, d->t[i].npcs, value, labels);
		return;
	}
	struct profile full;
	profile_init_count(&full, "threads");
	for (size_t i = 0; i < d->n; i++)
		add_stack(&full, &d->t[i], d->t[i].pcs, d->t[i].npcs, 1, LABELS_ALL);
	ctx_symbolize(ctx, pid, &full);
	for (size_t i = 0; i < d->n && i < full.nsamples; i++) {
		/* the agent saw it start: the stack that called pthread_create */
		uint64_t made[PROFILE_MAX_DEPTH];
		size_t nmade = heap_thread_stack(agent, d->t[i].tid, made, PROFILE_MAX_DEPTH);
		if (nmade) {
			add_stack(p, &d->t[i], made, nmade, value, labels);
			++*created;
			continue;
		}
		size_t from = start_routine(&full, i, d->t[i].npcs), n = d->t[i].npcs - from;
		if (n == 0)
			continue;
		/* the routine by its entry, not by where the thread is in it now,
		 * so that threads of one routine count together */
		uint64_t pcs[PROFILE_MAX_DEPTH];
		memcpy(pcs, d->t[i].pcs + from, n * sizeof *pcs);
		const struct profile_location *l = &full.locations[full.samples[i].locs[from]];
		if (l->nlines)
			pcs[0] = l->address - l->sym_offset;
		add_stack(p, &d->t[i], pcs, n, value, labels);
	}
	profile_release(&full);
}

/* arg: the profile's name */
static void counts_text(struct buf *out, const struct profile *p, const void *arg)
{
	text_counts(out, arg, p);
	text_memory_map(out, p);
}

/* arg: the dump p was built from, one sample per thread */
static void dump_text(struct buf *out, const struct profile *p, const void *arg)
{
	text_threads(out, arg, p);
}

int ep_threads_profile(struct ctx *ctx, pid_t pid, enum threads_kind kind, int debug,
		       long seconds, const struct params *pp, struct buf *out, int *text,
		       struct err *e)
{
	const char *name = kind == THREADS_GOROUTINE ? "goroutine" : "threadcreate";
	struct profile p;
	profile_init_count(&p, name);
	p.time_nanos = clock_ns(CLOCK_REALTIME);
	struct thread_dump d0 = { 0 }, d1 = { 0 };
	int rc = -1;
	int64_t t0 = clock_ns(CLOCK_MONOTONIC);
	struct heap_snapshot agent = { 0 };
	size_t created = 0;
	if (ep_profile_options(&p, pp, e) < 0)
		goto out;
	if (kind == THREADS_THREADCREATE && ctx_heap_read(ctx, pid, &agent, e) < 0)
		goto out;
	if (ep_threads_dump(ctx, pid, &d0, e) < 0)
		goto out;
	*text = debug != 0;
	if (seconds > 0) {
		/* Go's delta: the end's counts minus the start's, zeros left out */
		add_dump(ctx, pid, &d0, kind, &p, -1, LABELS_NAME, &agent, &created);
		ctx_sleep(ctx, seconds);
		if (ep_threads_dump(ctx, pid, &d1, e) < 0)
			goto out;
		add_dump(ctx, pid, &d1, kind, &p, 1, LABELS_NAME, &agent, &created);
		p.drop_zero = true;
		p.duration_nanos = clock_ns(CLOCK_MONOTONIC) - t0;
		*text = 0;
	} else if (debug == 2 && kind == THREADS_GOROUTINE) {
		add_dump(ctx, pid, &d0, kind, &p, 1, LABELS_ALL, &agent, &created);
	} else {
		add_dump(ctx, pid, &d0, kind, &p, 1, debug == 1 ? LABELS_NONE : LABELS_NAME,
			 &agent, &created);
	}
	if (kind == THREADS_THREADCREATE && !agent.present)
		profile_add_comment(&p, "without the preload agent, threads are grouped by their start "
				    "routine; for the stacks that created them, start the target with "
				    "LD_PRELOAD=libpprof-agent.so");
	else if (kind == THREADS_THREADCREATE && created < d0.n + d1.n)
		profile_add_comment(&p, "threads the preload agent did not see start (the main thread, "
				    "threads made before it loaded) are grouped by their start routine");
	ep_name_unloaded(ctx, pid, &agent, &p, "the thread was created");
	struct ep_body how = { .text = counts_text, .arg = name };
	if (debug == 2 && kind == THREADS_GOROUTINE)
		how = (struct ep_body){ .text = dump_text, .arg = &d0 };
	if (!*text)
		how.text = NULL;
	rc = ep_send_profile(ctx, pid, &p, &how, out, e);
out:
	heap_snapshot_release(&agent);
	thread_dump_release(&d0);
	thread_dump_release(&d1);
	profile_release(&p);
	return rc;
}
