/* sampler_ptrace: sampling by stopping threads. Each tick reads every
 * thread's CPU time (/proc/PID/task/TID/schedstat), interrupts only the
 * threads that are running and have run since the last tick (a sleeping
 * thread is never stopped: an interrupted epoll_wait returns EINTR to the
 * target), copies registers and the top of the stack, resumes them, then
 * unwinds. Signals arriving meanwhile are re-delivered and group-stops
 * kept. Waits and snapshots are read from /proc and memory, with a stop
 * only where that cannot be avoided (ptrace_waits.c). Linux ties a
 * tracee to the tracer thread: everything here runs on the collector's
 * thread, whose end detaches every tracee. */
#include "collect/sampler.h"

#include "base/clock.h"
#include "base/err.h"
#include "base/log.h"
#include "base/vec.h"
#include "collect/maphist.h"
#include "collect/ptrace_pick.h"
#include "collect/ptrace_waits.h"
#include "collect/sampler_ptrace.h"
#include "collect/target.h"
#include "collect/tidtab.h"
#include "collect/unwind.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/signalfd.h>
#include <unistd.h>

#define STOP_DEADLINE_NS (100 * 1000000LL) /* a thread not stopped by then is skipped */

/* ---- events of the traced threads ---- */

/* Whether a tick's stop of t, seen at seen (CLOCK_MONOTONIC), shows where
 * t ran when this collector woke for the tick (ptrace_pick says why);
 * cpu_read: its schedstat was read at the stop; in_wait: the stop
 * interrupted a blocked system call. Counted in st. */
static bool stop_kept(struct sampler *pt, struct thr *t, bool cpu_read, bool in_wait,
		      uint64_t pcount_asked, int64_t seen, struct sampler_stats *st)
{
	struct ptrace_pick p = {
		.cpu_read = cpu_read, .in_wait = in_wait, .rq_asked = t->rq_asked, .rq = t->rq_ns,
		.pcount_asked = pcount_asked, .pcount = t->pcount, .came_on_ns = pt->came_on_ns,
		.left_ns = t->left_ns, .seen_ns = seen, .woke_ns = pt->woke_ns,
		.half_tick_ns = pt->hz > 0 ? 500000000LL / pt->hz : STOP_DEADLINE_NS,
	};
	switch (ptrace_pick(&p)) {
	case PTRACE_PICK_KEPT:
		return true;
	case PTRACE_PICK_NOT_RUNNING:
		st->not_running++;
		return false;
	case PTRACE_PICK_LATE:
		st->late++;
		return false;
	}
	return false;
}

/* What must be read while t is stopped: its CPU time (exactly the
 * stack's), registers and the top of its stack. The unwind itself comes
 * after the thread was resumed (sample_unwind), so it is held only for
 * the copies. At a tick, a stop that does not show where t ran is not
 * kept (t->dropped; stop_kept). True when a stack was captured. */
static bool sample_stopped(struct sampler *pt, struct thr *t, int64_t seen,
			   struct sampler_stats *st)
{
	uint64_t pcount_asked = t->pcount_prev_tick;
	bool cpu_read = tidtab_cpu(pt->pid, t) == 0;
	struct regs regs;
	bool in_wait = false;
	struct err e = { 0 };
	bool captured = target_getregs(t->tid, &regs, &in_wait, &e) == 0;
	if (pt->picking && !stop_kept(pt, t, cpu_read, in_wait, pcount_asked, seen, st)) {
		t->dropped = true;
		return false;
	}
	if (captured)
		unwind_capture(pt->unw, t->tid, &regs);
	/* pcs is about to be this stop's stack, not a wait's any more */
	t->wait_line[0] = '\0';
	t->pcs_ts = clock_ns(CLOCK_BOOTTIME);
	t->pcs_cpu = t->cpu_ns;
	return captured;
}

static void sample_unwind(struct sampler *pt, struct thr *t)
{
	unwind_captured(pt->unw, t->pcs, UNWIND_DEFAULT_DEPTH, &t->npcs);
}

/* Handles one event; counts down *pending for threads selected this tick. */
static void handle_event(struct sampler *pt, pid_t tid, enum target_event ev, int sig,
			 size_t *pending, struct sampler_stats *st)
{
	struct thr *t = tidtab_find(pt->tt, tid);
	struct err e = { 0 };
	bool waited_for = t && t->selected && !t->sampled;
	switch (ev) {
	case TARGET_INTERRUPTED: {
		int64_t seen = clock_ns(CLOCK_MONOTONIC);
		bool captured = false;
		if (waited_for) {
			captured = sample_stopped(pt, t, seen, st);
			t->sampled = true;
		}
		if (target_undo_eintr(pt->pid, tid))
			st->eintr_undone++;
		target_resume(tid, 0, &e);
		int64_t resumed = clock_ns(CLOCK_MONOTONIC);
		if (captured)
			sample_unwind(pt, t);
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
			st->held_hist[us < SAMPLER_HIST ? us : SAMPLER_HIST - 1]++;
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
			/* its last CPU time, given out with the exit */
			uint64_t ns;
			if (tidtab_read_cpu(pt->pid, tid, &ns) == 0 && ns > t->cpu_ns)
				t->cpu_ns = ns;
			struct sampler_event ex = { .kind = SAMPLER_THREAD_EXIT, .tid = tid,
						    .time_ns = clock_ns(CLOCK_BOOTTIME) };
			pt->sink.event(pt->sink.arg, &ex);
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
	case TARGET_EXEC: {
		struct sampler_event ex = { .kind = SAMPLER_EXEC, .tid = tid,
					    .time_ns = clock_ns(CLOCK_BOOTTIME) };
		ptrace_maps_exec(&pt->maps, pt->hist, pt->pid, ex.time_ns);
		pt->sink.event(pt->sink.arg, &ex);
		target_resume(tid, 0, &e);
		return;
	}
	case TARGET_OTHER:
		target_resume(tid, 0, &e);
		return;
	}
	if (waited_for && *pending > 0)
		(*pending)--;
}

static void drain_sigfd(struct sampler *pt)
{
	if (pt->sigfd < 0)
		return;
	struct signalfd_siginfo si;
	while (read(pt->sigfd, &si, sizeof si) == (ssize_t)sizeof si)
		;
}

/* Marks t as asked to stop this tick. */
static void select_thread(struct sampler *pt, struct thr *t)
{
	t->selected = true;
	t->sampled = t->dropped = false;
	t->stop_start_ns = clock_ns(CLOCK_MONOTONIC);
	*(pid_t *)VEC_PUSH(pt->sel, pt->nsel, pt->sel_cap, 64) = t->tid;
}

/* Events of the threads still awaited this tick, asked for by tid. */
static int poll_selected(struct sampler *pt, size_t *pending, struct sampler_stats *st)
{
	int got = 0;
	for (size_t i = 0; i < pt->nsel && *pending > 0; i++) {
		struct thr *t = tidtab_find(pt->tt, pt->sel[i]);
		if (!t || !t->selected || t->sampled)
			continue;
		enum target_event ev;
		int sig;
		struct err e = { 0 };
		while (t->selected && !t->sampled &&
		       target_poll_thread(t->tid, &ev, &sig, &e) == 1) {
			handle_event(pt, t->tid, ev, sig, pending, st);
			got++;
			t = tidtab_find(pt->tt, pt->sel[i]); /* an exit may change the table */
			if (!t)
				break;
		}
	}
	return got;
}

static int poll_all(struct sampler *pt, size_t *pending, struct sampler_stats *st)
{
	pid_t tid;
	enum target_event ev;
	int sig;
	struct err e = { 0 };
	int got = 0;
	while (target_poll_event(&tid, &ev, &sig, &e) == 1) {
		handle_event(pt, tid, ev, sig, pending, st);
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
static void pump_events(struct sampler *pt, int64_t timeout_ns, size_t *pending,
			struct sampler_stats *st)
{
	if (*pending > 0 && poll_selected(pt, pending, st) > 0)
		return;
	if (pt->sigfd < 0) {
		/* no signalfd: look at everything, nap, look again */
		if (poll_all(pt, pending, st) > 0 || timeout_ns <= 0)
			return;
		poll(NULL, 0, 1);
		poll_all(pt, pending, st);
		return;
	}
	struct pollfd pfd = { .fd = pt->sigfd, .events = POLLIN };
	int ms = timeout_ns <= 0 ? 0 : (int)(timeout_ns / 1000000);
	if (ms > 5)
		ms = 5; /* bounds the wait should a SIGCHLD go elsewhere */
	if (timeout_ns > 0 && ms < 1)
		ms = 1;
	int ready = poll(&pfd, 1, ms);
	drain_sigfd(pt);
	if (*pending > 0)
		poll_selected(pt, pending, st);
	if (ready != 0 || ms >= 5)
		poll_all(pt, pending, st);
}

/* ---- one tick ---- */

static bool seized_any(const struct sampler *pt)
{
	for (size_t i = 0; i < pt->tt->n; i++)
		if (pt->tt->thr[i].seized)
			return true;
	return false;
}

/* Lists the target's threads, seizes new ones; 0, or -1 with e filled when
 * sampling cannot go on (target gone: ERR_TARGET). */
static int list_threads(struct sampler *pt, struct err *e)
{
	char path[64];
	snprintf(path, sizeof path, "/proc/%d/task", (int)pt->pid);
	DIR *d = opendir(path);
	if (!d)
		return err_errno(e, ERR_TARGET, errno, "target pid %d exited", (int)pt->pid);
	for (size_t i = 0; i < pt->tt->n; i++)
		pt->tt->thr[i].seen = false;
	struct dirent *de;
	while ((de = readdir(d))) {
		char *end;
		long tid = strtol(de->d_name, &end, 10);
		if (*end || tid <= 0)
			continue;
		struct thr *t = tidtab_find(pt->tt, (pid_t)tid);
		if (!t || t->kept) {
			uint64_t ns = 0;
			if (tidtab_read_cpu(pt->pid, (pid_t)tid, &ns) < 0) {
				if (t)
					t->dead = true;
				continue;
			}
			if (t)
				tidtab_renew(t);
			else
				t = tidtab_add(pt->tt, (pid_t)tid);
			t->cpu_ns = t->cpu_prev_tick = ns;
			tidtab_state(pt->pid, t);
			struct sampler_event ev = { .kind = SAMPLER_THREAD_NEW, .tid = t->tid,
						    .time_ns = clock_ns(CLOCK_BOOTTIME) };
			pt->sink.event(pt->sink.arg, &ev);
		}
		t->seen = true;
		if (!t->seized) {
			struct err se = { 0 };
			if (target_seize(t->tid, &se) < 0) {
				/* a thread that is exiting refuses to be seized with
				 * EPERM too; permission is the process's, so only a
				 * first refusal of a live thread means no permission */
				if (se.kind == ERR_PERMISSION && !seized_any(pt) &&
				    tidtab_alive(pt->pid, t->tid)) {
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
	for (size_t i = 0; i < pt->tt->n; i++)
		if (!pt->tt->thr[i].seen)
			pt->tt->thr[i].dead = true;
	return 0;
}

/* The mapping history brought up to date for the samples this tick kept
 * (began: CLOCK_BOOTTIME before the first stop), should one of their
 * frames lie where no mapping was when the maps were last read: a library
 * loaded since, and maybe unloaded before the profile is symbolized. */
static void tick_maps(struct sampler *pt, int64_t began)
{
	if (!pt->hist)
		return;
	bool miss = false;
	for (size_t i = 0; i < pt->nsel && !miss; i++) {
		struct thr *t = tidtab_find(pt->tt, pt->sel[i]);
		miss = t && t->sampled && !t->dropped && !t->dead &&
		       ptrace_maps_miss(&pt->maps, t->pcs, t->npcs);
	}
	if (!miss)
		return;
	struct err e = { 0 };
	if (ptrace_maps_read(&pt->maps, pt->hist, pt->pid, began) && unwind_refresh(pt->unw, &e) < 0)
		log_debug("ptrace sampler: %s", e.msg);
	for (size_t i = 0; i < pt->nsel; i++) {
		struct thr *t = tidtab_find(pt->tt, pt->sel[i]);
		if (t && t->sampled && !t->dropped && !t->dead)
			ptrace_maps_note(&pt->maps, t->pcs, t->npcs);
	}
}

/* One CPU sampling tick, over the threads list_threads just listed. */
static void tick(struct sampler *pt, struct sampler_stats *st)
{
	int64_t began = clock_ns(CLOCK_BOOTTIME);
	/* only last tick's selection to clear: a thread's entry is large, and
	 * touching a thousand idle ones costs more than the tick's work */
	for (size_t i = 0; i < pt->nsel; i++) {
		struct thr *t = tidtab_find(pt->tt, pt->sel[i]);
		if (t)
			t->selected = t->sampled = false;
	}
	pt->nsel = 0;
	pt->cpu = sched_getcpu();
	/* who may be on a CPU now: running at the last look, or put on a CPU
	 * since (the CPU time alone lags: the kernel adds a running thread's
	 * time at its scheduler ticks and switches, 4 ms apart at HZ=250) */
	size_t pending = 0;
	for (size_t i = 0; i < pt->tt->n; i++) {
		struct thr *t = &pt->tt->thr[i];
		if (t->dead || tidtab_backoff_skip(&t->skip))
			continue;
		if (tidtab_cpu(pt->pid, t) < 0) {
			t->dead = true;
			continue;
		}
		bool ran = t->cpu_ns != t->cpu_prev_tick || t->pcount != t->pcount_prev_tick ||
			   t->state == 'R';
		tidtab_backoff_update(&t->idle, &t->skip, ran);
		if (!ran)
			continue;
		t->cpu_prev_tick = t->cpu_ns;
		t->pcount_prev_tick = t->pcount;
		if (tidtab_state(pt->pid, t) < 0 || t->state != 'R')
			continue; /* asleep: never stopped (EINTR) */
		t->rq_asked = t->rq_ns;
		/* waiting on this CPU (this thread runs here): did it just
		 * lose the CPU to this wakeup? One read, of these only. If
		 * not, it waited already: its stop would be dropped, so it
		 * is not stopped at all */
		t->left_ns = -1;
		if (pt->came_on_ns >= 0 && t->cpu == pt->cpu &&
		    tidtab_sched_stamp(pt->pid, t->tid, &t->left_ns) == 0 &&
		    t->left_ns != pt->came_on_ns) {
			st->waiting++;
			continue;
		}
		struct err ie = { 0 };
		if (target_interrupt(t->tid, &ie) == 0) {
			select_thread(pt, t);
			pending++;
		}
	}
	/* all interrupts first, then waiting: with more runnable threads than
	 * CPUs an interrupt lands only when the thread next runs */
	int64_t deadline = clock_ns(CLOCK_MONOTONIC) + STOP_DEADLINE_NS;
	pt->picking = true;
	while (pending > 0) {
		int64_t left = deadline - clock_ns(CLOCK_MONOTONIC);
		if (left <= 0)
			break;
		pump_events(pt, left, &pending, st);
	}
	pt->picking = false;
	st->lost += pending; /* they stop later and are resumed as strays */
	/* hand out the samples kept, after every thread runs again, each
	 * frame tagged with the mapping it was in then */
	tick_maps(pt, began);
	for (size_t i = 0; i < pt->tt->n; i++) {
		struct thr *t = &pt->tt->thr[i];
		if (!t->sampled || t->dropped || t->dead)
			continue;
		maphist_tag(pt->hist, pt->pid, t->pcs_ts, t->pcs, t->npcs);
		struct sampler_sample smp = {
			.pid = pt->pid, .tid = t->tid, .time_ns = t->pcs_ts, .cpu_total_ns = t->cpu_ns,
			.pcs = t->pcs, .npcs = t->npcs,
		};
		pt->sink.sample(pt->sink.arg, &smp);
	}
	tidtab_compact(pt->tt);
	st->ticks++;
	pt->woke_ns = clock_ns(CLOCK_MONOTONIC); /* no wait before the next tick: it runs on */
}

/* ---- one thread, for the passes of ptrace_waits.c ---- */

/* Stops t alone, unwinds it, resumes it. */
void sampler_ptrace_unwind_stopped(struct sampler *pt, struct thr *t, struct sampler_stats *st)
{
	struct err e = { 0 };
	if (target_interrupt(t->tid, &e) < 0)
		return;
	pt->nsel = 0;
	select_thread(pt, t);
	size_t pending = 1;
	int64_t deadline = t->stop_start_ns + STOP_DEADLINE_NS;
	while (pending > 0) {
		int64_t left = deadline - clock_ns(CLOCK_MONOTONIC);
		if (left <= 0) {
			st->lost++;
			break;
		}
		pump_events(pt, left, &pending, st);
	}
	t->selected = false;
	t->wait_line[0] = '\0';
}

/* t's exit stop, if it is in one: its stack is read there (see the .h) */
bool sampler_ptrace_exit_stop(struct sampler *pt, struct thr *t, struct sampler_stats *st)
{
	enum target_event ev;
	int sig;
	size_t none = 0;
	struct err e = { 0 };
	pid_t tid = t->tid;
	if (target_poll_thread(tid, &ev, &sig, &e) != 1)
		return false;
	bool exiting = ev == TARGET_EXITING, captured = exiting && sample_stopped(pt, t, 0, st);
	handle_event(pt, tid, ev, sig, &none, st); /* its last CPU time, its exit, resumed */
	if (captured)
		sample_unwind(pt, t);
	return exiting;
}

/* ---- the ops ---- */

static struct sampler *ptrace_attach(const struct sampler_host *host, struct err *e)
{
	(void)e; /* threads are seized by ptrace_follow, which says why not */
	struct sampler *pt = calloc(1, sizeof *pt);
	if (!pt)
		abort();
	pt->pid = host->pid;
	pt->tt = host->threads;
	pt->unw = host->unw;
	pt->sink = host->sink;
	pt->hist = host->maps;
	/* SIGCHLD is blocked in every thread of the app (main), so it is
	 * read here and nowhere else */
	sigset_t chld;
	sigemptyset(&chld);
	sigaddset(&chld, SIGCHLD);
	pthread_sigmask(SIG_BLOCK, &chld, NULL);
	pt->sigfd = signalfd(-1, &chld, SFD_NONBLOCK | SFD_CLOEXEC);
	pt->came_on_ns = -1;
	return pt;
}

static int ptrace_follow(struct sampler *pt, struct err *e)
{
	return list_threads(pt, e);
}

static void ptrace_arm(struct sampler *pt, long hz)
{
	pt->hz = hz; /* the collector's clock drives the ticks */
}

static void ptrace_drain(struct sampler *pt, int64_t timeout_ns, struct sampler_stats *st)
{
	size_t none = 0;
	pump_events(pt, timeout_ns, &none, st);
	pt->woke_ns = clock_ns(CLOCK_MONOTONIC); /* the last drain before a tick ends as it wakes */
	/* first thing: the kernel moves it on at its next look at this CPU */
	if (pt->hz <= 0 || tidtab_sched_stamp(0, 0, &pt->came_on_ns) < 0)
		pt->came_on_ns = -1;
}

static void ptrace_detach(struct sampler *pt)
{
	/* the threads stay known with their stacks (tidtab_renew); their open
	 * files do not. The tracer thread's end detaches every thread it
	 * traced, whatever state they are in: no stop is needed to let go */
	for (size_t i = 0; i < pt->tt->n; i++) {
		struct thr *t = &pt->tt->thr[i];
		if (t->cpu_fd >= 0)
			close(t->cpu_fd);
		t->cpu_fd = -1;
		t->kept = true;
		t->seized = false;
	}
	free(pt->sel);
	ptrace_maps_release(&pt->maps);
	if (pt->sigfd >= 0)
		close(pt->sigfd);
	free(pt);
}

static void ptrace_describe(enum sampler_kind kind, long hz, const struct sampler_stats *st,
			    struct sampler_lines *out)
{
	double stops = st->stops ? (double)st->stops : 1.0;
	log_info("ptrace sampler: %llu ticks at %ld Hz, %llu thread stops held median <%.0f us, "
		 "p99 <%.0f us, mean %.1f us, longest %.1f us; stop latency mean %.1f us, longest "
		 "%.1f us; %llu not stopped in time, %llu dropped as not running, %llu as late, %llu seen waiting and not stopped, %llu waits restarted; wait stacks: %llu without a stop, %llu with "
		 "one, %llu reused", (unsigned long long)st->ticks, hz,
		 (unsigned long long)st->stops, sampler_held_quantile(st, 0.5),
		 sampler_held_quantile(st, 0.99), (double)st->held_ns_total / stops / 1e3,
		 (double)st->held_ns_max / 1e3, (double)st->latency_ns_total / stops / 1e3,
		 (double)st->latency_ns_max / 1e3, (unsigned long long)st->lost,
		 (unsigned long long)st->not_running, (unsigned long long)st->late,
		 (unsigned long long)st->waiting,
		 (unsigned long long)st->eintr_undone, (unsigned long long)st->waits_without_stop, (unsigned long long)st->waits_unwound,
		 (unsigned long long)st->waits_reused);
	if (kind == SAMPLER_CPU && st->not_running + st->late + st->waiting > 0)
		sampler_line(out, "pprof-fcgi: %llu of %llu samples were dropped as taken while the "
			     "thread was not running (it was waiting for a CPU, or stopped over "
			     "half a tick late; %llu of them seen waiting were not stopped at "
			     "all); each thread's CPU time is shared out over its samples taken "
			     "while it ran",
			     (unsigned long long)(st->not_running + st->late + st->waiting),
			     (unsigned long long)(st->stops + st->waiting),
			     (unsigned long long)st->waiting);
	if (kind == SAMPLER_CPU && st->threads_unsampled > 0)
		sampler_line(out, "pprof-fcgi: %llu threads used CPU but had no sample taken while "
			     "they ran: their CPU time is shown as [not sampled]",
			     (unsigned long long)st->threads_unsampled);
	if (st->lost > 0)
		sampler_line(out, "pprof-fcgi: %llu of %llu threads asked to stop did not within "
			     "100 ms (a busy machine, or threads in uninterruptible waits): those "
			     "samples are missing", (unsigned long long)st->lost,
			     (unsigned long long)(st->stops + st->lost));
	if (kind == SAMPLER_WAITS && st->waits_unwound > 0)
		sampler_line(out, "pprof-fcgi: %llu threads were stopped briefly to read where they "
			     "wait (their stacks could not be read from memory alone)",
			     (unsigned long long)st->waits_unwound);
}

const struct sampler_ops sampler_ptrace = {
	.name = "ptrace",
	.needs = SAMPLER_NEEDS_READ_MEM | SAMPLER_NEEDS_ATTACH,
	.scaled = true,
	.attach = ptrace_attach,
	.follow = ptrace_follow,
	.arm = ptrace_arm,
	.tick = tick,
	.drain = ptrace_drain,
	.waits = ptrace_waits_offcpu,
	.snapshot = ptrace_waits_snapshot,
	.detach = ptrace_detach,
	.describe = ptrace_describe,
};
