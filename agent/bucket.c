/* bucket.c: the published buckets and their index. */
#define _GNU_SOURCE
#include "bucket.h"

static uint64_t hash_stack(const struct walk *w, uint32_t kind, uint64_t size)
{
	uint64_t h = (0xcbf29ce484222325ULL ^ kind) + w->stamp * 0x9E3779B97F4A7C15ULL;
	h = (h ^ size) * 0x100000001b3ULL;
	for (uint32_t i = 0; i < w->n; i++) {
		h ^= w->pcs[i];
		h *= 0x100000001b3ULL;
		h ^= h >> 29;
	}
	return h;
}

static bool same_stack(const struct pprof_agent_bucket *c, uint64_t h, const struct walk *w,
		       uint32_t kind, uint64_t size)
{
	return c->hash == h && c->kind == kind && c->size == size && c->depth == w->n &&
	       c->stamp == w->stamp &&
	       memcmp(c->pcs, w->pcs, w->n * sizeof *w->pcs) == 0;
}

/* The bucket of (stack, kind, size) with hash h, or -1. Without a lock: an
 * index entry is stored (release) only once its bucket is whole, and
 * buckets never change or go. */
static int64_t bucket_find(const struct walk *w, uint32_t kind, uint64_t size, uint64_t h)
{
	const struct pprof_agent_bucket *b = A.buckets;
	for (uint32_t i = (uint32_t)h & (INDEX_CAP - 1);; i = (i + 1) & (INDEX_CAP - 1)) {
		uint32_t at = __atomic_load_n(&A.index[i], __ATOMIC_ACQUIRE);
		if (!at)
			return -1;
		if (same_stack(&b[at - 1], h, w, kind, size))
			return at - 1;
	}
}

int64_t bucket_for(const struct walk *w, uint32_t kind, uint64_t size)
{
	uint64_t h = hash_stack(w, kind, size);
	int64_t found = bucket_find(w, kind, size, h);
	if (found >= 0)
		return found;
	pthread_mutex_lock(&A.lock);
	found = bucket_find(w, kind, size, h); /* another thread may have made it */
	uint64_t n = pprof_agent.nbuckets;
	if (found < 0 && n < MAX_BUCKETS) {
		struct pprof_agent_bucket *c = &A.buckets[n];
		c->hash = h;
		c->kind = kind;
		c->size = size;
		c->depth = w->n;
		c->stamp = w->stamp;
		memcpy(c->pcs, w->pcs, w->n * sizeof *w->pcs);
		/* the bucket is whole before a reader, or a lookup, can see it */
		__atomic_store_n(&pprof_agent.nbuckets, n + 1, __ATOMIC_RELEASE);
		for (uint32_t i = (uint32_t)h & (INDEX_CAP - 1);; i = (i + 1) & (INDEX_CAP - 1))
			if (!A.index[i]) {
				__atomic_store_n(&A.index[i], (uint32_t)n + 1, __ATOMIC_RELEASE);
				break;
			}
		found = (int64_t)n;
	}
	pthread_mutex_unlock(&A.lock);
	return found;
}
