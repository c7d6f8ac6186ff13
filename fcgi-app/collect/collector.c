#include "collect/collector.h"

#include "base/clock.h"
#include "base/log.h"
#include "collect/proc.h"
#include "collect/regs.h"
#include "collect/target.h"
#include "collect/unwind.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <unistd.h>

#define STOP_DEADLINE_NS (100 * 1000000LL) /* a thread not stopped by then is skipped */

struct thr {
	pid_t tid;
	bool seized, seen, dead;
	bool kept;                /* from an earlier loop: only its stacks hold */
	bool selected, sampled;   /* this tick */
	char state;
	char comm[16];
	uint64_t cpu_ns;          /* schedstat at the last read */
	uint64_t cpu_prev_tick;
	uint64_t base[COLLECTOR_MAX_SUBS]; /* cpu_ns at each subscriber's last sample */
	uint64_t pcs[UNWIND_DEFAULT_DEPTH];
	size_t npcs;              /* the last stack; 0: never sampled */
	uint64_t pcs_cpu;         /* cpu_ns when pcs was taken: unchanged, pcs still holds */
	int64_t pcs_ts;           /* CLOCK_BOOTTIME when pcs was taken */
	char wait_line[256];      /* the syscall line pcs was unwound in; "" if none */
	int64_t stop_start_ns;
	/* cheap watching of idle threads: schedstat kept open, and a thread
	 * that keeps not running is looked at every 2^idle ticks */
	int cpu_fd;
	int idle, skip;
	int w_idle, w_skip;
	/* off-CPU: the wait seen at the last pass, with its own stack */
	bool w_waiting;
	uint64_t w_cpu;
	char w_line[256];
	char w_label[64];
	uint64_t wpcs[UNWIND_DEFAULT_DEPTH];
	size_t wnpcs;
};

struct collector {
	struct collector_config cfg;
	pthread_mutex_t lock;
	pthread_cond_t cond;      /* CLOCK_MONOTONIC */
	pthread_t thread;
	bool thread_started, running, stopping, closed;
	pid_t pid;
	struct collector_sub *subs[COLLECTOR_MAX_SUBS];
	/* owned by the collector thread */
	struct thr *thr;
	size_t nthr, cap;
	size_t *index, index_cap; /* tid -> thr position + 1 */
	bool first_tick;
	struct unwinder *unw;     /* kept across loops while the pid stays */
	pid_t thr_pid;            /* the process thr describes, kept across */
	unsigned long long thr_start; /* loops for the stacks of waits */
	pid_t unw_pid;
	int sigfd;
	int64_t last_refresh_ns;
	int64_t offcpu_last_ns, offcpu_next_ns; /* off-CPU passes */
	int64_t listed_ns;        /* when /proc/PID/task was last read */
	pid_t *sel;               /* threads asked to stop this tick */
	size_t nsel, sel_cap;
	uint64_t rng;             /* xorshift state for tick jitter */
};

/* ---- the thread table ---- */

static void index_rebuild(struct collector *c)
{
	size_t cap = 64;
	while (cap < c->nthr * 2 + 2)
		cap *= 2;
	free(c->index);
	c->index = calloc(cap, sizeof *c->index);
	if (!c->index)
		abort();
	c->index_cap = cap;
	for (size_t i = 0; i < c->nthr; i++) {
		size_t slot = ((size_t)c->thr[i].tid * 2654435761u) & (cap - 1);
		while (c->index[slot])
			slot = (slot + 1) & (cap - 1);
		c->index[slot] = i + 1;
	}
}

static struct thr *thr_find(struct collector *c, pid_t tid)
{
	if (!c->index_cap)
		return NULL;
	size_t mask = c->index_cap - 1, slot = ((size_t)tid * 2654435761u) & mask;
	for (; c->index[slot]; slot = (slot + 1) & mask)
		if (c->thr[c->index[slot] - 1].tid == tid)
			return &c->thr[c->index[slot] - 1];
	return NULL;
}

/* A thread kept from an earlier loop starts this one afresh but for the
 * stacks it was last seen with and the waits they were taken in: a thread
 * still in the same wait is neither unwound nor stopped again by the next
 * request. */
static void thr_renew(struct thr *t)
{
	struct thr old = *t;
	memset(t, 0, sizeof *t);
	t->tid = old.tid;
	t->cpu_fd = -1;
	memcpy(t->comm, old.comm, sizeof t->comm);
	memcpy(t->pcs, old.pcs, old.npcs * sizeof *t->pcs);
	t->npcs = old.npcs;
	t->pcs_cpu = old.pcs_cpu;
	t->pcs_ts = old.pcs_ts;
	memcpy(t->wait_line, old.wait_line, sizeof t->wait_line);
	memcpy(t->w_line, old.w_line, sizeof t->w_line);
	memcpy(t->w_label, old.w_label, sizeof t->w_label);
	memcpy(t->wpcs, old.wpcs, old.wnpcs * sizeof *t->wpcs);
	t->wnpcs = old.wnpcs;
}

/* Forgets every thread (another process, or the collector's end). */
static void thr_forget(struct collector *c)
{
	for (size_t i = 0; i < c->nthr; i++)
		if (c->thr[i].cpu_fd >= 0)
			close(c->thr[i].cpu_fd);
	free(c->thr);
	free(c->index);
	c->thr = NULL;
	c->index = NULL;
	c->nthr = c->cap = c->index_cap = 0;
}

static struct thr *thr_add(struct collector *c, pid_t tid)
{
	if (c->nthr == c->cap) {
		c->cap = c->cap ? c->cap * 2 : 64;
		c->thr = realloc(c->thr, c->cap * sizeof *c->thr);
		if (!c->thr)
			abort();
	}
	struct thr *t = &c->thr[c->nthr++];
	memset(t, 0, sizeof *t);
	t->tid = tid;
	t->cpu_fd = -1;
	if (c->nthr * 2 + 2 > c->index_cap)
		index_rebuild(c);
	else {
		size_t mask = c->index_cap - 1, slot = ((size_t)tid * 2654435761u) & mask;
		while (c->index[slot])
			slot = (slot + 1) & mask;
		c->index[slot] = c->nthr;
	}
	return t;
}

static void thr_compact(struct collector *c)
{
	/* a thread's entry is a few KiB (its stacks): move nothing until the
	 * first dead one, and usually there is none */
	size_t j = 0;
	while (j < c->nthr && !c->thr[j].dead)
		j++;
	for (size_t i = j; i < c->nthr; i++) {
		if (c->thr[i].dead) {
			if (c->thr[i].cpu_fd >= 0)
				close(c->thr[i].cpu_fd);
			continue;
		}
		c->thr[j++] = c->thr[i];
	}
	if (j != c->nthr) {
		c->nthr = j;
		index_rebuild(c);
	}
}

/* ---- /proc reads, without stopping anything ---- */

static int read_small(const char *path, char *out, size_t size)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	ssize_t n = read(fd, out, size - 1);
	close(fd);
	if (n < 0)
		return -1;
	out[n] = '\0';
	return 0;
}

static int read_cpu(pid_t pid, pid_t tid, uint64_t *ns)
{
	char path[64], text[128];
	snprintf(path, sizeof path, "/proc/%d/task/%d/schedstat", (int)pid, (int)tid);
	if (read_small(path, text, sizeof text) < 0)
		return -1;
	*ns = strtoull(text, NULL, 10);
	return 0;
}

/* The thread's CPU time through its schedstat file kept open (a pread
 * regenerates it; no path lookup). Falls back to opening it each time when
 * descriptors run out. */
static int thr_cpu(pid_t pid, struct thr *t)
{
	if (t->cpu_fd < 0) {
		char path[64];
		snprintf(path, sizeof path, "/proc/%d/task/%d/schedstat", (int)pid, (int)t->tid);
		t->cpu_fd = open(path, O_RDONLY | O_CLOEXEC);
		if (t->cpu_fd < 0)
			return read_cpu(pid, t->tid, &t->cpu_ns);
	}
	char text[128];
	ssize_t n = pread(t->cpu_fd, text, sizeof text - 1, 0);
	if (n <= 0)
		return -1;
	text[n] = '\0';
	t->cpu_ns = strtoull(text, NULL, 10);
	return 0;
}

/* Whether an idle thread is skipped this time; a thread seen idle k times
 * in a row is next looked at after 2^k - 1 skips, at most 15. */
static bool backoff_skip(int *skip)
{
	if (*skip > 0) {
		(*skip)--;
		return true;
	}
	return false;
}

static void backoff_update(int *idle, int *skip, bool ran)
{
	if (ran) {
		*idle = *skip = 0;
		return;
	}
	if (*idle < 4)
		(*idle)++;
	*skip = (1 << *idle) - 1;
}

/* State letter and name of a thread from its stat line. */
static int read_state(pid_t pid, struct thr *t)
{
	char path[64], text[1024];
	snprintf(path, sizeof path, "/proc/%d/task/%d/stat", (int)pid, (int)t->tid);
	if (read_small(path, text, sizeof text) < 0)
		return -1;
	char *open_paren = strchr(text, '('), *close_paren = strrchr(text, ')');
	if (!open_paren || !close_paren || close_paren[1] != ' ')
		return -1;
	size_t len = (size_t)(close_paren - open_paren - 1);
	if (len >= sizeof t->comm)
		len = sizeof t->comm - 1;
	memcpy(t->comm, open_paren + 1, len);
	t->comm[len] = '\0';
	t->state = close_paren[2];
	return 0;
}

/* ---- delivery ---- */

static bool sub_active(const struct collector_sub *s)
{
	return s && s->joined && !s->removed;
}

/* A CPU profile's subscriber: the one that gets CPU samples and time. */
static bool sub_cpu(const struct collector_sub *s)
{
	return sub_active(s) && !s->snapshot && !s->offcpu;
}

static void deliver(struct collector *c, struct thr *t, struct collector_sub *s, bool sampled)
{
	uint64_t base = t->base[s->slot];
	if (t->cpu_ns <= base)
		return;
	struct collector_sample smp = {
		.tid = t->tid, .thread_name = t->comm, .pcs = t->pcs, .npcs = t->npcs,
		.cpu_ns = t->cpu_ns - base, .sampled = sampled,
		.ts_ns = sampled ? t->pcs_ts : clock_ns(CLOCK_BOOTTIME),
	};
	t->base[s->slot] = t->cpu_ns;
	s->stats.samples++;
	s->on_sample(s->arg, &smp);
	(void)c;
}

/* Reports every thread's CPU time not yet reported to s. */
static void flush_sub(struct collector *c, struct collector_sub *s)
{
	for (size_t i = 0; i < c->nthr; i++)
		deliver(c, &c->thr[i], s, false);
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

/* Which CPU subscribers this tick's stacks go to. The loop ticks at the
 * fastest subscriber's rate; a slower one takes the stacks of a tick only
 * once its own period has passed, so its samples are its rate's (period
 * 1e9/hz means what it says) and the CPU time of the ticks it skips goes
 * onto its next stack of each thread. */
static void decimate(struct collector *c, long loop_hz, int64_t now)
{
	for (int i = 0; i < COLLECTOR_MAX_SUBS; i++) {
		struct collector_sub *s = c->subs[i];
		if (!sub_cpu(s))
			continue;
		s->due = s->hz >= loop_hz || now >= s->next_ns;
		if (!s->due || s->hz >= loop_hz)
			continue;
		int64_t period = 1000000000LL / s->hz;
		s->next_ns = (s->next_ns ? s->next_ns : now) + period;
		if (s->next_ns <= now)
			s->next_ns = now + period; /* fell behind: no burst */
	}
}

/* ---- events of the traced threads ---- */

/* What must be read while t is stopped: registers, the top of its stack,
 * its CPU time (exactly the stack's). The unwind itself comes after the
 * thread was resumed (sample_unwind), so it is held only for the copies. */
static bool sample_stopped(struct collector *c, struct thr *t)
{
	struct regs regs;
	struct err e = { 0 };
	bool captured = target_getregs(t->tid, &regs, &e) == 0;
	if (captured)
		unwind_capture(c->unw, t->tid, &regs);
	/* pcs is about to be this stop's stack, not a wait's any more */
	t->wait_line[0] = '\0';
	t->pcs_ts = clock_ns(CLOCK_BOOTTIME);
	if (thr_cpu(c->pid, t) == 0)
		t->pcs_cpu = t->cpu_ns;
	return captured;
}

static void sample_unwind(struct collector *c, struct thr *t)
{
	unwind_captured(c->unw, t->pcs, UNWIND_DEFAULT_DEPTH, &t->npcs);
}

/* Handles one event; counts down *pending for threads selected this tick. */
static void handle_event(struct collector *c, pid_t tid, enum target_event ev, int sig,
			 size_t *pending, struct collector_stats *st)
{
	struct thr *t = thr_find(c, tid);
	struct err e = { 0 };
	bool waited_for = t && t->selected && !t->sampled;
	switch (ev) {
	case TARGET_INTERRUPTED: {
		int64_t seen = clock_ns(CLOCK_MONOTONIC);
		bool captured = false;
		if (waited_for) {
			captured = sample_stopped(c, t);
			t->sampled = true;
		}
		target_resume(tid, 0, &e);
		int64_t resumed = clock_ns(CLOCK_MONOTONIC);
		if (captured)
			sample_unwind(c, t);
		if (waited_for) {
			uint64_t held = (uint64_t)(resumed - seen);
			uint64_t latency = (uint64_t)(seen - t->stop_start_ns);
			st->stops++;
			st->held_ns_total += held;
			st->latency_ns_total += latency;
			if (held > st->held_ns_max)
				st->held_ns_max = held;
			if (latency > st->latency_ns_max)
				st->latency_ns_max = latency;
			uint64_t us = held / 1000;
			st->held_hist[us < COLLECTOR_HIST ? us : COLLECTOR_HIST - 1]++;
		}
		break;
	}
	case TARGET_SIGNAL:
		target_resume(tid, sig, &e); /* the target's own signal, delivered */
		return;
	case TARGET_GROUP_STOP:
		target_listen(tid, &e); /* stays stopped, as whoever sent SIGSTOP wants */
		if (waited_for)
			t->selected = false;
		break;
	case TARGET_EXITING:
		if (t) {
			/* its last CPU time goes onto its last stack */
			uint64_t ns;
			if (read_cpu(c->pid, tid, &ns) == 0 && ns > t->cpu_ns)
				t->cpu_ns = ns;
			for (int i = 0; i < COLLECTOR_MAX_SUBS; i++)
				if (sub_cpu(c->subs[i]))
					deliver(c, t, c->subs[i], false);
			if (waited_for)
				t->selected = false;
		}
		target_resume(tid, 0, &e);
		break;
	case TARGET_EXITED:
		if (t) {
			t->dead = true;
			if (waited_for)
				t->selected = false;
		}
		break;
	case TARGET_EXEC:
		/* the old image's mappings are gone: what was sampled before can
		 * no longer be symbolized, which the subscribers are told */
		for (int i = 0; i < COLLECTOR_MAX_SUBS; i++) {
			struct collector_sub *s = c->subs[i];
			if (s && !s->target_execd) {
				s->target_execd = true;
				clock_gettime(CLOCK_REALTIME, &s->execd_at);
			}
		}
		c->last_refresh_ns = 0; /* read the new maps at once */
		target_resume(tid, 0, &e);
		return;
	case TARGET_OTHER:
		target_resume(tid, 0, &e);
		return;
	}
	if (waited_for && *pending > 0)
		(*pending)--;
}

static void drain_sigfd(struct collector *c)
{
	if (c->sigfd < 0)
		return;
	struct signalfd_siginfo si;
	while (read(c->sigfd, &si, sizeof si) == (ssize_t)sizeof si)
		;
}

/* Marks t as asked to stop this tick. */
static void select_thread(struct collector *c, struct thr *t)
{
	t->selected = true;
	t->sampled = false;
	t->stop_start_ns = clock_ns(CLOCK_MONOTONIC);
	if (c->nsel == c->sel_cap) {
		c->sel_cap = c->sel_cap ? c->sel_cap * 2 : 64;
		c->sel = realloc(c->sel, c->sel_cap * sizeof *c->sel);
		if (!c->sel)
			abort();
	}
	c->sel[c->nsel++] = t->tid;
}

/* Events of the threads still awaited this tick, asked for by tid. */
static int poll_selected(struct collector *c, size_t *pending, struct collector_stats *st)
{
	int got = 0;
	for (size_t i = 0; i < c->nsel && *pending > 0; i++) {
		struct thr *t = thr_find(c, c->sel[i]);
		if (!t || !t->selected || t->sampled)
			continue;
		enum target_event ev;
		int sig;
		struct err e = { 0 };
		while (t->selected && !t->sampled &&
		       target_poll_thread(t->tid, &ev, &sig, &e) == 1) {
			handle_event(c, t->tid, ev, sig, pending, st);
			got++;
			t = thr_find(c, c->sel[i]); /* an exit may change the table */
			if (!t)
				break;
		}
	}
	return got;
}

static int poll_all(struct collector *c, size_t *pending, struct collector_stats *st)
{
	pid_t tid;
	enum target_event ev;
	int sig;
	struct err e = { 0 };
	int got = 0;
	while (target_poll_event(&tid, &ev, &sig, &e) == 1) {
		handle_event(c, tid, ev, sig, pending, st);
		got++;
	}
	return got;
}

/* Handles what the traced threads report, waiting up to timeout_ns for
 * something when nothing is there yet. Waiting for any thread costs the
 * kernel a look at every traced one (1,000 idle threads made it most of
 * the collector's CPU), so the threads this tick waits for are asked for
 * by tid, and the others only when SIGCHLD (blocked in every thread, read
 * from sigfd) says something happened: every drain of sigfd is followed
 * by a full look, so no event waits for a SIGCHLD already consumed. */
static void pump_events(struct collector *c, int64_t timeout_ns, size_t *pending,
			struct collector_stats *st)
{
	if (*pending > 0 && poll_selected(c, pending, st) > 0)
		return;
	if (c->sigfd < 0) {
		/* no signalfd: look at everything, nap, look again */
		if (poll_all(c, pending, st) > 0 || timeout_ns <= 0)
			return;
		poll(NULL, 0, 1);
		poll_all(c, pending, st);
		return;
	}
	struct pollfd pfd = { .fd = c->sigfd, .events = POLLIN };
	int ms = timeout_ns <= 0 ? 0 : (int)(timeout_ns / 1000000);
	if (ms > 5)
		ms = 5; /* bounds the wait should a SIGCHLD go elsewhere */
	if (timeout_ns > 0 && ms < 1)
		ms = 1;
	int ready = poll(&pfd, 1, ms);
	drain_sigfd(c);
	if (*pending > 0)
		poll_selected(c, pending, st);
	if (ready != 0 || ms >= 5)
		poll_all(c, pending, st);
}

/* ---- one tick ---- */

/* Whether a thread still runs (not gone, not a zombie, not exiting). */
static bool thread_alive(pid_t pid, pid_t tid)
{
	char path[80], text[1024];
	snprintf(path, sizeof path, "/proc/%d/task/%d/stat", (int)pid, (int)tid);
	if (read_small(path, text, sizeof text) < 0)
		return false;
	const char *p = strrchr(text, ')');
	return p && p[1] == ' ' && p[2] != 'Z' && p[2] != 'X';
}

static bool seized_any(const struct collector *c)
{
	for (size_t i = 0; i < c->nthr; i++)
		if (c->thr[i].seized)
			return true;
	return false;
}

/* Lists the target's threads, seizes new ones; 0, or -1 with e filled when
 * sampling cannot go on (target gone: ERR_TARGET). */
static int list_threads(struct collector *c, struct err *e)
{
	char path[64];
	snprintf(path, sizeof path, "/proc/%d/task", (int)c->pid);
	DIR *d = opendir(path);
	if (!d)
		return err_errno(e, ERR_TARGET, errno, "target pid %d exited", (int)c->pid);
	for (size_t i = 0; i < c->nthr; i++)
		c->thr[i].seen = false;
	struct dirent *de;
	while ((de = readdir(d))) {
		char *end;
		long tid = strtol(de->d_name, &end, 10);
		if (*end || tid <= 0)
			continue;
		struct thr *t = thr_find(c, (pid_t)tid);
		if (!t || t->kept) {
			uint64_t ns = 0;
			if (read_cpu(c->pid, (pid_t)tid, &ns) < 0) {
				if (t)
					t->dead = true;
				continue;
			}
			if (t)
				thr_renew(t);
			else
				t = thr_add(c, (pid_t)tid);
			t->cpu_ns = t->cpu_prev_tick = ns;
			/* threads there when sampling began count from now; threads
			 * born during it, from their start */
			uint64_t base = c->first_tick ? ns : 0;
			for (int s = 0; s < COLLECTOR_MAX_SUBS; s++)
				t->base[s] = base;
			read_state(c->pid, t);
		}
		t->seen = true;
		if (!t->seized) {
			struct err se = { 0 };
			if (target_seize(t->tid, &se) < 0) {
				/* a thread that is exiting refuses to be seized with
				 * EPERM too; permission is the process's, so only a
				 * first refusal of a live thread means no permission */
				if (se.kind == ERR_PERMISSION && !seized_any(c) &&
				    thread_alive(c->pid, t->tid)) {
					closedir(d);
					*e = se;
					return -1;
				}
				t->dead = true; /* exited meanwhile */
				continue;
			}
			t->seized = true;
		}
	}
	closedir(d);
	c->first_tick = false;
	for (size_t i = 0; i < c->nthr; i++)
		if (!c->thr[i].seen)
			c->thr[i].dead = true;
	return 0;
}

/* One CPU sampling tick, over the threads list_threads just listed. */
static void tick(struct collector *c, struct collector_stats *st)
{
	/* only last tick's selection to clear: a thread's entry is large, and
	 * touching a thousand idle ones costs more than the tick's work */
	for (size_t i = 0; i < c->nsel; i++) {
		struct thr *t = thr_find(c, c->sel[i]);
		if (t)
			t->selected = t->sampled = false;
	}
	c->nsel = 0;
	/* who ran since the last tick and is running now */
	size_t pending = 0;
	for (size_t i = 0; i < c->nthr; i++) {
		struct thr *t = &c->thr[i];
		if (t->dead || backoff_skip(&t->skip))
			continue;
		if (thr_cpu(c->pid, t) < 0) {
			t->dead = true;
			continue;
		}
		bool ran = t->cpu_ns != t->cpu_prev_tick;
		backoff_update(&t->idle, &t->skip, ran);
		if (!ran)
			continue;
		t->cpu_prev_tick = t->cpu_ns;
		if (read_state(c->pid, t) < 0 || t->state != 'R')
			continue; /* asleep: its CPU time waits for its next sample */
		struct err ie = { 0 };
		if (target_interrupt(t->tid, &ie) == 0) {
			select_thread(c, t);
			pending++;
		}
	}
	/* all interrupts first, then waiting: with more runnable threads than
	 * CPUs an interrupt lands only when the thread next runs */
	int64_t deadline = clock_ns(CLOCK_MONOTONIC) + STOP_DEADLINE_NS;
	while (pending > 0) {
		int64_t left = deadline - clock_ns(CLOCK_MONOTONIC);
		if (left <= 0)
			break;
		pump_events(c, left, &pending, st);
	}
	st->lost += pending; /* they stop later and are resumed as strays */
	/* hand out the samples, after every thread runs again */
	for (size_t i = 0; i < c->nthr; i++) {
		struct thr *t = &c->thr[i];
		if (!t->sampled || t->dead)
			continue;
		for (int s = 0; s < COLLECTOR_MAX_SUBS; s++)
			if (sub_cpu(c->subs[s]) && c->subs[s]->due)
				deliver(c, t, c->subs[s], true);
	}
	thr_compact(c);
	st->ticks++;
}

/* ---- snapshots ---- */

/* Stops t alone, unwinds it, resumes it. */
static void unwind_stopped(struct collector *c, struct thr *t, struct collector_stats *st)
{
	struct err e = { 0 };
	if (target_interrupt(t->tid, &e) < 0)
		return;
	c->nsel = 0;
	select_thread(c, t);
	size_t pending = 1;
	int64_t deadline = t->stop_start_ns + STOP_DEADLINE_NS;
	while (pending > 0) {
		int64_t left = deadline - clock_ns(CLOCK_MONOTONIC);
		if (left <= 0) {
			st->lost++;
			break;
		}
		pump_events(c, left, &pending, st);
	}
	t->selected = false;
	t->wait_line[0] = '\0';
}

/* Unwinds a thread blocked in a syscall without stopping it: SP and PC
 * from /proc, the rest of the registers unknown, so the stack is cut where
 * it leaves code; thrown away if the wait changed meanwhile. */
static void unwind_waiting(struct collector *c, struct thr *t, const struct proc_syscall *sc)
{
	if (t->npcs > 0 && strcmp(t->wait_line, sc->line) == 0)
		return; /* same wait as last time: same stack */
	struct regs regs;
	memset(&regs, 0, sizeof regs);
	regs.r[REGS_SP] = sc->sp;
	regs.r[REGS_IP] = sc->pc;
	unwind_stack(c->unw, t->tid, &regs, t->pcs, UNWIND_DEFAULT_DEPTH, &t->npcs);
	t->npcs = unwind_code_prefix(c->unw, t->pcs, t->npcs);
	struct proc_syscall again;
	if (proc_syscall(c->pid, t->tid, &again) < 0 || strcmp(again.line, sc->line) != 0) {
		t->pcs[0] = sc->pc; /* it moved on: keep only where it was */
		t->npcs = 1;
		t->wait_line[0] = '\0';
		return;
	}
	snprintf(t->wait_line, sizeof t->wait_line, "%s", sc->line);
}

static void snapshot_pass(struct collector *c, struct collector_stats *st)
{
	for (size_t i = 0; i < c->nthr; i++) {
		struct thr *t = &c->thr[i];
		if (t->dead)
			continue;
		thr_cpu(c->pid, t);
		if (read_state(c->pid, t) < 0) {
			t->dead = true;
			continue;
		}
		struct proc_syscall sc;
		bool in_syscall = proc_syscall(c->pid, t->tid, &sc) == 0 && sc.nr >= 0;
		bool without_stop = false;
		if (t->npcs > 0 && ((in_syscall && strcmp(sc.line, t->wait_line) == 0) ||
				    (!in_syscall && t->pcs_cpu == t->cpu_ns && t->cpu_ns != 0))) {
			/* still in the wait (same syscall, arguments, SP and PC)
			 * its stack was taken in, or has not run since: that stack
			 * still holds. (CPU time alone cannot tell for a waiting
			 * thread: our own stop made it run a few microseconds.) */
			without_stop = true;
		} else if (in_syscall && proc_syscall_eintr_prone(sc.nr)) {
			unwind_waiting(c, t, &sc);
			t->pcs_cpu = t->cpu_ns;
			without_stop = true;
		} else if (t->state == 'T' || t->state == 't') {
			/* stopped by job control: it stays as it is */
			if (in_syscall)
				unwind_waiting(c, t, &sc);
			without_stop = true;
		} else {
			unwind_stopped(c, t, st);
			if (in_syscall) /* the wait it was unwound in */
				snprintf(t->wait_line, sizeof t->wait_line, "%s", sc.line);
		}
		if (t->dead)
			continue;
		struct collector_sample smp = {
			.tid = t->tid, .thread_name = t->comm, .pcs = t->pcs, .npcs = t->npcs,
			.sampled = true, .state = t->state,
			.wait = in_syscall ? proc_syscall_name(sc.nr) : NULL,
			.cpu_total_ns = t->cpu_ns, .without_stop = without_stop,
			.ts_ns = clock_ns(CLOCK_BOOTTIME),
		};
		for (int s = 0; s < COLLECTOR_MAX_SUBS; s++) {
			struct collector_sub *sub = c->subs[s];
			if (sub && sub->snapshot && sub->joined && !sub->removed) {
				sub->stats.samples++;
				sub->on_sample(sub->arg, &smp);
			}
		}
	}
	thr_compact(c);
}

/* ---- off-CPU ---- */

/* "read fd 7 (pipe:[1234])" for a wait on a descriptor, the syscall name
 * otherwise. */
static void wait_label(pid_t pid, const struct proc_syscall *sc, char *out, size_t size)
{
	const char *name = proc_syscall_name(sc->nr);
	static const long fd_calls[] = { 0, 17, 19, 43, 45, 47, 232, 281, 288, 299, 441 };
	for (size_t i = 0; name && i < sizeof fd_calls / sizeof fd_calls[0]; i++) {
		if (sc->nr != fd_calls[i])
			continue;
		char path[64], target[128];
		snprintf(path, sizeof path, "/proc/%d/fd/%d", (int)pid, (int)sc->args[0]);
		ssize_t n = readlink(path, target, sizeof target - 1);
		target[n > 0 ? n : 0] = '\0';
		snprintf(out, size, "%s fd %d%s%.40s%s", name, (int)sc->args[0], n > 0 ? " (" : "",
			 target, n > 0 ? ")" : "");
		return;
	}
	if (name)
		snprintf(out, size, "%s", name);
	else
		snprintf(out, size, "syscall %ld", sc->nr);
}

/* Every waiting thread: its wait stack (unwound again only when the wait
 * changed, without a stop where the stack can be read from /proc and
 * memory) and the wall time since the last pass, handed to the off-CPU
 * subscribers. A thread that has not run since the last pass is in the same
 * wait: one schedstat read and nothing else. */
static void offcpu_pass(struct collector *c, uint64_t interval_ns, struct collector_stats *st)
{
	for (size_t i = 0; i < c->nthr; i++) {
		struct thr *t = &c->thr[i];
		if (t->dead)
			continue;
		/* a thread that keeps waiting is looked at less often; meanwhile
		 * it is taken to wait where it was */
		bool skipped = t->w_waiting && backoff_skip(&t->w_skip);
		bool ran = false;
		if (!skipped) {
			if (thr_cpu(c->pid, t) < 0) {
				t->dead = true;
				continue;
			}
			ran = t->cpu_ns != t->w_cpu;
			t->w_cpu = t->cpu_ns;
			backoff_update(&t->w_idle, &t->w_skip, ran || !t->w_waiting);
		}
		bool new_wait = false;
		if (ran || !t->w_waiting) {
			struct proc_syscall sc;
			t->w_waiting = false;
			if (read_state(c->pid, t) < 0 || (t->state != 'S' && t->state != 'D') ||
			    proc_syscall(c->pid, t->tid, &sc) < 0 || sc.nr < 0)
				continue;
			new_wait = true;
			if (t->wnpcs > 0 && strcmp(sc.line, t->w_line) == 0) {
				st->waits_reused++; /* woke and waits again where it was */
			} else {
				/* SP and PC from /proc, the stack from memory: no stop */
				struct regs regs;
				memset(&regs, 0, sizeof regs);
				regs.r[REGS_SP] = sc.sp;
				regs.r[REGS_IP] = sc.pc;
				unwind_stack(c->unw, t->tid, &regs, t->wpcs, UNWIND_DEFAULT_DEPTH, &t->wnpcs);
				t->wnpcs = unwind_code_prefix(c->unw, t->wpcs, t->wnpcs);
				struct proc_syscall again;
				bool same = proc_syscall(c->pid, t->tid, &again) == 0 &&
					    strcmp(again.line, sc.line) == 0;
				if (same && t->wnpcs >= 3) {
					st->waits_without_stop++;
				} else if (same && !proc_syscall_eintr_prone(sc.nr)) {
					log_debug("collector: wait stack of tid %d (%s) in %s cut at %zu frames: "
						  "read with a stop", (int)t->tid, t->comm,
						  proc_syscall_name(sc.nr) ? proc_syscall_name(sc.nr) : "?", t->wnpcs);
					/* cut short (frame pointer frames need the live
					 * registers): stop it, which this wait restarts from */
					unwind_stopped(c, t, st);
					memcpy(t->wpcs, t->pcs, t->npcs * sizeof *t->pcs);
					t->wnpcs = t->npcs;
					st->waits_unwound++;
				} else if (!same) {
					/* it moved on while we read: not in this wait any
					 * more; a fresh look at the next pass, never a stop */
					t->wnpcs = 0;
					t->w_line[0] = '\0';
					continue;
				}
				wait_label(c->pid, &sc, t->w_label, sizeof t->w_label);
				snprintf(t->w_line, sizeof t->w_line, "%s", sc.line);
			}
			t->w_waiting = true;
		}
		for (int s = 0; s < COLLECTOR_MAX_SUBS; s++) {
			struct collector_sub *sub = c->subs[s];
			if (!sub || !sub->offcpu || !sub->joined || sub->removed)
				continue;
			/* a wait that began since the last pass began, on average,
			 * half an interval ago */
			struct collector_sample smp = {
				.tid = t->tid, .thread_name = t->comm, .pcs = t->wpcs, .npcs = t->wnpcs,
				.sampled = true, .state = t->state,
				.delay_ns = new_wait ? interval_ns / 2 : interval_ns,
				.ts_ns = clock_ns(CLOCK_BOOTTIME),
				.new_wait = new_wait || !sub->offcpu_started,
				.wait_label = t->w_label,
			};
			sub->stats.samples++;
			sub->on_sample(sub->arg, &smp);
		}
	}
	for (int s = 0; s < COLLECTOR_MAX_SUBS; s++)
		if (c->subs[s] && c->subs[s]->offcpu && c->subs[s]->joined) {
			c->subs[s]->offcpu_started = true;
			c->subs[s]->stats.waits_unwound += st->waits_unwound;
			c->subs[s]->stats.waits_without_stop += st->waits_without_stop;
			c->subs[s]->stats.waits_reused += st->waits_reused;
		}
	thr_compact(c);
}

/* ---- the thread ---- */

static void *collector_main(void *arg)
{
	struct collector *c = arg;
	sigset_t chld;
	sigemptyset(&chld);
	sigaddset(&chld, SIGCHLD);
	pthread_sigmask(SIG_BLOCK, &chld, NULL);
	c->sigfd = signalfd(-1, &chld, SFD_NONBLOCK | SFD_CLOEXEC);
	/* a target thread waits stopped while this thread unwinds it: being
	 * scheduled out then makes the stop long. Best effort (CAP_SYS_NICE). */
	if (setpriority(PRIO_PROCESS, (id_t)gettid(), -10) < 0)
		log_debug("collector: setpriority: %s", strerror(errno));
	c->first_tick = true;
	/* the threads of the last loop, for their wait stacks, if this is
	 * still the same process */
	unsigned long long start = proc_starttime(c->pid);
	if (c->thr_pid != c->pid || c->thr_start != start || start == 0)
		thr_forget(c);
	c->thr_pid = c->pid;
	c->thr_start = start;
	struct err e = { 0 };
	if (c->unw && c->unw_pid == c->pid) {
		if (unwind_refresh(c->unw, &e) < 0) {
			unwind_free(c->unw);
			c->unw = NULL;
		}
	} else {
		unwind_free(c->unw);
		c->unw = unwind_new(c->pid, &e);
		c->unw_pid = c->pid;
	}

	pthread_mutex_lock(&c->lock);
	if (!c->unw) {
		end_all(c, &e, false);
		goto out;
	}
	int64_t next = clock_ns(CLOCK_MONOTONIC);
	c->last_refresh_ns = next;
	c->offcpu_last_ns = c->offcpu_next_ns = 0; /* a new loop: no interval yet */
	c->rng = (uint64_t)next ^ 0x9e3779b97f4a7c15ULL; /* any nonzero seed */
	c->listed_ns = 0;
	for (;;) {
		long hz = 0;
		bool want_snapshot = false, want_offcpu = false;
		for (int i = 0; i < COLLECTOR_MAX_SUBS; i++) {
			struct collector_sub *s = c->subs[i];
			if (!s)
				continue;
			if (!s->joined) {
				/* counts from now for the threads already known */
				for (size_t j = 0; j < c->nthr; j++)
					c->thr[j].base[i] = c->thr[j].cpu_ns;
				s->joined = true;
			}
			if (s->leaving) {
				if (sub_cpu(s))
					flush_sub(c, s);
				s->removed = s->ended = true;
				c->subs[i] = NULL;
				pthread_cond_broadcast(&c->cond);
				continue;
			}
			if (s->snapshot)
				want_snapshot = true;
			else if (s->offcpu)
				want_offcpu = true;
			else if (s->hz > hz)
				hz = s->hz;
		}
		if (want_snapshot && !c->stopping) {
			struct collector_stats sst = { 0 };
			err_clear(&e);
			if (list_threads(c, &e) < 0) {
				end_all(c, &e, e.kind == ERR_TARGET);
				break;
			}
			snapshot_pass(c, &sst);
			for (int i = 0; i < COLLECTOR_MAX_SUBS; i++) {
				struct collector_sub *s = c->subs[i];
				if (s && s->snapshot && s->joined) {
					s->stats.stops += sst.stops;
					s->stats.lost += sst.lost;
					s->stats.held_ns_total += sst.held_ns_total;
					s->stats.held_ns_max = sst.held_ns_max;
					s->removed = s->ended = true;
					c->subs[i] = NULL;
				}
			}
			pthread_cond_broadcast(&c->cond);
			continue;
		}
		if (c->stopping) {
			end_all(c, NULL, false);
			break;
		}
		long rate = hz;
		if (want_offcpu && rate < COLLECTOR_OFFCPU_HZ)
			rate = COLLECTOR_OFFCPU_HZ;
		if (rate == 0)
			break;
		if (!want_offcpu)
			c->offcpu_last_ns = 0;
		struct collector_stats st = { 0 };
		err_clear(&e);
		/* new threads are picked up every 100 ms; exits come as events */
		int rc = 0;
		int64_t lnow = clock_ns(CLOCK_MONOTONIC);
		if (lnow - c->listed_ns >= 100000000LL) {
			rc = list_threads(c, &e);
			c->listed_ns = lnow;
		} else if (kill(c->pid, 0) < 0 && errno == ESRCH) {
			rc = err_set(&e, ERR_TARGET, "target pid %d exited", (int)c->pid);
		}
		if (rc == 0 && hz > 0) {
			decimate(c, hz, clock_ns(CLOCK_MONOTONIC));
			tick(c, &st);
		}
		int64_t tnow = clock_ns(CLOCK_MONOTONIC);
		if (rc == 0 && want_offcpu && tnow >= c->offcpu_next_ns) {
			uint64_t interval = c->offcpu_last_ns ? (uint64_t)(tnow - c->offcpu_last_ns)
							      : 1000000000ULL / COLLECTOR_OFFCPU_HZ;
			offcpu_pass(c, interval, &st);
			c->offcpu_last_ns = tnow;
			c->offcpu_next_ns = tnow + 1000000000LL / COLLECTOR_OFFCPU_HZ;
		}
		for (int i = 0; i < COLLECTOR_MAX_SUBS; i++)
			if (sub_active(c->subs[i])) {
				struct collector_stats *t = &c->subs[i]->stats;
				if (!sub_cpu(c->subs[i]) || c->subs[i]->due)
					t->ticks += st.ticks; /* its own ticks, not the loop's */
				t->stops += st.stops;
				t->lost += st.lost;
				t->held_ns_total += st.held_ns_total;
				t->latency_ns_total += st.latency_ns_total;
				if (st.held_ns_max > t->held_ns_max)
					t->held_ns_max = st.held_ns_max;
				if (st.latency_ns_max > t->latency_ns_max)
					t->latency_ns_max = st.latency_ns_max;
				for (int b = 0; b < COLLECTOR_HIST; b++)
					t->held_hist[b] += st.held_hist[b];
			}
		if (rc < 0) {
			log_info("collector: %s", e.msg);
			end_all(c, &e, e.kind == ERR_TARGET);
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
		if (next < now)
			next = now; /* fell behind: no burst of catch-up ticks */
		size_t none = 0;
		struct collector_stats ignored = { 0 };
		for (int64_t left; (left = next - clock_ns(CLOCK_MONOTONIC)) > 0;)
			pump_events(c, left, &none, &ignored);
		pthread_mutex_lock(&c->lock);
	}
out:
	c->running = false;
	pthread_cond_broadcast(&c->cond);
	pthread_mutex_unlock(&c->lock);
	/* the threads stay known with their stacks (thr_renew); their open
	 * files do not */
	for (size_t i = 0; i < c->nthr; i++) {
		struct thr *t = &c->thr[i];
		if (t->cpu_fd >= 0)
			close(t->cpu_fd);
		t->cpu_fd = -1;
		t->kept = true;
	}
	free(c->sel);
	c->sel = NULL;
	c->nsel = c->sel_cap = 0;
	if (c->sigfd >= 0)
		close(c->sigfd);
	/* returning ends this thread, and the kernel detaches every thread it
	 * traced, whatever state they are in: no stop is needed to let go */
	return NULL;
}

double collector_held_quantile(const struct collector_stats *st, double q)
{
	uint64_t total = 0, seen = 0;
	for (int b = 0; b < COLLECTOR_HIST; b++)
		total += st->held_hist[b];
	if (!total)
		return 0;
	for (int b = 0; b < COLLECTOR_HIST; b++) {
		seen += st->held_hist[b];
		if ((double)seen >= q * (double)total)
			return (double)(b + 1);
	}
	return (double)COLLECTOR_HIST;
}

struct collector *collector_new(const struct collector_config *cc)
{
	struct collector *c = calloc(1, sizeof *c);
	if (!c)
		abort();
	c->cfg = *cc;
	pthread_mutex_init(&c->lock, NULL);
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&c->cond, &ca);
	pthread_condattr_destroy(&ca);
	c->sigfd = -1;
	return c;
}

void collector_close(struct collector *c)
{
	pthread_mutex_lock(&c->lock);
	c->stopping = c->closed = true;
	pthread_cond_broadcast(&c->cond); /* wakes collector_sleep */
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
	thr_forget(c);
	unwind_free(c->unw);
	pthread_mutex_destroy(&c->lock);
	pthread_cond_destroy(&c->cond);
	free(c);
}

int collector_subscribe(struct collector *c, pid_t pid, struct collector_sub *sub,
			struct err *e)
{
	pthread_mutex_lock(&c->lock);
	int rc = 0;
	if (c->closed) {
		rc = err_set(e, ERR_BUSY, "pprof-fcgi is shutting down");
		goto out;
	}
	if (c->running && c->pid != pid) {
		rc = err_set(e, ERR_BUSY, "still sampling the previous target pid %d", (int)c->pid);
		goto out;
	}
	int slot = -1;
	for (int i = 0; i < COLLECTOR_MAX_SUBS && slot < 0; i++)
		if (!c->subs[i])
			slot = i;
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
	if (!c->running) {
		if (c->thread_started)
			pthread_join(c->thread, NULL); /* the last loop has ended */
		c->pid = pid;
		c->running = true;
		c->stopping = false;
		int r = pthread_create(&c->thread, NULL, collector_main, c);
		c->thread_started = r == 0;
		if (r != 0) {
			c->running = false;
			c->subs[slot] = NULL;
			rc = err_errno(e, ERR_INTERNAL, r, "pthread_create collector");
		}
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

int collector_snapshot(struct collector *c, pid_t pid, struct collector_sub *sub,
		       struct err *e)
{
	sub->snapshot = true;
	if (collector_subscribe(c, pid, sub, e) < 0)
		return -1;
	pthread_mutex_lock(&c->lock);
	while (!sub->ended)
		pthread_cond_wait(&c->cond, &c->lock);
	pthread_mutex_unlock(&c->lock);
	return sub->error.kind != ERR_NONE ? (*e = sub->error, -1) : 0;
}

void collector_sleep(struct collector *c, const struct timespec *deadline)
{
	pthread_mutex_lock(&c->lock);
	while (!c->closed)
		if (pthread_cond_timedwait(&c->cond, &c->lock, deadline) == ETIMEDOUT)
			break;
	pthread_mutex_unlock(&c->lock);
}

static int64_t ts_ns(const struct timespec *ts)
{
	return (int64_t)ts->tv_sec * 1000000000LL + ts->tv_nsec;
}

int collector_window(struct collector *c, pid_t pid, struct collector_sub **subs, size_t n,
		     long seconds, struct collector_window *w, struct err *e)
{
	memset(w, 0, sizeof *w);
	struct timespec t0, wall0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	clock_gettime(CLOCK_REALTIME, &wall0);
	w->start_ns = ts_ns(&wall0);
	for (size_t i = 0; i < n; i++)
		if (collector_subscribe(c, pid, subs[i], e) < 0) {
			while (i-- > 0)
				collector_unsubscribe(c, subs[i]);
			return -1;
		}
	struct timespec deadline = t0;
	deadline.tv_sec += seconds;
	collector_wait(c, subs[0], &deadline);
	for (size_t i = 0; i < n; i++)
		collector_unsubscribe(c, subs[i]);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	w->duration_ns = ts_ns(&t1) - ts_ns(&t0);
	for (size_t i = 0; i < n; i++) {
		if (subs[i]->target_exited) {
			w->target_exited = true;
			w->exited_after_s = (double)(ts_ns(&subs[i]->exited_at) - w->start_ns) / 1e9;
		}
		if (subs[i]->target_execd) {
			w->target_execd = true;
			w->execd_after_s = (double)(ts_ns(&subs[i]->execd_at) - w->start_ns) / 1e9;
		}
	}
	for (size_t i = 0; i < n; i++)
		if (subs[i]->error.kind != ERR_NONE && !subs[i]->target_exited) {
			*e = subs[i]->error;
			return -1;
		}
	return 0;
}

void collector_unsubscribe(struct collector *c, struct collector_sub *sub)
{
	pthread_mutex_lock(&c->lock);
	if (!sub->removed) {
		sub->leaving = true;
		while (!sub->removed)
			pthread_cond_wait(&c->cond, &c->lock);
	}
	pthread_mutex_unlock(&c->lock);
}
