/* shard.h: the sampled blocks that live, sharded by address, and free's
 * filter over them: a shard's lock, its live table, its counters. */
#ifndef SHARD_H
#define SHARD_H

#include "agent.h"

/* The filter slot of a 256-byte region: by address, not by hash, so that
 * frees near each other test neighbouring bits (the filter is as
 * cache-friendly as the heap itself). At the default rate about one region
 * in 2,000 holds a sampled block, so false hits are rare. */
static inline uint32_t shard_region_slot(uintptr_t region)
{
	return (uint32_t)region & ((1u << FILTER_BITS) - 1);
}

static inline uint32_t shard_filter_slot(uintptr_t p)
{
	return shard_region_slot(p >> REGION_SHIFT);
}

/* Whether a sampled block may live in p's region: free's one test. */
static inline bool shard_filter_hit(uintptr_t p)
{
	uint32_t slot = shard_filter_slot(p);
	return (__atomic_load_n(&Z.bits[slot / 64], __ATOMIC_RELAXED) >> (slot % 64)) & 1;
}

static inline uint32_t shard_of(uintptr_t p)
{
	return shard_filter_slot(p) >> SHARD_SHIFT;
}

/* A shard's lock: shard.c says why it is not a pthread mutex. */
HIDDEN void shard_lock(int *l);

static inline void shard_unlock(int *l)
{
	__atomic_store_n(l, 0, __ATOMIC_RELEASE);
}

/* Shard i's counters, mapped at first use (the most a target touches is
 * the shards its arenas fall in); NULL when mmap fails. */
HIDDEN struct pprof_agent_counts *shard_counts(uint32_t i);

/* Records a sampled block of asked bytes, holding size, in its shard;
 * with the shard's lock held. */
HIDDEN void shard_track(struct shard *s, uint32_t shard, uintptr_t p, size_t asked,
			size_t size, uint32_t bucket);

/* Forgets p if it is a sampled block, counting its free; returns its live
 * entry (ptr 0: it was not one), for realloc to put back if it fails. A
 * filter hit may be another block of the same region: then p is not
 * found. */
HIDDEN struct live shard_untrack(uintptr_t p);

/* Puts back the sampled block shard_untrack forgot, its free uncounted: a
 * realloc of it failed, and it lives on. Rare: with ENOMEM only. */
HIDDEN __attribute__((noinline)) void shard_untrack_undo(struct live had);

/* Not while this thread samples: it holds a shard lock then, and what it
 * frees meanwhile (libunwind's own blocks, if it had any) was allocated
 * while it sampled too, so never sampled itself. */
static inline struct live shard_maybe_untrack(void *p)
{
	if (UNLIKELY(shard_filter_hit((uintptr_t)p)) &&
	    __atomic_load_n(&A.tables, __ATOMIC_ACQUIRE) && !T.busy)
		return shard_untrack((uintptr_t)p);
	return (struct live){ 0 };
}

/* Frees of bootstrap blocks take free's slow path, which ignores them:
 * marked before the first of them exists, for good. */
HIDDEN void shard_mark_boot(void);

#endif
