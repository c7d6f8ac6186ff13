/* agent.h: the state of libpprof-agent.so that its modules share, and its
 * start: the real functions found, the bootstrap area, the constructor, the
 * fork handlers.
 *
 * The library behind /heap, /allocs and the creating stacks of
 * /threadcreate. Loaded with LD_PRELOAD (or into a running process by
 * pprof-fcgi, attach.h), it wraps the allocator and pthread_create (alloc,
 * threads), samples allocations as Go's runtime does (the distance to the
 * next sample drawn from an exponential distribution of mean PPROF_MEMRATE
 * bytes), and publishes what it saw in its own memory (pprof-agent.h,
 * tables) for pprof-fcgi to read from outside. It never aborts and never
 * allocates through the functions it wraps: a failure turns sampling off
 * and the target runs on.
 *
 * Cost model: an unsampled malloc is the real malloc, tail-called, after one
 * subtraction on a thread-local counter; an unsampled free is the real
 * free, tail-called, after one bit test in a dense bitmap that says "no
 * sampled block can live in this 256-byte region" (1 bit per region, so a
 * cache line covers 128 KiB of heap and stays in L1 where the heap is
 * busy). Only sampled events take a lock, and not a shared one: sampled
 * blocks are sharded by address (4 MiB granules, so the arena of one
 * thread falls in shards of its own: shard.h), each shard with its lock,
 * live table and counters, so a sample is counted, and later forgotten, on
 * cache lines its own core holds. Stacks are looked up without a lock
 * (bucket.h).
 *
 * The modules share one instance of the state below (A, Z and T), because
 * a preload library is one per process by nature. Every declaration here
 * is hidden, so that the hot paths read it PC-relative, as they read a
 * static, and nothing of it joins the exported symbols. */
#ifndef AGENT_H
#define AGENT_H

#include "got.h"
#include "pprof-agent.h"

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/types.h>
#define UNW_LOCAL_ONLY
#include <libunwind.h>

#define EXPORT __attribute__((visibility("default")))
#define HIDDEN __attribute__((visibility("hidden")))
/* agent_NAME: the agent's own NAME, also where the agent was loaded late
 * and NAME binds to the allocator's for everybody, the agent included.
 * Defined where NAME is (an alias must be), declared by OWN_DECL in that
 * module's header. The attributes of the C library's declaration are
 * copied, or GCC warns that the alias has less restrictive ones; clang
 * has no copy attribute, nor that warning. */
#ifdef __clang__
#define OWN_ATTRS(name) alias(#name), visibility("hidden")
#else
#define OWN_ATTRS(name) copy(name), alias(#name), visibility("hidden")
#endif
#define OWN(name) extern __typeof__(name) agent_##name __attribute__((OWN_ATTRS(name)))
#define OWN_DECL(name) extern __typeof__(name) agent_##name HIDDEN
#define LIKELY(x) __builtin_expect(!!(x), 1)
#define UNLIKELY(x) __builtin_expect(!!(x), 0)

#define DEFAULT_RATE 524288
/* (stack, size class) pairs: a call site that allocates many sizes takes
 * one per class, as in Go; when full, a new pair's samples are counted as
 * dropped */
#define MAX_BUCKETS 65536
#define INDEX_CAP (MAX_BUCKETS * 2)
#define REGION_SHIFT 8  /* 256-byte regions in the free filter */
#define FILTER_BITS 20  /* regions tracked before aliasing: 256 MiB of heap */
/* a shard is a run of filter slots, so that a slot's count is always
 * guarded by the same lock: 2^14 regions, a 4 MiB granule of heap */
#define SHARD_SHIFT (FILTER_BITS - 6)
#define NSHARDS PPROF_AGENT_SHARDS
#define LIVE_MIN_BITS 9 /* a shard's first live table: 512 slots, 8 KiB */
#define LIVE_BUDGET ((size_t)64 << 20) /* bytes of live tables, all shards */
#define MAX_THREADS 32768
#define BOOT_SIZE (64 * 1024)
#define MAX_EXITING 64
#define MAX_UNLOADS 256 /* unloaded libraries recorded; more are counted lost */
#define MAX_MODULES 4096 /* loaded objects compared around a dlclose */

struct real_fns {
	void *(*malloc)(size_t); /* the two every call reads, first */
	void (*free)(void *);
	void *(*calloc)(size_t, size_t);
	void *(*realloc)(void *, size_t);
	void *(*reallocarray)(void *, size_t, size_t);
	int (*posix_memalign)(void **, size_t, size_t);
	void *(*aligned_alloc)(size_t, size_t);
	void *(*memalign)(size_t, size_t);
	void *(*valloc)(size_t);
	void *(*pvalloc)(size_t);
	size_t (*malloc_usable_size)(void *);
	int (*dlclose)(void *);
	int (*pthread_create)(pthread_t *, const pthread_attr_t *, void *(*)(void *), void *);
};

/* libunwind, loaded by the constructor with RTLD_LOCAL and called through
 * these (stack_load). Linked as usual, it would join the target's global
 * scope, and its _Unwind_* functions (it has the whole C++ exception ABI)
 * would take over from libgcc_s for libraries the target loads later:
 * pthread_exit then skipped the destructors of their C++ frames. */
struct unwinder {
	int ok; /* the functions are set (release; read with acquire) */
	/* pprof_agent.unloads, kept here too: a walk reads this line anyway,
	 * and not the header's (one cache miss less a sample) */
	uint64_t unloads;
	int (*backtrace)(void **, int);
	int (*getcontext)(unw_context_t *);
	int (*init_local)(unw_cursor_t *, unw_context_t *);
	int (*step)(unw_cursor_t *);
	int (*get_reg)(unw_cursor_t *, unw_regnum_t, unw_word_t *);
};

struct live {
	uintptr_t ptr;  /* 0: empty (no tombstones: see shard.c's forget) */
	uint64_t meta;  /* size << BUCKET_BITS | bucket */
};
#define BUCKET_BITS 24
#define MAX_SIZE ((UINT64_C(1) << (64 - BUCKET_BITS)) - 1) /* recorded sizes saturate */
_Static_assert(MAX_BUCKETS <= (1u << BUCKET_BITS), "bucket numbers fit in a live entry");
_Static_assert((1u << FILTER_BITS) >> SHARD_SHIFT == NSHARDS, "shards cover the filter");
_Static_assert(SHARD_SHIFT >= 6, "a word of filter bits lies in one shard");

/* One shard of the sampled blocks: a line of its own, written only by the
 * threads whose blocks fall in it. */
struct shard {
	_Alignas(64) int lock;  /* see shard_lock */
	uint32_t bits, used;
	struct live *live;      /* 1 << bits slots, or NULL before the first */
	struct pprof_agent_counts *counts; /* as published, NULL until mapped */
};

struct dl_lists; /* unload.h */

/* All of the agent's state. What every malloc and free reads comes first
 * and is written only at start: what a sample reads shares the first line
 * with the real malloc, which every malloc keeps in cache, and the header
 * the reader sees is not read on the way. The locks and what they guard
 * sit on other cache lines, so taking one on one core does not slow the
 * others down. */
struct agent {
	uint8_t ready;          /* real functions resolved */
	uint8_t resolving;      /* dlsym in progress: serve from boot */
	uint8_t tables;         /* the tables below exist: sampling can run */
	uint8_t walk_slow;      /* a forked child that may hold libunwind's
				 * pool lock for good: see agent.c's before_fork */
	uint8_t late;           /* loaded into the running process: routes
				 * through GOT entries (got.c), once attached */
	int64_t rate;           /* pprof_agent.rate while sampling, else 0 */
	uint32_t *index;        /* bucket hash -> bucket + 1; read without a lock */
	struct pprof_agent_bucket *buckets; /* as published */
	uintptr_t self_lo, self_hi; /* the agent's own text, left out of stacks */
	struct real_fns real;
	struct unwinder unw;
	struct pprof_agent_unload *unloads; /* as published */

	/* rare events: start, new stacks, thread records */
	_Alignas(64) pthread_mutex_t lock;
	uint64_t thread_seq;
	size_t boot_used;
	size_t live_bytes;      /* of LIVE_BUDGET, all shards; atomic */
	/* threads that walked stacks and are exiting: see before_fork */
	pid_t exiting[MAX_EXITING];
	uint8_t exits_lost;     /* one could not be noted: every child is unsafe */
	uint8_t fork_unsafe;    /* before_fork's finding, for after_fork_child */
	/* dlclose's two lists of loaded objects, mapped once (a mapping for
	 * each call cost ~8 us of page faults), and whether a dlclose uses
	 * them; NULL if that mapping failed */
	int dl_busy;
	struct dl_lists *dl_lists;
	int attached;           /* late: 1 routed, -1 refused, 2 attaching */
	struct got got;         /* late: the slots' functions and the agent's */

	struct shard shards[NSHARDS];
};

_Static_assert(offsetof(struct agent, real.free) + sizeof(void *) <= 64,
	       "what a sample reads shares one line with the real malloc and free");

/* The agent's large zero-initialised state, apart from A so that it stays
 * in .bss: no file space, no memory until a page is touched. */
struct zeroed {
	/* free's filter over live sampled blocks: bit r is set while
	 * counts[r] > 0, and for the bootstrap area for good. Static, so
	 * free tests it without loading a pointer first. */
	_Alignas(64) uint64_t bits[(1u << FILTER_BITS) / 64];
	uint8_t counts[1u << FILTER_BITS]; /* sampled blocks per slot; with the lock */
	/* allocations made while dlsym resolves the real functions */
	_Alignas(64) unsigned char boot[BOOT_SIZE];
};

struct tls {
	int64_t left;           /* bytes until the next sample */
	uint64_t rng;
	int init, busy;
	int walked;             /* libunwind made this thread's trace cache */
	int ending;             /* thread_ends ran */
};

/* the published header, the library's one exported object (tables.c) */
extern struct pprof_agent_header pprof_agent EXPORT;
extern struct agent A HIDDEN;
extern struct zeroed Z HIDDEN;
extern __thread struct tls T __attribute__((tls_model("initial-exec"), visibility("hidden")));

/* A bootstrap block is preceded by its size (within 16 bytes, so that
 * alignment holds), for realloc and malloc_usable_size: the C library
 * knows nothing of these blocks. */
#define BOOT_HEADER 16

static inline bool agent_is_boot(const void *p)
{
	return (const unsigned char *)p >= Z.boot && (const unsigned char *)p < Z.boot + BOOT_SIZE;
}

static inline size_t agent_boot_size(const void *p)
{
	size_t n;
	memcpy(&n, (const unsigned char *)p - sizeof n, sizeof n);
	return n;
}

/* A block of the bootstrap area, served before dlsym returns (nothing else
 * can allocate then); NULL when it is full. */
HIDDEN void *agent_boot_alloc(size_t n, size_t align);

/* agent_init's work, with the lock: agent_init checks first. */
HIDDEN void agent_resolve(void);

/* Finds the real functions (dlsym(RTLD_NEXT)) and makes the tables, once;
 * returns at once while that runs (A.resolving: dlsym may allocate, and
 * its calls are served from the bootstrap area). */
static inline void agent_init(void)
{
	if (__atomic_load_n(&A.ready, __ATOMIC_ACQUIRE) ||
	    __atomic_load_n(&A.resolving, __ATOMIC_ACQUIRE))
		return;
	agent_resolve();
}

/* Turns sampling off for good, why in the header for the reader. */
HIDDEN void agent_fail(const char *why);

/* Registers the fork handlers that keep the child's tables whole. */
HIDDEN void agent_atfork(void);

HIDDEN uint64_t agent_now_ns(void);

/* A pointer's hash, to bits bits: live tables, the thread table. */
static inline uint32_t agent_ptr_hash(uintptr_t p, uint32_t bits)
{
	return (uint32_t)(((p >> 4) * 0x9E3779B97F4A7C15ULL) >> (64 - bits));
}

#endif
