/* stack.h: the caller's stack, walked by libunwind (loaded privately,
 * struct unwinder says why), as a sample and a thread creation record it. */
#ifndef STACK_H
#define STACK_H

#include "agent.h"

struct walk {
	uint64_t pcs[PPROF_AGENT_DEPTH];
	uint32_t n;
	uint64_t stamp; /* see struct pprof_agent_bucket */
};

/* Loads libunwind, privately; fails (agent_fail) if it will not. From the
 * constructor or the attach: dlopen is not for the first malloc, which may
 * come from inside the dynamic loader before the C library is up. */
HIDDEN void stack_load(void);

/* A walk without libunwind's per-thread trace cache, whose making takes a
 * lock a forked child may have inherited held (see agent.c's before_fork):
 * several times slower, for threads of such a child only. */
HIDDEN __attribute__((noinline)) int stack_walk_uncached(void **ips, int max);

/* The latest of the first n unloads whose range holds one of w's frames,
 * or 0: such a frame is in a library loaded since at that address. */
HIDDEN __attribute__((noinline)) uint64_t stack_stamp(const struct walk *w, uint64_t n);

/* The caller's stack, the agent's own frames left out; false before the
 * unwinder is loaded. Inlined, here and in the sample's slow path: each
 * frame of the agent's own is one more for libunwind to walk, about a
 * tenth of a sample's cost each. A thread makes its trace cache at its
 * first walk, unless that could hang (see before_fork) or the cache would
 * be freed unnoted (the thread is ending: threads.c's thread_ends). */
static inline __attribute__((always_inline)) bool stack_capture(struct walk *w)
{
	void *ips[PPROF_AGENT_DEPTH + 8];
	int n;
	if (UNLIKELY(!__atomic_load_n(&A.unw.ok, __ATOMIC_ACQUIRE)))
		return false; /* before the constructor, or libunwind would not load */
	/* the unloads before the walk: a later one cannot concern frames
	 * that run now */
	uint64_t unloads = __atomic_load_n(&A.unw.unloads, __ATOMIC_ACQUIRE);
	if (UNLIKELY(A.walk_slow || T.ending) && !T.walked) {
		n = stack_walk_uncached(ips, PPROF_AGENT_DEPTH + 8);
	} else {
		T.walked = 1;
		n = A.unw.backtrace(ips, PPROF_AGENT_DEPTH + 8);
	}
	int i = 0;
	while (i < n && (uintptr_t)ips[i] >= A.self_lo && (uintptr_t)ips[i] < A.self_hi)
		i++;
	w->n = 0;
	for (; i < n && w->n < PPROF_AGENT_DEPTH; i++)
		w->pcs[w->n++] = (uintptr_t)ips[i];
	w->stamp = UNLIKELY(unloads) ? stack_stamp(w, unloads) : 0;
	return true;
}

#endif
