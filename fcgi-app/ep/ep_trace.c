#include "ep/ep.h"

#include "base/buf.h"
#include "base/clock.h"
#include "base/vec.h"
#include "collect/collector.h"
#include "ctx.h"
#include "edge/http.h"
#include "collect/proc.h"
#include "profile/profile.h"
#include "encode/trace.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

/* waits this close make one slice: a thread woken briefly between them */
#define WAIT_GAP_NS (2 * 1000000LL)
#define TRACE_MAX_OBS 2000000 /* bounds memory: past it, observations are dropped */

/* One look at one thread: running (with a stack) or waiting (with a label
 * and how long it waited up to the look, as the collector settled it). */
struct obs {
	pid_t tid;
	int64_t ts;
	int64_t waited;
	bool running;
	char label[64];
	char name[16];
	uint64_t *pcs; /* running only */
	size_t npcs;
};

struct window {
	struct obs *o;
	size_t n, cap, dropped;
};

static struct obs *add_obs(struct window *w, const struct collector_sample *s)
{
	if (w->n == TRACE_MAX_OBS) {
		w->dropped++;
		return NULL;
	}
	struct obs *o = VEC_PUSH(w->o, w->n, w->cap, 4096);
	o->tid = s->tid;
	o->ts = s->ts_ns;
	snprintf(o->name, sizeof o->name, "%s", s->thread_name);
	return o;
}

static void on_cpu(void *arg, const struct collector_sample *s)
{
	if (!s->sampled)
		return; /* time carried onto an old stack: no new look */
	struct obs *o = add_obs(arg, s);
	if (!o)
		return;
	o->running = true;
	o->npcs = s->npcs;
	o->pcs = malloc((s->npcs ? s->npcs : 1) * sizeof *o->pcs);
	if (!o->pcs)
		abort();
	memcpy(o->pcs, s->pcs, s->npcs * sizeof *o->pcs);
}

static void on_wait(void *arg, const struct collector_sample *s)
{
	if (s->delay_ns <= 0)
		return; /* a credit taken back, or waits counted alone: no new look */
	struct obs *o = add_obs(arg, s);
	if (!o)
		return;
	snprintf(o->label, sizeof o->label, "%s", s->wait_label ? s->wait_label : "waiting");
	o->waited = s->delay_ns;
}

static int by_tid_ts(const void *a, const void *b)
{
	const struct obs *x = a, *y = b;
	if (x->tid != y->tid)
		return (x->tid > y->tid) - (x->tid < y->tid);
	return (x->ts > y->ts) - (x->ts < y->ts);
}

static bool same_state(const struct obs *a, const struct obs *b)
{
	return a->running == b->running && (a->running || strcmp(a->label, b->label) == 0);
}

/* Consecutive looks at a thread in the same state make one slice. A
 * running slice lasts until the next different look, or one cadence past
 * its last; a waiting slice is as long as the waiting the looks settled,
 * ending at the last (the kernel counts how long, not when: placed at the
 * end, where the look saw it), and never starts before the slice before. */
static void build(struct window *w, long hz, int64_t end_ns, struct trace_thread **threads,
		  size_t *nthreads, struct trace_slice **slices, size_t *nslices)
{
	qsort(w->o, w->n, sizeof *w->o, by_tid_ts);
	*threads = calloc(w->n + 1, sizeof **threads);
	*slices = calloc(w->n + 1, sizeof **slices);
	if (!*threads || !*slices)
		abort();
	*nthreads = *nslices = 0;
	int64_t run_cadence = 1000000000LL / hz;
	for (size_t i = 0; i < w->n;) {
		pid_t tid = w->o[i].tid;
		struct trace_thread *t = &(*threads)[(*nthreads)++];
		t->tid = tid;
		snprintf(t->name, sizeof t->name, "%s", w->o[i].name);
		int64_t prev_end = INT64_MIN;
		while (i < w->n && w->o[i].tid == tid) {
			const struct obs *first = &w->o[i];
			int64_t start = first->running ? first->ts : first->ts - first->waited;
			int64_t last = first->ts;
			size_t j = i + 1;
			/* a wait continues while each look's waiting reaches back to the last */
			while (j < w->n && w->o[j].tid == tid && same_state(&w->o[j], first) &&
			       (first->running ? w->o[j].ts - last <= run_cadence * 5 / 2
					       : w->o[j].ts - w->o[j].waited - last <= WAIT_GAP_NS)) {
				last = w->o[j].ts;
				j++;
			}
			int64_t end = first->running ? last + run_cadence : last;
			if (j < w->n && w->o[j].tid == tid && w->o[j].ts < end)
				end = w->o[j].ts;
			if (end > end_ns)
				end = end_ns > first->ts ? end_ns : first->ts + 1;
			if (start < prev_end)
				start = prev_end;
			if (start >= end) {
				i = j;
				continue;
			}
			prev_end = end;
			struct trace_slice *s = &(*slices)[(*nslices)++];
			s->tid = tid;
			s->start_ns = start;
			s->end_ns = end;
			s->name = first->running ? "running" : first->label;
			i = j;
		}
	}
}

int ep_trace(struct ctx *ctx, const struct req *req, struct resp *resp, struct err *e)
{
	pid_t pid = req->pid;
	/* /proc is read before the window: the sampler's preconditions
	 * first, so that a refusal names them */
	if (collector_check(ctx->collector, pid, e) < 0)
		return -1;
	struct window w = { 0 };
	struct profile p;
	profile_init(&p);
	struct proc_info info;
	struct buf cmd;
	buf_init(&cmd, "command line", 1 << 20);
	int rc = proc_info(pid, &info, e);
	if (rc == 0)
		rc = proc_cmdline(pid, &cmd, e);
	struct trace_thread *threads = NULL;
	struct trace_slice *slices = NULL;
	struct trace_sample *samples = NULL;
	const char **argv = NULL;
	if (rc < 0)
		goto out;

	struct collector_sub cpu = { .hz = req->params.hz, .on_sample = on_cpu, .arg = &w };
	struct collector_sub off = { .offcpu = true, .on_sample = on_wait, .arg = &w };
	struct collector_sub *subs[] = { &cpu, &off };
	struct collector_window win;
	if ((rc = collector_window(ctx->collector, pid, subs, 2, req->params.seconds, &win, e)) < 0)
		goto out;

	size_t nthreads, nslices, nsamples = 0;
	build(&w, req->params.hz, clock_ns(CLOCK_BOOTTIME), &threads, &nthreads, &slices, &nslices);
	samples = calloc(w.n + 1, sizeof *samples);
	if (!samples)
		abort();
	for (size_t i = 0; i < w.n; i++) {
		struct obs *o = &w.o[i];
		if (!o->running)
			continue;
		struct trace_sample *s = &samples[nsamples++];
		s->tid = o->tid;
		s->ts_ns = o->ts;
		s->nlocs = o->npcs;
		s->locs = malloc((o->npcs ? o->npcs : 1) * sizeof *s->locs);
		if (!s->locs)
			abort();
		for (size_t j = 0; j < o->npcs; j++)
			s->locs[j] = profile_location(&p, o->pcs[j]);
	}
	ctx_symbolize(ctx, pid, &p);

	/* the command line, split where /proc puts NULs */
	size_t nargs = 0;
	argv = calloc(cmd.len + 2, sizeof *argv);
	if (!argv)
		abort();
	for (size_t i = 0; i < cmd.len; i++)
		if (i == 0 || cmd.data[i - 1] == '\0')
			argv[nargs++] = cmd.data + i;
	struct trace_data d = {
		.pid = pid, .process_name = info.comm, .cmdline = argv, .ncmdline = nargs,
		.threads = threads, .nthreads = nthreads, .slices = slices, .nslices = nslices,
		.samples = samples, .nsamples = nsamples, .symbols = &p,
	};
	if ((rc = trace_encode(&d, &resp->body, e)) < 0)
		goto out;
	resp_attachment(resp, "trace");
out:
	for (size_t i = 0; samples && i < w.n; i++)
		free(samples[i].locs);
	for (size_t i = 0; i < w.n; i++)
		free(w.o[i].pcs);
	free(w.o);
	free(samples);
	free(threads);
	free(slices);
	free(argv);
	buf_release(&cmd);
	profile_release(&p);
	return rc;
}
