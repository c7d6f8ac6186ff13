#include "collect/collector.h"

#include "base/clock.h"
#include "base/log.h"
#include "collect/deliver.h"
#include "collect/maphist.h"
#include "collect/proc.h"
#include "collect/sampler.h"
#include "collect/sampler_pick.h"
#include "collect/tidtab.h"
#include "collect/unwind.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <unistd.h>

struct collector {
	struct collector_config cfg;
	const struct sampler_ops *ops; /* picked while no loop runs */
	char why_not_perf[SAMPLER_LINE]; /* why auto fell back to ptrace */
	pthread_mutex_t lock;
	pthread_cond_t cond;      /* CLOCK_MONOTONIC */
	pthread_t thread;
	int wake_fd;              /* eventfd: the loop's wait ends (sampler_host) */
	bool thread_started, running, stopping, closed;
	pid_t pid;
	struct collector_sub *subs[COLLECTOR_MAX_SUBS];
	struct collector_job *jobs; /* waiting for their (next) turn, oldest first */
	/* owned by the collector thread */
	struct tidtab threads;    /* kept across loops while the process stays */
	struct sampler *smp;      /* attached while the loop runs */
	struct collector_job *job; /* whose fn runs now: a pass's threads go to it */
	bool first_follow;        /* threads found now were there when sampling began */
	struct unwinder *unw;     /* kept across loops while the pid stays */
	pid_t thr_pid;            /* the process threads describes, kept across */
	unsigned long long thr_start; /* loops for the stacks of waits */
	pid_t unw_pid;
	int64_t last_refresh_ns;
	int64_t offcpu_next_ns; /* off-CPU passes */
	int64_t listed_ns;        /* when the threads were last followed */
	uint64_t rng;             /* xorshift state for tick jitter */
};

/* The loop sees what changed now, not at its next turn (with perf_event,
 * up to 1/COLLECTOR_DRAIN_HZ later). */
static void wake_loop(struct collector *c)
{
	uint64_t one = 1;
	if (c->wake_fd >= 0 && write(c->wake_fd, &one, sizeof one) < 0)
		log_debug("collector: wake: %s", strerror(errno));
}

/* ---- delivery ---- */

static bool sub_active(const struct collector_sub *s)
{
	return s && s->joined && !s->removed;
}

/* A CPU profile's subscriber: the one that gets CPU samples and time. */
static bool sub_cpu(const struct collector_sub *s)
{
	return sub_active(s) && !s->offcpu;
}

/* Reports every thread's CPU time not yet reported to s. */
static void flush_sub(struct collector *c, struct collector_sub *s)
{
	for (size_t i = 0; i < c->threads.n; i++)
		deliver_settle(&c->threads.thr[i], s, c->ops->scaled);
}

/* A thread leaving the table: what its time was not yet given goes out. */
static void on_thread_drop(void *arg, struct thr *t)
{
	struct collector *c = arg;
	for (int i = 0; i < COLLECTOR_MAX_SUBS; i++)
		if (sub_cpu(c->subs[i]))
			deliver_settle(t, c->subs[i], c->ops->scaled);
}

static void end_all(struct collector *c, const struct err *why, bool exited)
{
	for (int i = 0; i < COLLECTOR_MAX_SUBS; i++) {
		struct collector_sub *s = c->subs[i];
		if (!s)
			continue;
		if (sub_cpu(s))
			flush_sub(c, s);
		if (why && s->error.kind == ERR_NONE)
			s->error = *why;
		if (exited) {
			s->target_exited = true;
			clock_gettime(CLOCK_REALTIME, &s->exited_at);
		}
		s->ended = s->removed = true;
		c->subs[i] = NULL;
	}
	pthread_cond_broadcast(&c->cond);
}

/* ---- what the sampler hands in (on the collector thread) ---- */

static void on_sampler_sample(void *arg, const struct sampler_sample *smp)
{
	struct collector *c = arg;
	struct thr *t = tidtab_find(&c->threads, smp->tid);
	if (!t)
		t = tidtab_add(&c->threads, smp->tid);
	if (smp->pcs && smp->pcs != t->pcs) {
		t->npcs = smp->npcs < UNWIND_DEFAULT_DEPTH ? smp->npcs : UNWIND_DEFAULT_DEPTH;
		memcpy(t->pcs, smp->pcs, t->npcs * sizeof *t->pcs);
	} else if (!smp->pcs && smp->has_regs) {
		/* the kernel's frames above the user stack they were called from */
		size_t nk = smp->nkernel_pcs <= UNWIND_DEFAULT_DEPTH / 2 ? smp->nkernel_pcs : 0;
		if (nk)
			memcpy(t->pcs, smp->kernel_pcs, nk * sizeof *t->pcs);
		unwind_copy(c->unw, &smp->regs, smp->stack, smp->stack_size, t->pcs + nk,
			    UNWIND_DEFAULT_DEPTH - nk, &t->npcs);
		maphist_tag(c->cfg.maps, smp->pid, smp->time_ns, t->pcs + nk, t->npcs);
		t->npcs += nk;
	}
	t->pcs_ts = smp->time_ns;
	if (smp->cpu_total_ns)
		t->cpu_ns = smp->cpu_total_ns;
	else
		t->cpu_ns += smp->period_ns;
	t->pcs_cpu = t->cpu_ns;
	for (int i = 0; i < COLLECTOR_MAX_SUBS; i++) {
		struct collector_sub *s = c->subs[i];
		if (!sub_cpu(s) || (!(c->ops->tick ? s->due : deliver_due(t, s, smp->period_ns)) &&
				    !smp->carried))
			continue;
		if (c->ops->scaled && !smp->carried)
			deliver_tick(t, s);
		else /* carried: CPU time only, an exited thread's rest */
			deliver_cpu(t, s, !smp->carried);
	}
}

static void on_sampler_event(void *arg, const struct sampler_event *ev)
{
	struct collector *c = arg;
	struct thr *t = tidtab_find(&c->threads, ev->tid);
	switch (ev->kind) {
	case SAMPLER_THREAD_NEW:
		/* threads there when sampling began count from now; new ones from their start */
		for (int s = 0; t && s < COLLECTOR_MAX_SUBS; s++)
			t->base[s] = c->first_follow ? t->cpu_ns : 0;
		break;
	case SAMPLER_THREAD_EXIT: /* its last CPU time goes out now */
		if (t)
			on_thread_drop(c, t);
		break;
	case SAMPLER_EXEC:
		/* the old image's mappings are gone: what was sampled before can
		 * no longer be symbolized, which the subscribers are told */
		for (int i = 0; i < COLLECTOR_MAX_SUBS; i++) {
			struct collector_sub *s = c->subs[i];
			if (s && !s->target_execd) {
				s->target_execd = true;
				clock_gettime(CLOCK_REALTIME, &s->execd_at);
			}
		}
		/* fall through - the new maps are read at once */
	case SAMPLER_MMAP:
		c->last_refresh_ns = 0;
		break;
	case SAMPLER_SWITCH:
		deliver_switch(c->subs, COLLECTOR_MAX_SUBS, ev);
		break;
	}
}

/* A thread a pass looked at: to the job that ran the pass (a snapshot),
 * otherwise to the off-CPU subscribers. */
static void on_sampler_thread(void *arg, const struct collector_sample *smp)
{
	struct collector *c = arg;
	if (c->job) {
		if (c->job->on_sample)
			c->job->on_sample(c->job->arg, smp);
		return;
	}
	for (int i = 0; i < COLLECTOR_MAX_SUBS; i++) {
		struct collector_sub *s = c->subs[i];
		if (!sub_active(s) || !s->offcpu || s->switched)
			continue;
		s->stats.samples++;
		s->on_sample(s->arg, smp);
	}
}

/* ---- jobs ---- */

static void job_dequeue(struct collector *c, struct collector_job *job)
{
	for (struct collector_job **p = &c->jobs; *p; p = &(*p)->next)
		if (*p == job) {
			*p = job->next;
			job->next = NULL;
			return;
		}
}

static void job_end(struct collector *c, struct collector_job *job, int rc)
{
	job_dequeue(c, job);
	job->rc = rc;
	job->done = true;
	pthread_cond_broadcast(&c->cond);
}

/* Each waiting job's fn, once. */
static void run_jobs(struct collector *c)
{
	struct collector_job *job = c->jobs, *next;
	for (; job; job = next) {
		next = job->next;
		job->pid = c->pid;
		job->sampler = c->smp;
		job->ops = c->ops;
		c->job = job;
		int rc = job->fn(job, &job->error);
		c->job = NULL;
		if (rc != COLLECTOR_JOB_AGAIN)
			job_end(c, job, rc < 0 ? -1 : 0);
	}
}

static void fail_jobs(struct collector *c, const struct err *why)
{
	while (c->jobs) {
		struct collector_job *job = c->jobs;
		job->error = *why;
		job_end(c, job, -1);
	}
}

/* ---- the thread ---- */

/* The thread table and unwinder of the last loop serve this one if the
 * process is still the same; NULL unwinder with e when it cannot be had. */
static void loop_prepare(struct collector *c, struct err *e)
{
	unsigned long long start = proc_starttime(c->pid);
	if (c->thr_pid != c->pid || c->thr_start != start || start == 0)
		tidtab_forget(&c->threads);
	c->thr_pid = c->pid;
	c->thr_start = start;
	if (c->unw && c->unw_pid == c->pid) {
		if (unwind_refresh(c->unw, e) < 0) {
			unwind_free(c->unw);
			c->unw = NULL;
		}
	} else {
		unwind_free(c->unw);
		c->unw = unwind_new(c->pid, e);
		c->unw_pid = c->pid;
	}
}

/* Joins and removes subscribers; the fastest CPU rate, and whether any
 * wants waits passes, or context switches. */
static long loop_subs(struct collector *c, bool *want_offcpu, bool *want_switches)
{
	long hz = 0;
	*want_offcpu = *want_switches = false;
	for (int i = 0; i < COLLECTOR_MAX_SUBS; i++) {
		struct collector_sub *s = c->subs[i];
		if (!s)
			continue;
		if (!s->joined) {
			/* counts from now for the threads already known */
			for (size_t j = 0; j < c->threads.n; j++) {
				c->threads.thr[j].base[i] = c->threads.thr[j].cpu_ns;
				c->threads.thr[j].ticks[i] = 0;
			}
			s->switched = s->offcpu && s->switches && c->ops->switches;
			/* waits settled up to now go to the others: it counts from here */
			if (s->offcpu && !s->switched && c->ops->waits && !c->first_follow)
				c->ops->waits(c->smp, true, &s->stats);
			s->joined = true;
		}
		if (s->leaving) {
			if (s->switched) /* the switches up to its end */
				c->ops->drain(c->smp, 0, &s->stats);
			if (s->offcpu && !s->switched && c->ops->waits && !c->first_follow)
				c->ops->waits(c->smp, true, &s->stats); /* to its end */
			if (sub_cpu(s))
				flush_sub(c, s);
			s->removed = s->ended = true;
			c->subs[i] = NULL;
			pthread_cond_broadcast(&c->cond);
			continue;
		}
		if (s->offcpu)
			*(s->switched ? want_switches : want_offcpu) = true;
		else if (s->hz > hz)
			hz = s->hz;
	}
	return hz;
}

static void *collector_main(void *arg)
{
	struct collector *c = arg;
	/* a target thread waits stopped while this thread unwinds it: being
	 * scheduled out then makes the stop long. Best effort (CAP_SYS_NICE). */
	if (setpriority(PRIO_PROCESS, (id_t)gettid(), -10) < 0)
		log_debug("collector: setpriority: %s", strerror(errno));
	struct err e = { 0 };
	loop_prepare(c, &e);
	pthread_mutex_lock(&c->lock);
	if (c->unw) {
		struct sampler_host host = {
			.pid = c->pid, .threads = &c->threads, .unw = c->unw, .perf_layout = c->cfg.perf_layout,
			.kernel_frames = c->cfg.kernel_frames, .maps = c->cfg.maps, .wake_fd = c->wake_fd,
			.perf_stall_ms = c->cfg.perf_stall_ms,
			.sink = { on_sampler_sample, on_sampler_event, on_sampler_thread, c },
		};
		c->smp = c->ops->attach(&host, &e);
	}
	if (!c->smp) {
		end_all(c, &e, false);
		fail_jobs(c, &e);
		goto out;
	}
	c->first_follow = true;
	int64_t next = clock_ns(CLOCK_MONOTONIC);
	c->last_refresh_ns = next;
	c->offcpu_next_ns = 0;
	c->rng = (uint64_t)next ^ 0x9e3779b97f4a7c15ULL; /* any nonzero seed */
	c->listed_ns = 0;
	long armed = -1;
	struct sampler_stats drained = { 0 }; /* counted by drains, for the next turn */
	for (;;) {
		bool want_offcpu, want_switches;
		long hz = loop_subs(c, &want_offcpu, &want_switches);
		if (c->stopping) {
			end_all(c, NULL, false);
			struct err closing = { 0 };
			err_set(&closing, ERR_BUSY, "pprof-fcgi is shutting down");
			fail_jobs(c, &closing);
			break;
		}
		run_jobs(c);
		long rate = c->ops->tick || hz < COLLECTOR_DRAIN_HZ ? hz : COLLECTOR_DRAIN_HZ;
		if ((want_offcpu || want_switches) && rate < COLLECTOR_OFFCPU_HZ)
			rate = COLLECTOR_OFFCPU_HZ;
		if (c->jobs && rate < COLLECTOR_JOB_HZ)
			rate = COLLECTOR_JOB_HZ;
		if (rate == 0)
			break;
		if (c->ops->switches) /* first: arm opens the events with it */
			c->ops->switches(c->smp, want_switches);
		if (hz != armed)
			c->ops->arm(c->smp, armed = hz);
		struct sampler_stats st = drained;
		memset(&drained, 0, sizeof drained);
		err_clear(&e);
		/* new threads are picked up every 100 ms; exits come as events */
		int rc = 0;
		int64_t lnow = clock_ns(CLOCK_MONOTONIC);
		if (lnow - c->listed_ns >= 100000000LL) {
			rc = c->ops->follow(c->smp, &e);
			c->first_follow = false;
			c->listed_ns = lnow;
		} else if (kill(c->pid, 0) < 0 && errno == ESRCH) {
			rc = err_set(&e, ERR_TARGET, "target pid %d exited", (int)c->pid);
		}
		if (rc == 0 && hz > 0)
			deliver_decimate(c->subs, COLLECTOR_MAX_SUBS, hz, clock_ns(CLOCK_MONOTONIC));
		if (rc == 0 && hz > 0 && c->ops->tick)
			c->ops->tick(c->smp, &st);
		int64_t tnow = clock_ns(CLOCK_MONOTONIC);
		if (rc == 0 && want_offcpu && c->ops->waits && tnow >= c->offcpu_next_ns) {
			c->ops->waits(c->smp, false, &st);
			c->offcpu_next_ns = tnow + 1000000000LL / COLLECTOR_OFFCPU_HZ;
		}
		for (int i = 0; i < COLLECTOR_MAX_SUBS; i++) {
			struct collector_sub *s = c->subs[i];
			if (!sub_active(s))
				continue;
			struct sampler_stats mine = st;
			if (sub_cpu(s) && !s->due)
				mine.ticks = 0; /* its own ticks, not the loop's */
			sampler_stats_add(&s->stats, &mine);
		}
		if (rc < 0) {
			log_info("collector: %s", e.msg);
			end_all(c, &e, e.kind == ERR_TARGET);
			fail_jobs(c, &e);
			break;
		}
		pthread_mutex_unlock(&c->lock);
		/* libraries loaded or unloaded: re-read the maps now and then */
		int64_t now = clock_ns(CLOCK_MONOTONIC);
		if (now - c->last_refresh_ns > 1000000000LL) {
			struct err re = { 0 };
			unwind_refresh(c->unw, &re);
			c->last_refresh_ns = now;
		}
		/* jittered ticks, uniform over 0.5 to 1.5 periods: a fixed period
		 * locks onto periodic work (a 4 ms loop sampled every 10 ms shows
		 * two phases only) and misreports where its time goes */
		c->rng ^= c->rng << 13;
		c->rng ^= c->rng >> 7;
		c->rng ^= c->rng << 17;
		int64_t period = 1000000000LL / rate;
		next += period / 2 + (int64_t)(c->rng % (uint64_t)(period > 0 ? period : 1));
		if (next < now) /* fell behind: no burst of catch-up ticks, and still a
				 * random gap (back to back, ticks lock onto the
				 * target's phase as its threads wait for our stops) */
			next = now + (int64_t)((c->rng >> 32) % (uint64_t)(period > 0 ? period : 1));
		for (int64_t left; (left = next - clock_ns(CLOCK_MONOTONIC)) > 0;) {
			c->ops->drain(c->smp, left, &drained);
			/* woken by the buffers or wake_fd: a turn now, the next
			 * counted from here (a clock-driven sampler keeps its cadence) */
			if (!c->ops->tick) {
				next = clock_ns(CLOCK_MONOTONIC);
				break;
			}
		}
		pthread_mutex_lock(&c->lock);
	}
	c->ops->detach(c->smp);
	c->smp = NULL;
out:
	c->running = false;
	pthread_cond_broadcast(&c->cond);
	pthread_mutex_unlock(&c->lock);
	/* returning ends this thread, and the kernel detaches every thread it
	 * traced, whatever state they are in: no stop is needed to let go */
	return NULL;
}

/* ---- the API ---- */

struct collector *collector_new(const struct collector_config *cc)
{
	struct collector *c = calloc(1, sizeof *c);
	if (!c)
		abort();
	c->cfg = *cc;
	c->ops = cc->sampler == COLLECTOR_PTRACE ? &sampler_ptrace : &sampler_perf;
	c->threads.on_drop = on_thread_drop;
	c->threads.drop_arg = c;
	c->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK); /* -1: news wait a turn */
	pthread_mutex_init(&c->lock, NULL);
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&c->cond, &ca);
	pthread_condattr_destroy(&ca);
	return c;
}

void collector_close(struct collector *c)
{
	pthread_mutex_lock(&c->lock);
	c->stopping = c->closed = true;
	pthread_cond_broadcast(&c->cond); /* wakes collector_sleep */
	wake_loop(c);
	bool join = c->thread_started;
	c->thread_started = false;
	pthread_mutex_unlock(&c->lock);
	if (join)
		pthread_join(c->thread, NULL);
}

void collector_free(struct collector *c)
{
	if (!c)
		return;
	collector_close(c);
	tidtab_forget(&c->threads);
	unwind_free(c->unw);
	if (c->wake_fd >= 0)
		close(c->wake_fd);
	pthread_mutex_destroy(&c->lock);
	pthread_cond_destroy(&c->cond);
	free(c);
}

int collector_check(struct collector *c, pid_t pid, struct err *e)
{
	/* the choice point: the sampler of a loop that starts for pid now */
	pthread_mutex_lock(&c->lock);
	const struct sampler_ops *ops = c->running ? c->ops
		: sampler_pick(&c->cfg, pid, c->why_not_perf, sizeof c->why_not_perf, e);
	if (ops)
		c->ops = ops;
	pthread_mutex_unlock(&c->lock);
	if (!ops)
		return -1;
	unsigned needs = ops->needs;
	/* reading memory and attaching both need ptrace's access mode */
	if ((needs & (SAMPLER_NEEDS_READ_MEM | SAMPLER_NEEDS_ATTACH)) && proc_check_access(pid, e) < 0)
		return -1;
	if ((needs & SAMPLER_NEEDS_ATTACH) && proc_check_tracer(pid, c->cfg.self, e) < 0)
		return -1;
	/* SAMPLER_NEEDS_PERF: checked by sampler_pick */
	return 0;
}

int collector_check_tracer(struct collector *c, pid_t pid, struct err *e)
{
	return proc_check_tracer(pid, c->cfg.self, e);
}

void collector_comment(const struct collector *c, enum sampler_kind kind, long hz,
		       const struct sampler_stats *st, struct sampler_lines *out)
{
	if (kind == SAMPLER_CPU) {
		char said[SAMPLER_LINE];
		sampler_pick_said(c->ops, c->why_not_perf, said, sizeof said);
		sampler_line(out, "pprof-fcgi: CPU sampler: %s", said);
	}
	c->ops->describe(kind, hz, st, out);
}

void collector_sampler(struct collector *c, pid_t pid, char *out, size_t size)
{
	sampler_pick_name(&c->cfg, pid, out, size);
}

/* With the lock held: whether the collector may serve pid now. */
static int may_serve_locked(struct collector *c, pid_t pid, struct err *e)
{
	if (c->closed)
		return err_set(e, ERR_BUSY, "pprof-fcgi is shutting down");
	if (c->running && c->pid != pid)
		return err_set(e, ERR_BUSY, "still sampling the previous target pid %d", (int)c->pid);
	return 0;
}

/* With the lock held: the collector serves pid, its thread running. */
static int start_locked(struct collector *c, pid_t pid, struct err *e)
{
	if (may_serve_locked(c, pid, e) < 0)
		return -1;
	if (c->running)
		return 0;
	if (c->thread_started)
		pthread_join(c->thread, NULL); /* the last loop has ended */
	c->pid = pid;
	c->running = true;
	c->stopping = false;
	int r = pthread_create(&c->thread, NULL, collector_main, c);
	c->thread_started = r == 0;
	if (r != 0) {
		c->running = false;
		return err_errno(e, ERR_INTERNAL, r, "pthread_create collector");
	}
	return 0;
}

int collector_subscribe(struct collector *c, pid_t pid, struct collector_sub *sub,
			struct err *e)
{
	pthread_mutex_lock(&c->lock);
	int rc = may_serve_locked(c, pid, e);
	int slot = -1;
	for (int i = 0; i < COLLECTOR_MAX_SUBS && slot < 0; i++)
		if (!c->subs[i])
			slot = i;
	if (rc < 0)
		goto out;
	if (slot < 0) {
		rc = err_set(e, ERR_BUSY, "more than %d timed requests at once", COLLECTOR_MAX_SUBS);
		goto out;
	}
	sub->slot = slot;
	sub->due = false;
	sub->next_ns = 0;
	sub->joined = sub->leaving = sub->removed = sub->ended = sub->target_exited = false;
	sub->target_execd = false;
	err_clear(&sub->error);
	memset(&sub->stats, 0, sizeof sub->stats);
	c->subs[slot] = sub;
	if ((rc = start_locked(c, pid, e)) < 0)
		c->subs[slot] = NULL;
	else
		wake_loop(c);
out:
	pthread_mutex_unlock(&c->lock);
	return rc;
}

int collector_call(struct collector *c, pid_t pid, struct collector_job *job, struct err *e)
{
	/* a job's passes (thread dumps) are ptrace's, whichever sampler lends them */
	if (collector_check(c, pid, e) < 0 || collector_check_tracer(c, pid, e) < 0)
		return -1;
	int64_t end_ns = clock_ns(CLOCK_MONOTONIC) + (int64_t)job->timeout_ms * 1000000LL;
	struct timespec deadline = { end_ns / 1000000000LL, end_ns % 1000000000LL };
	pthread_mutex_lock(&c->lock);
	job->done = false;
	job->rc = 0;
	job->next = NULL;
	err_clear(&job->error);
	memset(&job->stats, 0, sizeof job->stats);
	int rc = start_locked(c, pid, e);
	if (rc < 0)
		goto out;
	struct collector_job **tail = &c->jobs;
	while (*tail)
		tail = &(*tail)->next;
	*tail = job;
	pthread_cond_broadcast(&c->cond);
	wake_loop(c);
	while (!job->done) {
		if (!job->timeout_ms)
			pthread_cond_wait(&c->cond, &c->lock);
		else if (pthread_cond_timedwait(&c->cond, &c->lock, &deadline) == ETIMEDOUT)
			break;
	}
	if (!job->done) {
		/* its fn is not running: the tracer thread runs it with the lock */
		job_dequeue(c, job);
		rc = err_set(e, ERR_BUSY, "a job on the tracer thread of pid %d did not end within %ld ms",
			     (int)pid, job->timeout_ms);
	} else if (job->rc < 0) {
		*e = job->error;
		rc = -1;
	}
out:
	pthread_mutex_unlock(&c->lock);
	return rc;
}

bool collector_wait(struct collector *c, struct collector_sub *sub,
		    const struct timespec *deadline)
{
	pthread_mutex_lock(&c->lock);
	while (!sub->ended) {
		if (pthread_cond_timedwait(&c->cond, &c->lock, deadline) == ETIMEDOUT)
			break;
	}
	bool ended = sub->ended;
	pthread_mutex_unlock(&c->lock);
	return ended;
}

void collector_sleep(struct collector *c, const struct timespec *deadline)
{
	pthread_mutex_lock(&c->lock);
	while (!c->closed)
		if (pthread_cond_timedwait(&c->cond, &c->lock, deadline) == ETIMEDOUT)
			break;
	pthread_mutex_unlock(&c->lock);
}

void collector_unsubscribe(struct collector *c, struct collector_sub *sub)
{
	pthread_mutex_lock(&c->lock);
	if (!sub->removed) {
		sub->leaving = true;
		wake_loop(c);
		while (!sub->removed)
			pthread_cond_wait(&c->cond, &c->lock);
	}
	pthread_mutex_unlock(&c->lock);
}
