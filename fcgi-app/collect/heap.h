/* heap: the preload agent's tables (agent/pprof-agent.h), read from the
 * target's memory without stopping it, and the /heap and /allocs profiles
 * built from them, scaled as Go scales its sampled heap profiles. */
#ifndef PF_HEAP_H
#define PF_HEAP_H

#include "pprof-agent.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct buf;
struct ctx;
struct profile;
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
 * read). heap_name_unloaded names them from the library's file, or as
 * HEAP_UNLOADED_NAME. */
#define HEAP_UNLOADED_BIT (1ULL << 63)
#define HEAP_UNLOADED_SHIFT 40
#define HEAP_UNLOADED_NAME "[unloaded library]"

/* Reads the agent's tables of pid; s->present false (and 0 returned) when
 * the target runs without the agent. */
int heap_read(struct ctx *ctx, pid_t pid, struct heap_snapshot *s, struct err *e);
void heap_snapshot_release(struct heap_snapshot *s);

/* The pthread_create call stack of thread tid into pcs (as the unwinder
 * stores them: each return address minus one), its depth, or 0 when the
 * agent did not see the thread start. */
size_t heap_thread_stack(const struct heap_snapshot *s, pid_t tid, uint64_t *pcs, size_t max);

/* Bucket i's stack into pcs, each return address minus one, frames of
 * libraries unloaded since at addresses of their own (HEAP_UNLOADED_BIT);
 * its depth. */
size_t heap_bucket_stack(const struct heap_snapshot *s, uint64_t i, uint64_t *pcs, size_t max);

/* Names the frames of p in libraries unloaded since their stack was
 * taken (from s, the later snapshot when there are two) before p is
 * symbolized: from each library's file (in pid's root; 0: pprof-fcgi's)
 * if it is still the one that was loaded (its build-id says), else
 * HEAP_UNLOADED_NAME; a comment for each library says which, "...
 * unloaded since SINCE ...". Returns how many locations were in unloaded
 * libraries. */
size_t heap_name_unloaded(struct ctx *ctx, pid_t pid, const struct heap_snapshot *s,
			  struct profile *p, const char *since);

/* Go's estimate of what a sample of count blocks of asked bytes asked for
 * each (on average), size bytes held in all, stands for at rate:
 * 1/(1-exp(-asked/rate)) each, the inverse of a block's chance of being
 * sampled (asked 0: size/count); unchanged when rate <= 1. */
void heap_scale(int64_t rate, double asked, uint64_t count, uint64_t size,
		int64_t *count_out, int64_t *size_out);

enum heap_kind { HEAP_HEAP, HEAP_ALLOCS };

/* The body of /heap or /allocs: debug 0 gzipped pprof (alloc_objects,
 * alloc_space, inuse_objects, inuse_space; the default inuse_space for
 * heap, alloc_space for allocs), debug >= 1 Go's legacy text with a native
 * statistics block; seconds > 0 the pprof delta of a window. Without the
 * agent: an empty profile whose comment says how to load it. Sets *text
 * when the body is text. */
int heap_profile(struct ctx *ctx, pid_t pid, enum heap_kind kind, int debug, long seconds,
		 struct buf *out, int *text, struct err *e);

#endif
