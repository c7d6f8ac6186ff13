/* sampler_ptrace internals: the ptrace sampler's state and the one-thread
 * stops that ptrace_waits.c (its snapshot and off-CPU passes) needs; only
 * sampler_ptrace.c and ptrace_waits.c include this. The ops table itself
 * is sampler_ptrace in sampler.h. */
#ifndef PF_SAMPLER_PTRACE_H
#define PF_SAMPLER_PTRACE_H

#include "collect/ptrace_maps.h"
#include "collect/sampler.h"

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

struct thr;
struct tidtab;
struct unwinder;

struct sampler {
	pid_t pid;
	struct tidtab *tt;
	struct unwinder *unw;
	struct sampler_sink sink;
	int sigfd;               /* SIGCHLD: a tracee has something to report */
	pid_t *sel;              /* threads asked to stop this tick */
	size_t nsel, sel_cap;
	long hz;                 /* the ticks' rate (arm) */
	bool picking;            /* a tick waits for its stops: each is kept or not */
	int64_t woke_ns;         /* CLOCK_MONOTONIC when the wait before this tick
				  * ended (or the last tick, if none came between) */
	/* the collector's own se.exec_start read as it woke (-1: not shown),
	 * and its CPU at the tick: a thread waiting on that CPU when asked
	 * with the same exec_start lost it to this wakeup (ptrace_pick) */
	int64_t came_on_ns;
	int cpu;
	struct maphist *hist;    /* the mappings by time, the collector's; NULL: none */
	struct ptrace_maps maps; /* what the last read of the maps found */
};

/* Stops t alone, unwinds it, resumes it. */
void sampler_ptrace_unwind_stopped(struct sampler *pt, struct thr *t, struct sampler_stats *st);

/* Whether t is in the exit stop pprof-fcgi asks for (PTRACE_O_TRACEEXIT)
 * and not yet handled: then its stack is read there and it is let go.
 * Any other event of t is handled as usual. */
bool sampler_ptrace_exit_stop(struct sampler *pt, struct thr *t, struct sampler_stats *st);

#endif
