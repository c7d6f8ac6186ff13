/* ptrace_waits: the ptrace sampler's passes that read threads where they
 * are instead of sampling them on a clock: the snapshot pass of a thread
 * dump and the off-CPU pass (where and how long threads wait). Both read
 * /proc and the target's memory and stop a thread only where its stack
 * cannot be read otherwise, through the stop helpers of sampler_ptrace.c,
 * which owns the events of traced threads. Separate because these passes
 * are /proc accounting, not stop handling: sampler_ptrace.c keeps the
 * ticks and the tracer's events, this file what a pass makes of a thread. */
#include "collect/ptrace_waits.h"

#include "base/clock.h"
#include "base/log.h"
#include "collect/collector.h"
#include "collect/proc.h"
#include "collect/proc_syscall.h"
#include "collect/sampler_ptrace.h"
#include "collect/tidtab.h"
#include "collect/unwind.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* ---- snapshots ---- */

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

void ptrace_waits_snapshot(struct sampler *pt, struct sampler_stats *st)
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
		} else if (t->state == 't' && t->seized && sampler_ptrace_exit_stop(pt, t, st)) {
			t->state = COLLECTOR_STATE_EXITING; /* not a stop of anyone's */
			without_stop = true;
		} else if (t->state == 'T' || t->state == 't') {
			/* stopped by job control: it stays as it is */
			if (in_syscall)
				unwind_waiting(pt, t, &sc);
			without_stop = true;
		} else {
			sampler_ptrace_unwind_stopped(pt, t, st);
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
		sampler_ptrace_unwind_stopped(pt, t, st);
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
	proc_wait_label(pt->pid, &sc, t->w_label, sizeof t->w_label);
	snprintf(t->w_line, sizeof t->w_line, "%s", sc.line);
	return true;
}

/* Hands delay ns of waiting and waits begun on t's wait stack, since the
 * last credit (w_prov_ts), to the off-CPU subscribers. */
static void deliver_wait(struct sampler *pt, struct thr *t, int64_t delay, uint64_t waits,
			 int64_t now)
{
	struct collector_sample smp = {
		.tid = t->tid, .thread_name = t->comm, .pcs = t->wpcs, .npcs = t->wnpcs,
		.sampled = true, .state = t->state, .delay_ns = delay, .waits = waits,
		.ts_ns = now, .wait_label = t->w_label, .since_ns = t->w_prov_ts,
		.blocked = t->w_waiting,
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
void ptrace_waits_offcpu(struct sampler *pt, bool settle, struct sampler_stats *st)
{
	int64_t now = clock_ns(CLOCK_BOOTTIME);
	for (size_t i = 0; i < pt->tt->n; i++) {
		struct thr *t = &pt->tt->thr[i];
		if (t->dead)
			continue;
		if (!settle && t->w_waiting && t->w_ts && t->wnpcs > 0 &&
		    tidtab_backoff_skip(&t->w_skip)) {
			int64_t d = now - t->w_prov_ts;
			deliver_wait(pt, t, d, 0, now);
			t->w_prov += (uint64_t)d;
			t->w_prov_ts = now;
			continue;
		}
		if (tidtab_cpu(pt->pid, t) < 0) {
			t->dead = true;
			continue;
		}
		bool ran = t->cpu_ns != t->w_cpu;
		/* no switch without running; but a thread runnable at the last
		 * look may have run too little for its lagging CPU count to move
		 * before it blocked: whether it did is read, not assumed */
		uint64_t nvcsw = t->w_nvcsw;
		if ((ran || t->w_runnable) && proc_voluntary_switches(pt->pid, t->tid, &nvcsw) < 0) {
			t->dead = true;
			continue;
		}
		/* the counts of a thread on a CPU now lag (they move at the
		 * scheduler's ticks), and a thread queued for a CPU has its
		 * wait so far in none (run-queue time is added when it gets
		 * the CPU): what a look credits too much, the next one owes
		 * back (w_debt) */
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
		} else if (t->w_runnable && nvcsw == t->w_nvcsw) {
			/* runnable at the last look and never blocked since: it
			 * did not wait, whatever the lagging counts say (a thread
			 * queued half a second on a loaded machine, its window
			 * ending before it ran, was credited all of it) */
			debt = -delay;
			delay = 0;
		}
		tidtab_backoff_update(&t->w_idle, &t->w_skip, ran || !t->w_waiting);
		bool runnable = false;
		if (ran || !t->w_waiting) {
			t->w_waiting = look_wait(pt, t, st);
			runnable = !t->w_waiting && t->state == 'R';
		}
		if (t->w_ts && t->wnpcs == 0 && !took_back)
			continue; /* no wait stack known yet: settled when there is one */
		if (t->w_ts && t->wnpcs > 0) /* none too: a trace learns it was looked at */
			deliver_wait(pt, t, delay, waits, now);
		t->w_debt = debt;
		t->w_runnable = runnable;
		t->w_ts = t->w_prov_ts = now;
		t->w_cpu = t->cpu_ns;
		t->w_rq = t->rq_ns;
		t->w_nvcsw = nvcsw;
		t->w_prov = 0;
	}
	tidtab_compact(pt->tt);
}
