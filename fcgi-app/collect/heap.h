/* heap: the preload agent's tables (agent/pprof-agent.h), read from the
 * target's memory without stopping it; Go's scaling of its samples. The
 * /heap and /allocs profiles are built in ep/ep_heap.c. */
#ifndef PF_HEAP_H
#define PF_HEAP_H

#include "pprof-agent.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct err;

struct heap_snapshot {
	bool present;                        /* the agent is loaded in the target */
	struct pprof_agent_header h;
	struct pprof_agent_bucket *buckets;  /* h.nbuckets of them */
	struct pprof_agent_counts *counts;   /* theirs, summed over the shards */
	struct pprof_agent_thread *threads;  /* h.max_threads slots */
	struct pprof_agent_unload *unloads;  /* nunloads libraries unloaded */
	uint64_t nunloads;
};

/* Frames in a library unloaded since their stack was taken are given
 * addresses of their own, where nothing of the target's is mapped:
 * HEAP_UNLOADED_BIT | the unload's index << HEAP_UNLOADED_SHIFT | the
 * offset from the library's start (libraries up to 1 TiB, 2^16 unloads
 * read). ep_name_unloaded (ep.h) names them from the library's file, or as
 * HEAP_UNLOADED_NAME. */
#define HEAP_UNLOADED_BIT (1ULL << 63)
#define HEAP_UNLOADED_SHIFT 40
#define HEAP_UNLOADED_NAME "[unloaded library]"

/* the addresses each unloaded library gets: its first 1 TiB */
#define HEAP_UNLOADED_ROOM (1ULL << HEAP_UNLOADED_SHIFT)

/* Where the frames of unload k begin. */
uint64_t heap_unloaded_base(uint64_t k);

/* The agent's module (a part of its file name) and its table's symbol, for
 * the caller to find in the target (the symbolizer knows its modules). */
#define HEAP_AGENT_FILE "libpprof-agent"

/* Reads the agent's tables of pid, whose header is at addr (found by the
 * caller: ctx_heap_read); s->present false (and 0 returned) for addr 0, a
 * target running without the agent. */
int heap_read(pid_t pid, uint64_t addr, struct heap_snapshot *s, struct err *e);
void heap_snapshot_release(struct heap_snapshot *s);

/* The pthread_create call stack of thread tid into pcs (as the unwinder
 * stores them: each return address minus one), its depth, or 0 when the
 * agent did not see the thread start. */
size_t heap_thread_stack(const struct heap_snapshot *s, pid_t tid, uint64_t *pcs, size_t max);

/* Bucket i's stack into pcs, each return address minus one, frames of
 * libraries unloaded since at addresses of their own (HEAP_UNLOADED_BIT);
 * its depth. */
size_t heap_bucket_stack(const struct heap_snapshot *s, uint64_t i, uint64_t *pcs, size_t max);

/* b's stack as the unwinder stores stacks: return addresses minus one
 * (see above for those in unloaded libraries, placed by s's unloads: b
 * may come from an earlier snapshot of the same target). */
size_t heap_bucket_pcs(const struct heap_snapshot *s, const struct pprof_agent_bucket *b,
		       uint64_t *pcs, size_t max);

/* Go's estimate of what a sample of count blocks of asked bytes asked for
 * each (on average), size bytes held in all, stands for at rate:
 * 1/(1-exp(-asked/rate)) each, the inverse of a block's chance of being
 * sampled (asked 0: size/count); unchanged when rate <= 1. */
void heap_scale(int64_t rate, double asked, uint64_t count, uint64_t size,
		int64_t *count_out, int64_t *size_out);

#endif
