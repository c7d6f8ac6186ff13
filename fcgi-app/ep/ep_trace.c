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
 * and how long it waited since the look before, as the collector settled
 * it, and whether it still waited at this one). */
struct obs {
	pid_t tid;
	int64_t ts, since;
	int64_t waited;
	bool running, blocked;
	bool is_switch;       /* a context switch (sw), or a look at where it was */
	enum sampler_switch sw;
	char label[64];
	char name[16];
	uint64_t *pcs; /* running only */
	size_t npcs;
};

#define TRACE_MAX_GAPS 1000 /* past it, a gap is merged into the last one */

struct window {
	struct obs *o;
	size_t n, cap, dropped;
	struct trace_gap *gaps; /* records lost (perf_event), in the order read */
	size_t ngaps, gaps_cap;
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
	struct obs *o = add_obs(arg, s);
	if (!o)
		return;
	snprintf(o->label, sizeof o->label, "%s", s->wait_label ? s->wait_label : "waiting");
	o->waited = s->delay_ns;
	o->since = s->since_ns;
	o->blocked = s->blocked;
}

/* Records lost in one buffer: kept, whole; past the bound, merged into
 * the last one (wider: more left out, never less). */
static void on_lost(struct window *w, const struct sampler_event *ev)
{
	struct trace_gap g = { .tid = ev->tid, .cpu = ev->cpu, .from_ns = ev->from_ns,
			       .to_ns = ev->time_ns, .lost = ev->lost };
	if (w->ngaps == TRACE_MAX_GAPS) {
		struct trace_gap *last = &w->gaps[w->ngaps - 1];
		last->from_ns = g.from_ns < last->from_ns ? g.from_ns : last->from_ns;
		last->to_ns = g.to_ns > last->to_ns ? g.to_ns : last->to_ns;
		last->lost += g.lost;
		if (last->tid != g.tid || last->cpu != g.cpu) {
			last->tid = 0; /* any thread's */
			last->cpu = -1;
		}
		return;
	}
	struct trace_gap *slot = VEC_PUSH(w->gaps, w->ngaps, w->gaps_cap, 16);
	*slot = g;
}

/* A context switch, or the name of the wait a switch began. */
static void on_switch(void *arg, const struct sampler_event *ev)
{
	if (ev->sw == SAMPLER_SWITCH_LOST) {
		on_lost(arg, ev);
		return;
	}
	struct collector_sample s = { .tid = ev->tid, .ts_ns = ev->time_ns, .thread_name = "" };
	struct obs *o = add_obs(arg, &s);
	if (!o)
		return;
	o->is_switch = true;
	o->sw = ev->sw;
	snprintf(o->label, sizeof o->label, "%s", ev->label ? ev->label : "");
}

static int by_tid_ts(const void *a, const void *b)
{
	const struct obs *x = a, *y = b;
	if (x->tid != y->tid)
		return (x->tid > y->tid) - (x->tid < y->tid);
	if (x->ts != y->ts)
		return (x->ts > y->ts) - (x->ts < y->ts);
	/* a wait's name after the switch that began it */
	return (x->sw > y->sw) - (x->sw < y->sw);
}

struct span {
	int64_t start, end;
	const char *name;
};

struct spans {
	struct span *v;
	size_t n, cap;
};

/* Where a look's waiting goes: ending at the look when the thread still
 * waited there, else beginning at the look before (it woke and ran
 * since); never over the wait placed before. Merged into the last span
 * when the same wait with at most WAIT_GAP_NS between. A provisional
 * credit taken back (it ran while not looked at) comes off the end of
 * the spans placed. */
static void place_wait(struct spans *w, const struct obs *o)
{
	for (int64_t back = -o->waited; back > 0 && w->n > 0;) {
		struct span *last = &w->v[w->n - 1];
		int64_t cut = last->end - last->start < back ? last->end - last->start : back;
		last->end -= cut;
		back -= cut;
		if (last->end == last->start)
			w->n--;
	}
	if (o->waited <= 0)
		return;
	int64_t end = o->blocked || o->since + o->waited > o->ts ? o->ts : o->since + o->waited;
	int64_t start = end - o->waited;
	struct span *last = w->n ? &w->v[w->n - 1] : NULL;
	if (last && start < last->end)
		start = last->end;
	if (start >= end)
		return;
	if (last && strcmp(last->name, o->label) == 0 && start - last->end <= WAIT_GAP_NS) {
		last->end = end;
		return;
	}
	struct span *sp = VEC_PUSH(w->v, w->n, w->cap, 64);
	*sp = (struct span){ start, end, o->label };
}

/* The slices made so far, and where the last of this thread's ends. */
struct out {
	struct trace_slice *v;
	size_t n, cap;
	int64_t done, end_ns;
};

static void add_slice(struct out *out, pid_t tid, int64_t start, int64_t end, const char *name)
{
	if (start < out->done)
		start = out->done;
	if (end > out->end_ns)
		end = out->end_ns;
	if (start >= end)
		return;
	struct trace_slice *s = VEC_PUSH(out->v, out->n, out->cap, 256);
	*s = (struct trace_slice){ tid, start, end, name };
	out->done = end;
}

static int by_start(const void *a, const void *b)
{
	const struct span *x = a, *y = b;
	return (x->start > y->start) - (x->start < y->start);
}

/* r's spans in time order, one where they overlap or touch. */
static void merge_spans(struct spans *r)
{
	if (r->n == 0)
		return; /* r->v may be NULL: qsort's is declared nonnull */
	qsort(r->v, r->n, sizeof *r->v, by_start);
	size_t m = 0;
	for (size_t i = 0; i < r->n; i++) {
		if (m > 0 && r->v[i].start <= r->v[m - 1].end) {
			if (r->v[i].end > r->v[m - 1].end)
				r->v[m - 1].end = r->v[i].end;
		} else {
			r->v[m++] = r->v[i];
		}
	}
	r->n = m;
}

/* When a thread ran (or was runnable), in order and apart: from its CPU
 * samples (from the first of consecutive samples to one cadence past the
 * last), and every interval between two looks at it, where what it did
 * not wait it ran or was queued to run (the kernel's count: its CPU and
 * run-queue time to the nanosecond). */
static void place_runs(struct spans *r, const struct obs *o, size_t n, int64_t cadence)
{
	r->n = 0;
	for (size_t i = 0; i < n; i++) {
		if (o[i].running)
			continue;
		struct span *sp = VEC_PUSH(r->v, r->n, r->cap, 64);
		*sp = (struct span){ o[i].since, o[i].ts, "running" };
	}
	int64_t first = 0, last = INT64_MIN;
	for (size_t i = 0; i <= n; i++) {
		if (i < n && !o[i].running)
			continue;
		if (last != INT64_MIN && (i == n || o[i].ts - last > cadence * 5 / 2)) {
			struct span *sp = VEC_PUSH(r->v, r->n, r->cap, 64);
			*sp = (struct span){ first, last + cadence, "running" };
			last = INT64_MIN;
		}
		if (i == n)
			break;
		if (last == INT64_MIN)
			first = o[i].ts;
		last = o[i].ts;
	}
	merge_spans(r);
}

/* A thread's slices from its looks, in time order. The waiting is the
 * kernel's count, so it is placed first (place_wait) and kept whole; the
 * running (place_runs) is cut where a wait was placed. */
static void build_thread(const struct obs *o, size_t n, int64_t cadence, struct spans *w,
			 struct spans *r, struct out *out)
{
	w->n = 0;
	for (size_t i = 0; i < n; i++)
		if (!o[i].running)
			place_wait(w, &o[i]);
	place_runs(r, o, n, cadence);
	out->done = INT64_MIN;
	size_t k = 0; /* the first wait not yet made a slice */
	for (size_t i = 0; i < r->n; i++) {
		int64_t start = r->v[i].start, end = r->v[i].end;
		/* the waits before its end, each after the running before it */
		for (; k < w->n && w->v[k].start < end; k++) {
			add_slice(out, o->tid, start, w->v[k].start, "running");
			add_slice(out, o->tid, w->v[k].start, w->v[k].end, w->v[k].name);
		}
		add_slice(out, o->tid, start, end, "running");
	}
	for (; k < w->n; k++)
		add_slice(out, o->tid, w->v[k].start, w->v[k].end, w->v[k].name);
}

/* The gaps in tid's records (lost in a buffer its records could be in),
 * merged where they overlap, in time order, into cut. */
static void thread_gaps(const struct trace_gap *g, size_t n, pid_t tid, struct spans *cut)
{
	cut->n = 0;
	for (size_t i = 0; i < n; i++) {
		if (g[i].tid && g[i].tid != tid)
			continue;
		struct span *sp = VEC_PUSH(cut->v, cut->n, cut->cap, 16);
		*sp = (struct span){ g[i].from_ns, g[i].to_ns, NULL };
	}
	merge_spans(cut);
}

/* A thread's slices from its context switches (perf_event): running from
 * each switch onto a CPU to the next off it, waiting from there ("runnable"
 * when preempted, else the wait it was found in, or "blocked") to the next
 * onto one. Before its first record, where the look at its start found it;
 * no slice where neither says (a thread born in the window, records that
 * came before the look). Records lost (cut): the slice open at a gap's
 * start ends there, and none begins before the first record after it. */
static void build_switched(const struct obs *o, size_t n, const struct spans *cut,
			   struct out *out)
{
	enum { UNKNOWN, RUNNING, WAITING } st = UNKNOWN;
	int64_t since = 0;
	const char *label = NULL;
	bool recorded = false;
	size_t k = 0; /* the first gap not yet passed */
	out->done = INT64_MIN;
	for (size_t i = 0; i <= n; i++) {
		int64_t ts = i < n ? o[i].ts : out->end_ns;
		for (; k < cut->n && cut->v[k].start < ts; k++) {
			if (st != UNKNOWN)
				add_slice(out, o->tid, since, cut->v[k].start,
					  st == RUNNING ? "running" : label);
			st = UNKNOWN;
			recorded = true;
			if (ts < cut->v[k].end)
				break; /* a record inside the gap: from another buffer, alone */
		}
		if (i == n)
			break;
		if (!o[i].is_switch || (k < cut->n && cut->v[k].start < ts && ts < cut->v[k].end))
			continue;
		enum sampler_switch sw = o[i].sw;
		if (sw == SAMPLER_SWITCH_START_RUNNING || sw == SAMPLER_SWITCH_START_WAITING) {
			if (st == UNKNOWN && !recorded) {
				st = sw == SAMPLER_SWITCH_START_RUNNING ? RUNNING : WAITING;
				since = o[i].ts;
				label = o[i].label;
			}
			continue;
		}
		if (sw == SAMPLER_SWITCH_LABEL) {
			if (st == WAITING && since == o[i].ts)
				label = o[i].label;
			continue;
		}
		recorded = true;
		if (st == RUNNING)
			add_slice(out, o->tid, since, o[i].ts, "running");
		else if (st == WAITING && sw == SAMPLER_SWITCH_IN)
			add_slice(out, o->tid, since, o[i].ts, label);
		else if (st == WAITING)
			continue; /* off a CPU again after a gap in the records: waits on */
		st = sw == SAMPLER_SWITCH_IN ? RUNNING : WAITING;
		since = o[i].ts;
		label = sw == SAMPLER_SWITCH_PREEMPTED ? "runnable" : "blocked";
	}
	if (st != UNKNOWN)
		add_slice(out, o->tid, since, out->end_ns, st == RUNNING ? "running" : label);
}

/* The thread's name from /proc when no sample named it (one that only waited). */
static void thread_name(pid_t pid, pid_t tid, char *name, size_t size)
{
	char path[64];
	snprintf(path, sizeof path, "/proc/%d/task/%d/comm", (int)pid, (int)tid);
	if (proc_read_small(path, name, size) == 0)
		name[strcspn(name, "\n")] = '\0';
}

static void build(struct window *w, pid_t pid, bool switched, long hz, int64_t end_ns,
		  struct trace_thread **threads, size_t *nthreads, struct trace_slice **slices,
		  size_t *nslices)
{
	qsort(w->o, w->n, sizeof *w->o, by_tid_ts);
	*threads = calloc(w->n + 1, sizeof **threads);
	if (!*threads)
		abort();
	*nthreads = 0;
	struct out out = { .end_ns = end_ns };
	struct spans waits = { 0 }, runs = { 0 }, cut = { 0 };
	for (size_t i = 0; i < w->n;) {
		size_t j = i;
		while (j < w->n && w->o[j].tid == w->o[i].tid)
			j++;
		struct trace_thread *t = &(*threads)[(*nthreads)++];
		t->tid = w->o[i].tid;
		for (size_t k = i; k < j && !t->name[0]; k++)
			snprintf(t->name, sizeof t->name, "%s", w->o[k].name);
		if (!t->name[0])
			thread_name(pid, t->tid, t->name, sizeof t->name);
		if (switched) {
			thread_gaps(w->gaps, w->ngaps, t->tid, &cut);
			build_switched(&w->o[i], j - i, &cut, &out);
		}
		else
			build_thread(&w->o[i], j - i, 1000000000LL / hz, &waits, &runs, &out);
		i = j;
	}
	free(waits.v);
	free(runs.v);
	free(cut.v);
	*slices = out.v;
	*nslices = out.n;
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
	/* perf_event: running and waiting from context switches, and no
	 * thread traced; ptrace: the waits passes */
	struct collector_sub off = { .offcpu = true, .switches = true, .on_sample = on_wait,
				     .on_switch = on_switch, .arg = &w };
	struct collector_sub *subs[] = { &cpu, &off };
	struct collector_window win;
	if ((rc = collector_window(ctx->collector, pid, subs, 2, req->params.seconds, &win, e)) < 0)
		goto out;

	size_t nthreads, nslices, nsamples = 0;
	build(&w, pid, off.switched, req->params.hz, clock_ns(CLOCK_BOOTTIME), &threads, &nthreads,
	      &slices, &nslices);
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
	ctx_name_kernel(ctx, &p);

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
		.gaps = w.gaps, .ngaps = w.ngaps,
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
	free(w.gaps);
	free(samples);
	free(threads);
	free(slices);
	free(argv);
	buf_release(&cmd);
	profile_release(&p);
	return rc;
}
