#include "collect/heap.h"

#include "base/buf.h"
#include "base/clock.h"
#include "ctx.h"
#include "base/err.h"
#include "encode/pprof.h"
#include "collect/proc.h"
#include "profile/profile.h"
#include "profile/symbolize.h"
#include "encode/text.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define AGENT_FILE "libpprof-agent"
#define NO_AGENT "no allocation data: the target runs without the preload agent; " \
		 "start it with LD_PRELOAD=<libdir>/libpprof-agent.so (see README, Heap profiles)"

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

int heap_read(struct ctx *ctx, pid_t pid, struct heap_snapshot *s, struct err *e)
{
	memset(s, 0, sizeof *s);
	uint64_t addr, lo, hi;
	int rc = ctx_find_object(ctx, pid, AGENT_FILE, PPROF_AGENT_SYMBOL, &addr, &lo, &hi, e);
	if (rc != 0)
		return rc < 0 ? -1 : 0;
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

/* the addresses each unloaded library gets: its first 1 TiB */
#define UNLOADED_ROOM (1ULL << HEAP_UNLOADED_SHIFT)

static uint64_t unloaded_base(uint64_t k)
{
	return HEAP_UNLOADED_BIT | k << HEAP_UNLOADED_SHIFT;
}

/* b's stack as the unwinder stores stacks: return addresses minus one
 * (see heap.h for those in unloaded libraries, placed by s's unloads: b
 * may come from an earlier snapshot of the same target). */
static size_t bucket_pcs(const struct heap_snapshot *s, const struct pprof_agent_bucket *b,
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
		pcs[n++] = unloaded_base((uint64_t)k) + (off < UNLOADED_ROOM ? off : UNLOADED_ROOM - 1);
	}
	return n;
}

size_t heap_bucket_stack(const struct heap_snapshot *s, uint64_t i, uint64_t *pcs, size_t max)
{
	return i < s->h.nbuckets ? bucket_pcs(s, &s->buckets[i], pcs, max) : 0;
}

/* Names p's frames in unloaded library k (see heap_name_unloaded). */
static void name_library(struct ctx *ctx, pid_t pid, const struct heap_snapshot *s,
			 struct profile *p, uint64_t k, const char *since)
{
	const struct pprof_agent_unload *u = &s->unloads[k];
	char file[PPROF_AGENT_FILE];
	memcpy(file, u->file, sizeof file);
	file[sizeof file - 1] = '\0'; /* read from the target: trust no terminator */
	uint64_t size = u->hi > u->lo ? u->hi - u->lo : 0;
	struct symbolize_module m = {
		.start = unloaded_base(k),
		.limit = unloaded_base(k) + (size < UNLOADED_ROOM ? size : UNLOADED_ROOM),
		.lo = u->lo, .bias = u->bias, .offset = u->offset, .file = file, .pid = pid,
		.build_id = u->build_id,
		.build_id_size = u->build_id_size < sizeof u->build_id ? u->build_id_size
								       : sizeof u->build_id,
	};
	struct err e = { 0 };
	int named = ctx_symbolize_unloaded(ctx, p, &m, &e);
	size_t left = 0;
	for (size_t i = 0; i < p->nlocations; i++) {
		struct profile_location *l = &p->locations[i];
		if (l->address < m.start || l->address >= m.limit || l->nlines)
			continue;
		profile_location_add_line(l, HEAP_UNLOADED_NAME, HEAP_UNLOADED_NAME, NULL, 0);
		left++;
	}
	const char *what = file[0] ? file : "a library";
	if (named < 0)
		profile_add_comment(p, "frames in %s, unloaded since %s, are shown as "
				    HEAP_UNLOADED_NAME ": %s", what, since, e.msg);
	else if (left)
		profile_add_comment(p, "frames in %s, unloaded since %s, are named from the file "
				    "with its build-id; %zu it has no symbols for are shown as "
				    HEAP_UNLOADED_NAME, what, since, left);
	else
		profile_add_comment(p, "frames in %s, unloaded since %s, are named from the file "
				    "with its build-id", what, since);
}

size_t heap_name_unloaded(struct ctx *ctx, pid_t pid, const struct heap_snapshot *s,
			  struct profile *p, const char *since)
{
	size_t n = 0;
	for (size_t i = 0; i < p->nlocations; i++) {
		const struct profile_location *l = &p->locations[i];
		if (!(l->address & HEAP_UNLOADED_BIT))
			continue;
		n++;
		uint64_t k = (l->address & ~HEAP_UNLOADED_BIT) >> HEAP_UNLOADED_SHIFT;
		/* the first of its library's frames: all of them are named now */
		if (!l->nlines && !l->mapping && k < s->nunloads)
			name_library(ctx, pid, s, p, k, since);
	}
	return n;
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
	return bucket_pcs(s, &s->buckets[best->bucket], pcs, max);
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

/* The four values of bucket i: alloc_objects, alloc_space, inuse_objects,
 * inuse_space; scaled, or as sampled (Go's debug=1 text prints those). */
static void bucket_values(const struct heap_snapshot *s, uint64_t i, bool scaled, int64_t *v)
{
	const struct pprof_agent_counts *b = &s->counts[i];
	uint64_t ao = b->alloc_objects, ab = b->alloc_bytes;
	/* counters are read one by one while the target runs: never less
	 * freed than allocated in what we show */
	uint64_t fo = b->free_objects < ao ? b->free_objects : ao;
	uint64_t fb = b->free_bytes < ab ? b->free_bytes : ab;
	if (!scaled) {
		v[0] = (int64_t)ao;
		v[1] = (int64_t)ab;
		v[2] = (int64_t)(ao - fo);
		v[3] = (int64_t)(ab - fb);
		return;
	}
	/* the average size asked for: the chance of a sample of the class */
	double asked = ao ? (double)b->alloc_asked / (double)ao : 0;
	heap_scale(s->h.rate, asked, ao, ab, &v[0], &v[1]);
	heap_scale(s->h.rate, asked, ao - fo, ab - fb, &v[2], &v[3]);
}

/* Adds s's samples; frames are placed by the unloads names knows of (the
 * later snapshot of a delta, so that a stack is the same in both). */
static void add_snapshot(struct profile *p, const struct heap_snapshot *s,
			 const struct heap_snapshot *names, int sign, bool scaled)
{
	for (uint64_t i = 0; i < s->h.nbuckets; i++) {
		const struct pprof_agent_bucket *b = &s->buckets[i];
		if (b->kind != PPROF_AGENT_ALLOC)
			continue;
		int64_t v[PROFILE_MAX_VALUES];
		bucket_values(s, i, scaled, v);
		for (int k = 0; k < 4; k++)
			v[k] *= sign;
		uint64_t pcs[PPROF_AGENT_DEPTH];
		size_t n = bucket_pcs(names, b, pcs, PPROF_AGENT_DEPTH);
		/* one sample per (stack, size) bucket, as Go's: labelled with
		 * the size asked for, which is the same in both snapshots of a
		 * delta (the bytes held per block need not be) */
		profile_add_sized_sample(p, pcs, n, v, (int64_t)b->size);
	}
}

static void describe_agent(struct profile *p, const struct heap_snapshot *s)
{
	if (s->h.state == PPROF_AGENT_OFF)
		profile_add_comment(p, "allocation sampling is off in the target (PPROF_MEMRATE=0)");
	else if (s->h.state == PPROF_AGENT_FAILED)
		profile_add_comment(p, "the agent stopped sampling: %s", s->h.message);
	if (s->h.dropped)
		profile_add_comment(p, "%" PRIu64 " samples lost (a table of the agent was full, or "
				    "they came before it could walk stacks): the profile undercounts",
				    s->h.dropped);
	if (s->h.unloads_lost)
		profile_add_comment(p, "%" PRIu64 " library unloads not recorded (more than %" PRIu64
				    "): frames in libraries loaded since at the same addresses may be "
				    "named after them", s->h.unloads_lost, s->h.max_unloads);
}

/* "Key: value kB" lines of /proc/PID/status as bytes. */
/* Go ends its text with runtime.MemStats; a native process has no such
 * thing, so the agent's own figures and the kernel's take its place. */
static void native_stats(struct buf *out, pid_t pid, const struct heap_snapshot *s)
{
	int64_t alloc_o = 0, alloc_b = 0, inuse_o = 0, inuse_b = 0;
	uint64_t sampled = 0, live = 0;
	for (uint64_t i = 0; i < s->h.nbuckets; i++) {
		if (s->buckets[i].kind != PPROF_AGENT_ALLOC)
			continue;
		const struct pprof_agent_counts *c = &s->counts[i];
		sampled += c->alloc_objects;
		/* one update apart at most (pprof-agent.h): never below 0 */
		if (c->alloc_objects > c->free_objects)
			live += c->alloc_objects - c->free_objects;
		int64_t v[PROFILE_MAX_VALUES];
		bucket_values(s, i, true, v);
		alloc_o += v[0];
		alloc_b += v[1];
		inuse_o += v[2];
		inuse_b += v[3];
	}
	buf_puts(out, "\n# native process (libpprof-agent; estimates are scaled samples)\n");
	buf_printf(out, "# Alloc = %" PRId64 "\n", inuse_b);
	buf_printf(out, "# TotalAlloc = %" PRId64 "\n", alloc_b);
	buf_printf(out, "# Mallocs = %" PRId64 "\n", alloc_o);
	buf_printf(out, "# Frees = %" PRId64 "\n", alloc_o - inuse_o);
	buf_printf(out, "# HeapObjects = %" PRId64 "\n", inuse_o);
	struct proc_info pi;
	struct err ignored = { 0 };
	if (proc_info(pid, &pi, &ignored) == 0) {
		/* the kernel's view of the whole process, in bytes as Go's */
		buf_printf(out, "# RSS = %lld\n", pi.rss_kb * 1024LL);
		buf_printf(out, "# MaxRSS = %lld\n", pi.hwm_kb * 1024LL);
		buf_printf(out, "# Data = %lld\n", pi.data_kb * 1024LL);
		buf_printf(out, "# Sys = %lld\n", pi.vm_kb * 1024LL);
		buf_printf(out, "# Threads = %ld\n", pi.threads);
	}
	buf_printf(out, "# MemProfileRate = %" PRId64 "\n", s->h.rate);
	buf_printf(out, "# SampledAllocations = %" PRIu64 "\n", sampled);
	buf_printf(out, "# SampledLiveBlocks = %" PRIu64 " / %" PRIu64 "\n", live, s->h.max_live);
	buf_printf(out, "# Stacks = %" PRIu64 " / %" PRIu64 "\n", s->h.nbuckets, s->h.max_buckets);
	buf_printf(out, "# DroppedSamples = %" PRIu64 "\n", s->h.dropped);
	buf_printf(out, "# LibraryUnloads = %" PRIu64 " (%" PRIu64 " not recorded)\n", s->h.unloads,
		   s->h.unloads_lost);
	buf_printf(out, "# AgentTables = %" PRIu64 "\n", s->h.table_bytes);
}

int heap_profile(struct ctx *ctx, pid_t pid, enum heap_kind kind, int debug, long seconds,
		 struct buf *out, int *text, struct err *e)
{
	struct profile p;
	profile_init(&p);
	profile_add_type(&p, "alloc_objects", "count");
	profile_add_type(&p, "alloc_space", "bytes");
	profile_add_type(&p, "inuse_objects", "count");
	profile_add_type(&p, "inuse_space", "bytes");
	p.default_type = kind == HEAP_HEAP ? 3 : 1;
	p.period_type = (struct profile_value_type){ "space", "bytes" };
	p.time_nanos = clock_ns(CLOCK_REALTIME);
	struct heap_snapshot s0, s1 = { 0 };
	int rc = -1;
	int64_t t0 = clock_ns(CLOCK_MONOTONIC);
	if (heap_read(ctx, pid, &s0, e) < 0)
		goto out;
	p.period = s0.present ? s0.h.rate : 524288;
	*text = debug != 0 && seconds <= 0;
	if (!s0.present) {
		profile_add_comment(&p, NO_AGENT);
	} else if (seconds > 0) {
		ctx_sleep(ctx, seconds);
		if (heap_read(ctx, pid, &s1, e) < 0)
			goto out;
		if (!s1.present) {
			rc = err_set(e, ERR_TARGET, "pid %d no longer runs the agent", (int)pid);
			goto out;
		}
		add_snapshot(&p, &s0, &s1, -1, true);
		add_snapshot(&p, &s1, &s1, 1, true);
		p.drop_zero = true;
		p.duration_nanos = clock_ns(CLOCK_MONOTONIC) - t0;
		describe_agent(&p, &s1);
		heap_name_unloaded(ctx, pid, &s1, &p, "the allocation");
	} else {
		add_snapshot(&p, &s0, &s0, 1, !*text);
		describe_agent(&p, &s0);
		heap_name_unloaded(ctx, pid, &s0, &p, "the allocation");
	}
	ctx_symbolize(ctx, pid, &p);
	if (*text) {
		text_heap(out, &p, p.period);
		if (s0.present)
			native_stats(out, pid, &s0);
		else
			buf_printf(out, "\n# %s\n", NO_AGENT);
		text_memory_map(out, &p);
	} else if (pprof_encode(&p, out, e) < 0) {
		goto out;
	}
	rc = buf_check(out, e);
out:
	heap_snapshot_release(&s0);
	heap_snapshot_release(&s1);
	profile_release(&p);
	return rc;
}
