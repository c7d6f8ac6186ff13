#include "ep/ep.h"

#include "base/buf.h"
#include "base/clock.h"
#include "base/err.h"
#include "collect/heap.h"
#include "collect/proc.h"
#include "ctx.h"
#include "edge/http.h"
#include "encode/text.h"
#include "profile/profile.h"

#include <inttypes.h>
#include <stdio.h>
#include <time.h>

#define NO_AGENT "no allocation data: the target runs without the preload agent; " \
		 "start it with LD_PRELOAD=<libdir>/libpprof-agent.so, or POST MOUNT/agent to " \
		 "load it into the running process (see README, Heap profiles)"

enum heap_kind { HEAP_HEAP, HEAP_ALLOCS };

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
		size_t n = heap_bucket_pcs(names, b, pcs, PPROF_AGENT_DEPTH);
		/* one sample per (stack, size) bucket, as Go's: labelled with
		 * the size asked for, which is the same in both snapshots of a
		 * delta (the bytes held per block need not be) */
		profile_add_sized_sample(p, pcs, n, v, (int64_t)b->size);
	}
}

static void describe_agent(struct profile *p, const struct heap_snapshot *s)
{
	if (s->h.origin == PPROF_AGENT_LOADED) {
		char when[32] = "?";
		time_t t = (time_t)(s->h.since_ns / 1000000000u);
		struct tm tm;
		if (gmtime_r(&t, &tm))
			strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm);
		profile_add_comment(p, "allocations since %s only (agent loaded into the running "
				    "process)", when);
	}
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

/* The body of /heap or /allocs: debug 0 gzipped pprof (alloc_objects,
 * alloc_space, inuse_objects, inuse_space; the default inuse_space for
 * heap, alloc_space for allocs), debug >= 1 Go's legacy text with a native
 * statistics block; seconds > 0 the pprof delta of a window. Without the
 * agent: an empty profile whose comment says how to load it. Sets *text
 * when the body is text. */
struct heap_text {
	pid_t pid;
	const struct heap_snapshot *s; /* the one read */
};

/* Go's legacy heap text, the native statistics in place of MemStats. */
static void heap_text(struct buf *out, const struct profile *p, const void *arg)
{
	const struct heap_text *ht = arg;
	text_heap(out, p, p->period);
	if (ht->s->present)
		native_stats(out, ht->pid, ht->s);
	else
		buf_printf(out, "\n# %s\n", NO_AGENT);
	text_memory_map(out, p);
}

static int heap_profile(struct ctx *ctx, pid_t pid, enum heap_kind kind, int debug,
			long seconds, const struct params *pp, struct buf *out, int *text,
			struct err *e)
{
	struct profile p;
	/* the period is the agent's rate, once read */
	profile_init_heap(&p, kind == HEAP_HEAP, 0);
	p.time_nanos = clock_ns(CLOCK_REALTIME);
	struct heap_snapshot s0 = { 0 }, s1 = { 0 };
	int rc = -1;
	int64_t t0 = clock_ns(CLOCK_MONOTONIC);
	if (ep_profile_options(&p, pp, e) < 0 || ctx_heap_read(ctx, pid, &s0, e) < 0)
		goto out;
	p.period = s0.present ? s0.h.rate : 524288;
	*text = debug != 0 && seconds <= 0;
	if (!s0.present) {
		profile_add_comment(&p, NO_AGENT);
	} else if (seconds > 0) {
		ctx_sleep(ctx, seconds);
		if (ctx_heap_read(ctx, pid, &s1, e) < 0)
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
		ep_name_unloaded(ctx, pid, &s1, &p, "the allocation");
	} else {
		add_snapshot(&p, &s0, &s0, 1, !*text);
		describe_agent(&p, &s0);
		ep_name_unloaded(ctx, pid, &s0, &p, "the allocation");
	}
	struct heap_text ht = { pid, &s0 };
	struct ep_body how = { .text = *text ? heap_text : NULL, .arg = &ht };
	rc = ep_send_profile(ctx, pid, &p, &how, out, e);
out:
	heap_snapshot_release(&s0);
	heap_snapshot_release(&s1);
	profile_release(&p);
	return rc;
}

/* /heap and /allocs: the preload agent's allocation samples, read from the
 * target's memory (process_vm_readv: the ptrace permission, no stop). */
static int heap(struct ctx *ctx, const struct req *req, struct resp *resp, struct err *e,
		enum heap_kind kind, const char *name)
{
	if (proc_check_access(req->pid, e) < 0)
		return -1;
	int text = 0;
	long seconds = req->params.has_seconds ? req->params.seconds : 0;
	if (heap_profile(ctx, req->pid, kind, req->params.debug, seconds, &req->params, &resp->body,
			 &text, e) < 0)
		return -1;
	if (!text) {
		char file[32];
		snprintf(file, sizeof file, "%s%s", name, seconds ? "-delta" : "");
		resp_attachment(resp, file);
	}
	return 0;
}

int ep_heap(struct ctx *ctx, const struct req *req, struct resp *resp, struct err *e)
{
	return heap(ctx, req, resp, e, HEAP_HEAP, "heap");
}

int ep_allocs(struct ctx *ctx, const struct req *req, struct resp *resp, struct err *e)
{
	return heap(ctx, req, resp, e, HEAP_ALLOCS, "allocs");
}
