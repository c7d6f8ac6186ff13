/* sampler_ptrace: sampling by stopping threads. Each tick reads every
 * thread's CPU time (/proc/PID/task/TID/schedstat), interrupts only the
 * threads that are running and have run since the last tick (a sleeping
 * thread is never stopped: an interrupted epoll_wait returns EINTR to the
 * target), copies registers and the top of the stack, resumes them, then
 * unwinds. Signals arriving meanwhile are re-delivered and group-stops
 * kept. Waits and snapshots are read from /proc and memory, with a stop
 * only where that cannot be avoided. Linux ties a tracee to the tracer
 * thread: everything here runs on the collector's thread, whose end
 * detaches every tracee. */
#include "collect/sampler.h"

#include "base/clock.h"
#include "base/err.h"
#include "base/log.h"
#include "base/vec.h"
#include "collect/collector.h"
#include "collect/proc.h"
#include "collect/target.h"
#include "collect/tidtab.h"
#include "collect/unwind.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <unistd.h>

#define STOP_DEADLINE_NS (100 * 1000000LL) /* a thread not stopped by then is skipped */

struct sampler {
	pid_t pid;
	struct tidtab *tt;
	struct unwinder *unw;
	struct sampler_sink sink;
	int sigfd;               /* SIGCHLD: a tracee has something to report */
	pid_t *sel;              /* threads asked to stop this tick */
	size_t nsel, sel_cap;
};

/* ---- events of the traced threads ---- */

/* What must be read while t is stopped: registers, the top of its stack,
 * its CPU time (exactly the stack's). The unwind itself comes after the
 * thread was resumed (sample_unwind), so it is held only for the copies. */
static bool sample_stopped(struct sampler *pt, struct thr *t)
{
	struct regs regs;
	struct err e = { 0 };
	bool captured = target_getregs(t->tid, &regs, &e) == 0;
	if (captured)
		unwind_capture(pt->unw, t->tid, &regs);
	/* pcs is about to be this stop's stack, not a wait's any more */
	t->wait_line[0] = '\0';
	t->pcs_ts = clock_ns(CLOCK_BOOTTIME);
	if (tidtab_cpu(pt->pid, t) == 0)
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
			captured = sample_stopped(pt, t);
			t->sampled = true;
		}
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
			/* its last CPU time goes onto its last stack */
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
	t->sampled = false;
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

/* One CPU sampling tick, over the threads list_threads just listed. */
static void tick(struct sampler *pt, struct sampler_stats *st)
{
	/* only last tick's selection to clear: a thread's entry is large, and
	 * touching a thousand idle ones costs more than the tick's work */
	for (size_t i = 0; i < pt->nsel; i++) {
		struct thr *t = tidtab_find(pt->tt, pt->sel[i]);
		if (t)
			t->selected = t->sampled = false;
	}
	pt->nsel = 0;
	/* who ran since the last tick and is running now */
	size_t pending = 0;
	for (size_t i = 0; i < pt->tt->n; i++) {
		struct thr *t = &pt->tt->thr[i];
		if (t->dead || tidtab_backoff_skip(&t->skip))
			continue;
		if (tidtab_cpu(pt->pid, t) < 0) {
			t->dead = true;
			continue;
		}
		bool ran = t->cpu_ns != t->cpu_prev_tick;
		tidtab_backoff_update(&t->idle, &t->skip, ran);
		if (!ran)
			continue;
		t->cpu_prev_tick = t->cpu_ns;
		if (tidtab_state(pt->pid, t) < 0 || t->state != 'R')
			continue; /* asleep: its CPU time waits for its next sample */
		struct err ie = { 0 };
		if (target_interrupt(t->tid, &ie) == 0) {
			select_thread(pt, t);
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
		pump_events(pt, left, &pending, st);
	}
	st->lost += pending; /* they stop later and are resumed as strays */
	/* hand out the samples, after every thread runs again */
	for (size_t i = 0; i < pt->tt->n; i++) {
		struct thr *t = &pt->tt->thr[i];
		if (!t->sampled || t->dead)
			continue;
		struct sampler_sample smp = {
			.pid = pt->pid, .tid = t->tid, .time_ns = t->pcs_ts, .cpu_total_ns = t->cpu_ns,
			.pcs = t->pcs, .npcs = t->npcs,
		};
		pt->sink.sample(pt->sink.arg, &smp);
	}
	tidtab_compact(pt->tt);
	st->ticks++;
}

/* ---- snapshots ---- */

/* Stops t alone, unwinds it, resumes it. */
static void unwind_stopped(struct sampler *pt, struct thr *t, struct sampler_stats *st)
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

/* Unwinds a thread blocked in a syscall without stopping it: SP and PC
 * from /proc, the rest of the registers unknown, so the stack is cut where
 * it leaves code; thrown away if the wait changed meanwhile. */
static void unwind_waiting(struct sampler *pt, struct thr *t, const struct proc_syscall *sc)
{
	if (t->npcs > 0 && strcmp(t->wait_line, sc->line) == 0)
		return; /* same wait as last time: same stack */
	struct regs regs;
	memset(&regs, 0, sizeof regs);
	regs.r[REGS_SP] = sc->sp;
	regs.r[REGS_IP] = sc->pc;
	unwind_stack(pt->unw, t->tid, &regs, t->pcs, UNWIND_DEFAULT_DEPTH, &t->npcs);
	t->npcs = unwind_code_prefix(pt->unw, t->pcs, t->npcs);
	struct proc_syscall again;
	if (proc_syscall(pt->pid, t->tid, &again) < 0 || strcmp(again.line, sc->line) != 0) {
		t->pcs[0] = sc->pc; /* it moved on: keep only where it was */
		t->npcs = 1;
		t->wait_line[0] = '\0';
		return;
	}
	snprintf(t->wait_line, sizeof t->wait_line, "%s", sc->line);
}

/* Whether t is in the exit stop pprof-fcgi asks for (PTRACE_O_TRACEEXIT)
 * and not yet handled: then its stack is read there and it is let go.
 * Any other event of t is handled as usual. */
static bool exit_stop(struct sampler *pt, struct thr *t, struct sampler_stats *st)
{
	enum target_event ev;
	int sig;
	size_t none = 0;
	struct err e = { 0 };
	pid_t tid = t->tid;
	if (target_poll_thread(tid, &ev, &sig, &e) != 1)
		return false;
	bool exiting = ev == TARGET_EXITING, captured = exiting && sample_stopped(pt, t);
	handle_event(pt, tid, ev, sig, &none, st); /* its last CPU time, its exit, resumed */
	if (captured)
		sample_unwind(pt, t);
	return exiting;
}

static void snapshot_pass(struct sampler *pt, struct sampler_stats *st)
{
	for (size_t i = 0; i < pt->tt->n; i++) {
		struct thr *t = &pt->tt->thr[i];
		if (t->dead)
			continue;
		tidtab_cpu(pt->pid, t);
		if (tidtab_state(pt->pid, t) < 0) {
			t->dead = true;
			continue;
		}
		struct proc_syscall sc;
		bool in_syscall = proc_syscall(pt->pid, t->tid, &sc) == 0 && sc.nr >= 0;
		bool without_stop = false;
		if (t->npcs > 0 && ((in_syscall && strcmp(sc.line, t->wait_line) == 0) ||
				    (!in_syscall && t->pcs_cpu == t->cpu_ns && t->cpu_ns != 0))) {
			/* still in the wait (same syscall, arguments, SP and PC)
			 * its stack was taken in, or has not run since: that stack
			 * still holds. (CPU time alone cannot tell for a waiting
			 * thread: our own stop made it run a few microseconds.) */
			without_stop = true;
		} else if (in_syscall && proc_syscall_eintr_prone(sc.nr)) {
			unwind_waiting(pt, t, &sc);
			t->pcs_cpu = t->cpu_ns;
			without_stop = true;
		} else if (t->state == 't' && t->seized && exit_stop(pt, t, st)) {
			t->state = COLLECTOR_STATE_EXITING; /* not a stop of anyone's */
			without_stop = true;
		} else if (t->state == 'T' || t->state == 't') {
			/* stopped by job control: it stays as it is */
			if (in_syscall)
				unwind_waiting(pt, t, &sc);
			without_stop = true;
		} else {
			unwind_stopped(pt, t, st);
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
		st->samples++;
		pt->sink.thread(pt->sink.arg, &smp);
	}
	tidtab_compact(pt->tt);
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

/* Whether t waits now (asleep in a syscall); if so its wait stack and
 * label are in wpcs and w_label: unwound again only when the wait changed,
 * without a stop where the stack can be read from /proc and memory. */
static bool look_wait(struct sampler *pt, struct thr *t, struct sampler_stats *st)
{
	struct proc_syscall sc;
	if (tidtab_state(pt->pid, t) < 0 || (t->state != 'S' && t->state != 'D') ||
	    proc_syscall(pt->pid, t->tid, &sc) < 0 || sc.nr < 0)
		return false;
	if (t->wnpcs > 0 && strcmp(sc.line, t->w_line) == 0) {
		st->waits_reused++; /* woke and waits again where it was */
		return true;
	}
	/* SP and PC from /proc, the stack from memory: no stop */
	struct regs regs;
	memset(&regs, 0, sizeof regs);
	regs.r[REGS_SP] = sc.sp;
	regs.r[REGS_IP] = sc.pc;
	unwind_stack(pt->unw, t->tid, &regs, t->wpcs, UNWIND_DEFAULT_DEPTH, &t->wnpcs);
	t->wnpcs = unwind_code_prefix(pt->unw, t->wpcs, t->wnpcs);
	struct proc_syscall again;
	bool same = proc_syscall(pt->pid, t->tid, &again) == 0 && strcmp(again.line, sc.line) == 0;
	if (same && t->wnpcs >= 3) {
		st->waits_without_stop++;
	} else if (same && !proc_syscall_eintr_prone(sc.nr)) {
		log_debug("collector: wait stack of tid %d (%s) in %s cut at %zu frames: read with a stop",
			  (int)t->tid, t->comm, proc_syscall_name(sc.nr) ? proc_syscall_name(sc.nr) : "?",
			  t->wnpcs);
		/* cut short (frame pointer frames need the live registers):
		 * stop it, which this wait restarts from */
		unwind_stopped(pt, t, st);
		memcpy(t->wpcs, t->pcs, t->npcs * sizeof *t->pcs);
		t->wnpcs = t->npcs;
		st->waits_unwound++;
	} else if (!same) {
		/* it moved on while we read: not in this wait any more; a
		 * fresh look next time, never a stop */
		t->wnpcs = 0;
		t->w_line[0] = '\0';
		return false;
	}
	wait_label(pt->pid, &sc, t->w_label, sizeof t->w_label);
	snprintf(t->w_line, sizeof t->w_line, "%s", sc.line);
	return true;
}

/* Hands delay ns of waiting and waits begun on t's wait stack to the
 * off-CPU subscribers. */
static void deliver_wait(struct sampler *pt, struct thr *t, int64_t delay, uint64_t waits,
			 int64_t now)
{
	struct collector_sample smp = {
		.tid = t->tid, .thread_name = t->comm, .pcs = t->wpcs, .npcs = t->wnpcs,
		.sampled = true, .state = t->state, .delay_ns = delay, .waits = waits,
		.ts_ns = now, .wait_label = t->w_label,
	};
	pt->sink.thread(pt->sink.arg, &smp); /* counted where delivered */
}

/* Every thread's waiting since its last look, as the kernel counts it:
 * wall time minus the growth of its CPU time and of its time runnable but
 * not running (schedstat), so per-thread totals are exact whatever the
 * wake-up rate and only the split between stacks is sampled; credited to
 * the wait stack seen now, or the last one seen when it runs now. Waits
 * begun are the growth of its voluntary context switches, read only when
 * it ran. A thread that keeps waiting is looked at less often: meanwhile
 * it is credited provisionally where it waits, and its next look settles
 * the difference (taken back from that stack when it ran meanwhile).
 * settle: no thread skipped (a window begins or ends). */
static void offcpu_pass(struct sampler *pt, bool settle, struct sampler_stats *st)
{
	int64_t now = clock_ns(CLOCK_BOOTTIME);
	for (size_t i = 0; i < pt->tt->n; i++) {
		struct thr *t = &pt->tt->thr[i];
		if (t->dead)
			continue;
		if (!settle && t->w_waiting && t->w_ts && t->wnpcs > 0 &&
		    tidtab_backoff_skip(&t->w_skip)) {
			int64_t d = now - t->w_prov_ts;
			t->w_prov += (uint64_t)d;
			t->w_prov_ts = now;
			deliver_wait(pt, t, d, 0, now);
			continue;
		}
		if (tidtab_cpu(pt->pid, t) < 0) {
			t->dead = true;
			continue;
		}
		bool ran = t->cpu_ns != t->w_cpu;
		uint64_t nvcsw = t->w_nvcsw; /* no switch without running */
		if (ran && proc_voluntary_switches(pt->pid, t->tid, &nvcsw) < 0) {
			t->dead = true;
			continue;
		}
		/* the counts of a thread on a CPU now lag (they move at the
		 * scheduler's ticks): what a look credits too much, the next
		 * one owes back (w_debt) */
		int64_t delay = 0;
		uint64_t waits = 0;
		if (t->w_ts) {
			delay = (now - t->w_ts) - (int64_t)(t->cpu_ns - t->w_cpu) -
				(int64_t)(t->rq_ns - t->w_rq) - t->w_debt - (int64_t)t->w_prov;
			waits = nvcsw - t->w_nvcsw;
		}
		int64_t back = delay < -(int64_t)t->w_prov ? -(int64_t)t->w_prov : delay;
		bool took_back = back < 0;
		if (took_back) /* it ran while skipped: taken back where it was credited */
			deliver_wait(pt, t, back, 0, now);
		int64_t debt = 0;
		if (delay < 0) {
			debt = back - delay;
			delay = 0;
		}
		tidtab_backoff_update(&t->w_idle, &t->w_skip, ran || !t->w_waiting);
		if (ran || !t->w_waiting)
			t->w_waiting = look_wait(pt, t, st);
		if (t->w_ts && t->wnpcs == 0 && !took_back)
			continue; /* no wait stack known yet: settled when there is one */
		if (t->wnpcs > 0 && (delay > 0 || waits > 0))
			deliver_wait(pt, t, delay, waits, now);
		t->w_debt = debt;
		t->w_ts = t->w_prov_ts = now;
		t->w_cpu = t->cpu_ns;
		t->w_rq = t->rq_ns;
		t->w_nvcsw = nvcsw;
		t->w_prov = 0;
	}
	tidtab_compact(pt->tt);
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
	/* SIGCHLD is blocked in every thread of the app (main), so it is
	 * read here and nowhere else */
	sigset_t chld;
	sigemptyset(&chld);
	sigaddset(&chld, SIGCHLD);
	pthread_sigmask(SIG_BLOCK, &chld, NULL);
	pt->sigfd = signalfd(-1, &chld, SFD_NONBLOCK | SFD_CLOEXEC);
	return pt;
}

static int ptrace_follow(struct sampler *pt, struct err *e)
{
	return list_threads(pt, e);
}

static void ptrace_arm(struct sampler *pt, long hz)
{
	(void)pt; /* the collector's clock drives the ticks */
	(void)hz;
}

static void ptrace_drain(struct sampler *pt, int64_t timeout_ns, struct sampler_stats *st)
{
	size_t none = 0;
	pump_events(pt, timeout_ns, &none, st);
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
		 "%.1f us; %llu not stopped in time; wait stacks: %llu without a stop, %llu with "
		 "one, %llu reused", (unsigned long long)st->ticks, hz,
		 (unsigned long long)st->stops, sampler_held_quantile(st, 0.5),
		 sampler_held_quantile(st, 0.99), (double)st->held_ns_total / stops / 1e3,
		 (double)st->held_ns_max / 1e3, (double)st->latency_ns_total / stops / 1e3,
		 (double)st->latency_ns_max / 1e3, (unsigned long long)st->lost,
		 (unsigned long long)st->waits_without_stop, (unsigned long long)st->waits_unwound,
		 (unsigned long long)st->waits_reused);
	if (st->lost > 0)
		sampler_line(out, "pprof-fcgi: %llu of %llu threads asked to stop did not within "
			     "100 ms (a busy machine, or threads in uninterruptible waits): their "
			     "CPU time went onto their previous stacks",
			     (unsigned long long)st->lost, (unsigned long long)(st->stops + st->lost));
	if (kind == SAMPLER_WAITS && st->waits_unwound > 0)
		sampler_line(out, "pprof-fcgi: %llu threads were stopped briefly to read where they "
			     "wait (their stacks could not be read from memory alone)",
			     (unsigned long long)st->waits_unwound);
}

const struct sampler_ops sampler_ptrace = {
	.name = "ptrace",
	.needs = SAMPLER_NEEDS_READ_MEM | SAMPLER_NEEDS_ATTACH,
	.attach = ptrace_attach,
	.follow = ptrace_follow,
	.arm = ptrace_arm,
	.tick = tick,
	.drain = ptrace_drain,
	.waits = offcpu_pass,
	.snapshot = snapshot_pass,
	.detach = ptrace_detach,
	.describe = ptrace_describe,
};
