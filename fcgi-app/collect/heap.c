#include "collect/heap.h"

#include "base/err.h"
#include "collect/proc.h"

#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>


/* A reader never trusts sizes it read from the target beyond these. */
#define MAX_BUCKETS_READ (1u << 20)
#define MAX_THREADS_READ (1u << 20)
#define MAX_UNLOADS_READ (1u << 16)

/* The counters of the buckets read, summed over the agent's shards (each
 * shard's array is read once; those never used are not mapped). */
static int read_counts(pid_t pid, struct heap_snapshot *s, struct err *e)
{
	uint64_t n = s->h.nbuckets;
	s->counts = calloc(n, sizeof *s->counts);
	struct pprof_agent_counts *shard = calloc(n, sizeof *shard);
	if (!s->counts || !shard) {
		free(shard);
		return err_set(e, ERR_INTERNAL, "out of memory for %" PRIu64 " buckets' counters", n);
	}
	int rc = 0;
	for (uint32_t i = 0; i < s->h.shards && rc == 0; i++) {
		if (!s->h.counts[i])
			continue;
		rc = proc_read_mem(pid, s->h.counts[i], shard, n * sizeof *shard, e);
		for (uint64_t b = 0; rc == 0 && b < n; b++) {
			s->counts[b].alloc_objects += shard[b].alloc_objects;
			s->counts[b].alloc_bytes += shard[b].alloc_bytes;
			s->counts[b].free_objects += shard[b].free_objects;
			s->counts[b].free_bytes += shard[b].free_bytes;
			s->counts[b].alloc_asked += shard[b].alloc_asked;
		}
	}
	free(shard);
	return rc < 0 ? -1 : 0;
}

int heap_read(pid_t pid, uint64_t addr, struct heap_snapshot *s, struct err *e)
{
	memset(s, 0, sizeof *s);
	if (!addr)
		return 0;
	struct pprof_agent_header *h = &s->h;
	if (proc_read_mem(pid, addr, h, sizeof *h, e) < 0)
		return -1;
	if (h->magic != PPROF_AGENT_MAGIC || h->version != PPROF_AGENT_VERSION ||
	    h->bucket_size != sizeof(struct pprof_agent_bucket) ||
	    h->thread_size != sizeof(struct pprof_agent_thread) ||
	    h->counts_size != sizeof(struct pprof_agent_counts))
		return err_set(e, ERR_INTERNAL,
			       "the target's libpprof-agent (version %u) does not match this "
			       "pprof-fcgi (version %d): install both from one build",
			       h->magic == PPROF_AGENT_MAGIC ? h->version : 0, PPROF_AGENT_VERSION);
	h->message[sizeof h->message - 1] = '\0';
	s->present = true;
	if (h->nbuckets > h->max_buckets || h->nbuckets > MAX_BUCKETS_READ ||
	    h->max_threads > MAX_THREADS_READ || h->shards > PPROF_AGENT_SHARDS)
		return err_set(e, ERR_INTERNAL, "the agent's header in pid %d is corrupt "
			       "(%" PRIu64 " buckets of %" PRIu64 ")", (int)pid, h->nbuckets,
			       h->max_buckets);
	if (h->nbuckets) {
		s->buckets = calloc(h->nbuckets, sizeof *s->buckets);
		if (!s->buckets)
			return err_set(e, ERR_INTERNAL, "out of memory for %" PRIu64 " buckets",
				       h->nbuckets);
		if (proc_read_mem(pid, h->buckets, s->buckets, h->nbuckets * sizeof *s->buckets, e) < 0)
			return -1;
		if (read_counts(pid, s, e) < 0)
			return -1;
	}
	s->nunloads = h->unloads < h->max_unloads ? h->unloads : h->max_unloads;
	if (s->nunloads > MAX_UNLOADS_READ)
		s->nunloads = MAX_UNLOADS_READ;
	if (s->nunloads && h->unload_table) {
		s->unloads = calloc(s->nunloads, sizeof *s->unloads);
		if (!s->unloads)
			return err_set(e, ERR_INTERNAL, "out of memory for the agent's unload table");
		if (proc_read_mem(pid, h->unload_table, s->unloads,
				  s->nunloads * sizeof *s->unloads, e) < 0)
			return -1;
	} else {
		s->nunloads = 0;
	}
	if (h->max_threads && h->threads) {
		s->threads = calloc(h->max_threads, sizeof *s->threads);
		if (!s->threads)
			return err_set(e, ERR_INTERNAL, "out of memory for the agent's thread table");
		if (proc_read_mem(pid, h->threads, s->threads, h->max_threads * sizeof *s->threads, e) < 0)
			return -1;
	}
	return 0;
}

void heap_snapshot_release(struct heap_snapshot *s)
{
	free(s->buckets);
	free(s->counts);
	free(s->threads);
	free(s->unloads);
	memset(s, 0, sizeof *s);
}

/* The library return address pc of a stack stamped stamp was in, if it
 * has been unloaded since (an unload numbered above stamp: the first such
 * one holding pc was that library's); -1 when none was. */
static int64_t unloaded_since(const struct heap_snapshot *s, uint64_t stamp, uint64_t pc)
{
	for (uint64_t k = stamp; k < s->nunloads; k++)
		if (pc >= s->unloads[k].lo && pc < s->unloads[k].hi)
			return (int64_t)k;
	return -1;
}

uint64_t heap_unloaded_base(uint64_t k)
{
	return HEAP_UNLOADED_BIT | k << HEAP_UNLOADED_SHIFT;
}

size_t heap_bucket_pcs(const struct heap_snapshot *s, const struct pprof_agent_bucket *b,
		       uint64_t *pcs, size_t max)
{
	size_t n = 0;
	for (uint32_t i = 0; i < b->depth && i < PPROF_AGENT_DEPTH && n < max; i++) {
		if (!b->pcs[i])
			continue;
		int64_t k = unloaded_since(s, b->stamp, b->pcs[i]);
		if (k < 0) {
			pcs[n++] = b->pcs[i] - 1;
			continue;
		}
		/* within [base, base + the library's size), as name_library
		 * looks for them (a pc at its very start too: read from the
		 * target, it may be anything in range) */
		uint64_t off = b->pcs[i] - s->unloads[k].lo;
		off = off ? off - 1 : 0;
		pcs[n++] = heap_unloaded_base((uint64_t)k) + (off < HEAP_UNLOADED_ROOM ? off : HEAP_UNLOADED_ROOM - 1);
	}
	return n;
}

size_t heap_bucket_stack(const struct heap_snapshot *s, uint64_t i, uint64_t *pcs, size_t max)
{
	return i < s->h.nbuckets ? heap_bucket_pcs(s, &s->buckets[i], pcs, max) : 0;
}

size_t heap_thread_stack(const struct heap_snapshot *s, pid_t tid, uint64_t *pcs, size_t max)
{
	if (!s->present || !s->threads)
		return 0;
	const struct pprof_agent_thread *best = NULL;
	for (uint64_t i = 0; i < s->h.max_threads; i++) {
		const struct pprof_agent_thread *t = &s->threads[i];
		if (t->tid == tid && t->bucket < s->h.nbuckets && (!best || t->seq > best->seq))
			best = t;
	}
	if (!best || s->buckets[best->bucket].kind != PPROF_AGENT_THREAD)
		return 0;
	return heap_bucket_pcs(s, &s->buckets[best->bucket], pcs, max);
}

void heap_scale(int64_t rate, double asked, uint64_t count, uint64_t size,
		int64_t *count_out, int64_t *size_out)
{
	if (count == 0 || size == 0) {
		*count_out = 0;
		*size_out = 0;
		return;
	}
	if (rate <= 1) {
		*count_out = (int64_t)count;
		*size_out = (int64_t)size;
		return;
	}
	/* the size asked for set the chance of a sample; what the allocator
	 * handed out (size) may be more */
	if (asked <= 0)
		asked = (double)size / (double)count;
	double scale = 1 / (1 - exp(-asked / (double)rate));
	*count_out = (int64_t)((double)count * scale);
	*size_out = (int64_t)((double)size * scale);
}
