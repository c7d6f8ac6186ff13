#include "collect/ptrace_pick.h"

/* A thread on a CPU stops within an interrupt, its run-queue time
 * unchanged: kept. A thread waiting for a CPU stops only once it is
 * scheduled, where it resumes (for one woken from a wait, the return of
 * that wait), and the kernel adds the whole wait to its run-queue time
 * then: dropped, but for one case, a thread the collector's own wakeup
 * took the CPU from. The kernel switches the two at one reading of that
 * CPU's clock, which becomes both the time the thread left (its
 * exec_start while it waits) and the time the collector came on (its own
 * exec_start, read first thing): equal, to the nanosecond, only then. It
 * was running at the tick, and dropping it would starve a thread that
 * shares the collector's CPU. Any other wait (the scheduler chose it,
 * earlier or on the other CPU while the tick ran) is dropped: its stack
 * is where the scheduler took the CPU away, late in a turn, or the return
 * of a wait the thread entered and left meanwhile (measured: 30 of 37
 * such stops of an event loop were clock_nanosleep's return). */
enum ptrace_pick_verdict ptrace_pick(const struct ptrace_pick *p)
{
	if (!p->cpu_read || p->in_wait)
		return PTRACE_PICK_NOT_RUNNING;
	if (p->rq == p->rq_asked)
		return PTRACE_PICK_KEPT;
	if (p->pcount != p->pcount_asked + 1) /* more than the one turn it resumed with */
		return PTRACE_PICK_NOT_RUNNING;
	if (p->came_on_ns >= 0)
		return p->left_ns == p->came_on_ns ? PTRACE_PICK_KEPT : PTRACE_PICK_NOT_RUNNING;
	/* a kernel that shows no exec_start: one wait that began after the
	 * wakeup (when it began, at the latest: seen is after it was
	 * scheduled), no later than half a tick after it */
	int64_t began = p->seen_ns - (int64_t)(p->rq - p->rq_asked);
	if (began < p->woke_ns)
		return PTRACE_PICK_NOT_RUNNING;
	return began - p->woke_ns > p->half_tick_ns ? PTRACE_PICK_LATE : PTRACE_PICK_KEPT;
}
