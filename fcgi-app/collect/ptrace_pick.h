/* ptrace_pick: whether a ptrace stop asked for at a CPU tick shows where
 * the thread ran when the tick came, from readings alone (no target). */
#ifndef PF_PTRACE_PICK_H
#define PF_PTRACE_PICK_H

#include <stdbool.h>
#include <stdint.h>

struct ptrace_pick {
	bool cpu_read;          /* schedstat read at the stop */
	bool in_wait;           /* the stop interrupted a blocked system call */
	uint64_t rq_asked, rq;  /* run-queue time when asked, at the stop */
	uint64_t pcount_asked, pcount; /* turns on a CPU, the same two */
	/* se.exec_start (/proc/.../sched, the run-queue clock of a CPU): of
	 * the collector, read as it woke for the tick, and of the thread,
	 * read when asked if it then waited on the collector's CPU; -1: not
	 * read, or not shown by this kernel (no CONFIG_SCHED_DEBUG) */
	int64_t came_on_ns, left_ns;
	/* without those: CLOCK_MONOTONIC of the stop, of the wakeup, half a tick */
	int64_t seen_ns, woke_ns, half_tick_ns;
};

enum ptrace_pick_verdict {
	PTRACE_PICK_KEPT,
	PTRACE_PICK_NOT_RUNNING, /* waiting for a CPU (or asleep) when asked */
	PTRACE_PICK_LATE,        /* stopped over half a tick after the wakeup */
};

enum ptrace_pick_verdict ptrace_pick(const struct ptrace_pick *p);

#endif
