/* libpprof-agent.so: the preload library behind /heap, /allocs and the
 * creating stacks of /threadcreate.
 *
 * Loaded with LD_PRELOAD, it wraps the allocator and pthread_create, samples
 * allocations as Go's runtime does (the distance to the next sample drawn
 * from an exponential distribution of mean PPROF_MEMRATE bytes), and
 * publishes what it saw in its own memory (pprof-agent.h) for pprof-fcgi to
 * read from outside. It never aborts and never allocates through the
 * functions it wraps: a failure turns sampling off and the target runs on.
 *
 * Cost model: an unsampled malloc is the real malloc, tail-called, after one
 * subtraction on a thread-local counter; an unsampled free is the real
 * free, tail-called, after one bit test in a dense bitmap that says "no
 * sampled block can live in this 256-byte region" (1 bit per region, so a
 * cache line covers 128 KiB of heap and stays in L1 where the heap is
 * busy). Only sampled events take a lock, and not a shared one: sampled
 * blocks are sharded by address (4 MiB granules, so the arena of one
 * thread falls in shards of its own), each shard with its lock, live table
 * and counters, so a sample is counted, and later forgotten, on cache lines
 * its own core holds. Stacks are looked up without a lock. */
#define _GNU_SOURCE
#include "pprof-agent.h"
#include "got.h"

#include <dlfcn.h>
#include <errno.h>
#include <link.h>
#include <malloc.h>
#include <pthread.h>
#include <sched.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>
#define UNW_LOCAL_ONLY
#include <libunwind.h>

#define EXPORT __attribute__((visibility("default")))
#define HIDDEN __attribute__((visibility("hidden")))
/* agent_NAME: the agent's own NAME, also where the agent was loaded late
 * and NAME binds to the allocator's for everybody, the agent included */
#define OWN(name) \
	extern __typeof__(name) agent_##name \
		__attribute__((copy(name), alias(#name), visibility("hidden")))
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

/* The published header: the one object pprof-fcgi looks up by name. */
EXPORT struct pprof_agent_header pprof_agent;

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
 * these. Linked as usual, it would join the target's global scope, and its
 * _Unwind_* functions (it has the whole C++ exception ABI) would take over
 * from libgcc_s for libraries the target loads later: pthread_exit then
 * skipped the destructors of their C++ frames. */
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
	uintptr_t ptr;  /* 0: empty (no tombstones: see forget) */
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

/* The loaded objects, around a dlclose: before it (while their memory is
 * still there) with what names them once unloaded, after it their address
 * ranges only. */
struct module {
	uint64_t lo, hi, bias, offset;
	uint32_t build_id_size;
	uint8_t build_id[PPROF_AGENT_BUILD_ID];
	char file[PPROF_AGENT_FILE];
};

struct range {
	uint64_t lo, hi;
};

/* room for both lists, mapped once (see dlclose) */
struct dl_lists {
	struct module before[MAX_MODULES];
	struct range after[MAX_MODULES];
};

struct modules {
	struct module *m;        /* the list, before a dlclose; or */
	struct range *r;         /* the list, after it */
	uint32_t n;
	bool overflow, has_subs;
	unsigned long long subs; /* the C library's count of unloads */
};

/* All of the agent's state: one instance, because a preload library is
 * one per process by nature. What every malloc and free reads comes first
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
				 * pool lock for good: see before_fork */
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

static void free_early(void *p);
static bool preloaded(void);

/* adaptive: held for well under a microsecond, so spin before sleeping */
static struct agent A = {
	.rate = DEFAULT_RATE,
	.real.free = free_early,
	.lock = PTHREAD_ADAPTIVE_MUTEX_INITIALIZER_NP,
};

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
static struct zeroed Z;

struct tls {
	int64_t left;           /* bytes until the next sample */
	uint64_t rng;
	int init, busy;
	int walked;             /* libunwind made this thread's trace cache */
	int ending;             /* thread_ends ran */
};
static __thread struct tls T __attribute__((tls_model("initial-exec")));

/* ---- bootstrap: before dlsym returns, nothing else can allocate ---- */

/* A bootstrap block is preceded by its size (within 16 bytes, so that
 * alignment holds), for realloc and malloc_usable_size: the C library
 * knows nothing of these blocks. */
#define BOOT_HEADER 16

static void *boot_alloc(size_t n, size_t align)
{
	if (align < BOOT_HEADER)
		align = BOOT_HEADER;
	if (align > BOOT_SIZE || (align & (align - 1)))
		return NULL;
	/* the address aligned, not the offset: the area itself is aligned to
	 * 64 only. used <= BOOT_SIZE: no overflow below. */
	const uintptr_t base = (uintptr_t)Z.boot;
	size_t used = __atomic_load_n(&A.boot_used, __ATOMIC_RELAXED), at;
	do {
		at = ((base + used + BOOT_HEADER + align - 1) & ~(uintptr_t)(align - 1)) - base;
		if (at > BOOT_SIZE || n > BOOT_SIZE - at)
			return NULL;
	} while (!__atomic_compare_exchange_n(&A.boot_used, &used, at + n, false,
					      __ATOMIC_RELAXED, __ATOMIC_RELAXED));
	memcpy(Z.boot + at - sizeof n, &n, sizeof n);
	return Z.boot + at; /* zeroed: static storage, never reused */
}

static bool is_boot(const void *p)
{
	return (const unsigned char *)p >= Z.boot && (const unsigned char *)p < Z.boot + BOOT_SIZE;
}

static size_t boot_size(const void *p)
{
	size_t n;
	memcpy(&n, (const unsigned char *)p - sizeof n, sizeof n);
	return n;
}

static void fail(const char *why)
{
	snprintf(pprof_agent.message, sizeof pprof_agent.message, "%s", why);
	__atomic_store_n(&pprof_agent.state, PPROF_AGENT_FAILED, __ATOMIC_RELEASE);
	__atomic_store_n(&A.rate, 0, __ATOMIC_RELAXED);
}

static int find_self(struct dl_phdr_info *info, size_t size, void *data)
{
	(void)size;
	uintptr_t here = (uintptr_t)data;
	for (int i = 0; i < info->dlpi_phnum; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
		if (ph->p_type != PT_LOAD || !(ph->p_flags & PF_X))
			continue;
		uintptr_t lo = info->dlpi_addr + ph->p_vaddr, hi = lo + ph->p_memsz;
		if (here >= lo && here < hi) {
			A.self_lo = lo;
			A.self_hi = hi;
			return 1;
		}
	}
	return 0;
}

/* The filter slot of a 256-byte region: by address, not by hash, so that
 * frees near each other test neighbouring bits (the filter is as
 * cache-friendly as the heap itself). At the default rate about one region
 * in 2,000 holds a sampled block, so false hits are rare. */
static inline uint32_t region_slot(uintptr_t region)
{
	return (uint32_t)region & ((1u << FILTER_BITS) - 1);
}

static inline uint32_t filter_slot(uintptr_t p)
{
	return region_slot(p >> REGION_SHIFT);
}

static inline bool filter_hit(uintptr_t p)
{
	uint32_t slot = filter_slot(p);
	return (__atomic_load_n(&Z.bits[slot / 64], __ATOMIC_RELAXED) >> (slot % 64)) & 1;
}

/* A shard's lock. Not a pthread mutex: its unlock is a locked exchange
 * (to learn whether to wake a waiter), and the two locked instructions per
 * lock and unlock cost 1.5% of an allocation-heavy bench, on a lock that
 * is almost never contended (a shard is one thread's arena). Here the
 * unlock is a plain store and a waiter polls: briefly spinning, then
 * yielding, then sleeping, so that a holder that lost its CPU (to the
 * waiter itself, if that one runs at a real-time priority) gets it back. */
static void shard_lock(int *l)
{
	for (unsigned k = 0; __atomic_exchange_n(l, 1, __ATOMIC_ACQUIRE);) {
		while (__atomic_load_n(l, __ATOMIC_RELAXED)) {
			if (k < 100) {
#if defined(__x86_64__) || defined(__i386__)
				__builtin_ia32_pause();
#elif defined(__aarch64__)
				__asm__ __volatile__("yield");
#endif
			} else if (k < 200) {
				sched_yield();
			} else {
				/* the system call, not nanosleep(): that one is a
				 * cancellation point, and before_fork waits here
				 * holding the shards before this one */
				syscall(SYS_nanosleep, &(struct timespec){ .tv_nsec = 50000 }, NULL);
			}
			k++;
		}
	}
}

static void shard_unlock(int *l)
{
	__atomic_store_n(l, 0, __ATOMIC_RELEASE);
}

/* Sets or clears slot's filter bit, with the lock of its shard held. The
 * 64 slots of a word all fall in one shard, so that lock's holders are the
 * word's only writers: a plain store (no locked instruction), which free
 * reads whole. */
static void set_bit(uint32_t slot, bool on)
{
	uint64_t *w = &Z.bits[slot / 64], m = 1ULL << (slot % 64);
	uint64_t v = __atomic_load_n(w, __ATOMIC_RELAXED);
	__atomic_store_n(w, on ? v | m : v & ~m, __ATOMIC_RELAXED);
}

static void *map_table(size_t bytes)
{
	void *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (p == MAP_FAILED)
		return NULL;
	__atomic_fetch_add(&pprof_agent.table_bytes, bytes, __ATOMIC_RELAXED);
	return p;
}

static void unmap_table(void *p, size_t bytes)
{
	munmap(p, bytes);
	__atomic_fetch_sub(&pprof_agent.table_bytes, bytes, __ATOMIC_RELAXED);
}

static uint64_t now_realtime_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void make_tables(void)
{
	pprof_agent.magic = PPROF_AGENT_MAGIC;
	pprof_agent.version = PPROF_AGENT_VERSION;
	pprof_agent.header_size = sizeof pprof_agent;
	pprof_agent.bucket_size = sizeof(struct pprof_agent_bucket);
	pprof_agent.thread_size = sizeof(struct pprof_agent_thread);
	pprof_agent.counts_size = sizeof(struct pprof_agent_counts);
	pprof_agent.shards = NSHARDS;
	pprof_agent.pid = (int32_t)getpid();
	pprof_agent.rate = DEFAULT_RATE;
	pprof_agent.origin = PPROF_AGENT_PRELOADED;
	pprof_agent.since_ns = now_realtime_ns();
	pprof_agent.max_buckets = MAX_BUCKETS;
	pprof_agent.max_threads = MAX_THREADS;
	/* an upper bound: tables are grown at 3/4 full, and to twice their
	 * size while the old one is still mapped */
	pprof_agent.max_live = LIVE_BUDGET / sizeof(struct live) * 3 / 4;
	void *b = map_table(MAX_BUCKETS * sizeof(struct pprof_agent_bucket));
	void *t = map_table(MAX_THREADS * sizeof(struct pprof_agent_thread));
	A.index = map_table(INDEX_CAP * sizeof *A.index);
	A.unloads = map_table(MAX_UNLOADS * sizeof *A.unloads);
	/* here rather than at the first dlclose: no mapping of ours appears
	 * beside the libraries a program loads and unloads (its hole then
	 * fits the next library of the same size as well as before) */
	A.dl_lists = map_table(sizeof *A.dl_lists);
	pprof_agent.table_bytes += sizeof Z.bits + sizeof Z.counts;
	if (!b || !t || !A.index || !A.unloads) {
		fail("mmap of the agent's tables failed");
		return;
	}
	A.buckets = b;
	pprof_agent.buckets = (uintptr_t)b;
	pprof_agent.threads = (uintptr_t)t;
	pprof_agent.unload_table = (uintptr_t)A.unloads;
	pprof_agent.max_unloads = MAX_UNLOADS;
	dl_iterate_phdr(find_self, (void *)(uintptr_t)&make_tables);
	__atomic_store_n(&A.tables, 1, __ATOMIC_RELEASE);
}

/* Frees of bootstrap blocks take free's slow path, which ignores them:
 * marked before the first of them exists, for good (a saturated count is
 * never lowered, even by a tracked block whose slot aliases one of these). */
static void mark_boot(void)
{
	for (uintptr_t r = (uintptr_t)Z.boot >> REGION_SHIFT;
	     r <= ((uintptr_t)Z.boot + BOOT_SIZE - 1) >> REGION_SHIFT; r++) {
		uint32_t slot = region_slot(r);
		Z.counts[slot] = 255;
		__atomic_fetch_or(&Z.bits[slot / 64], 1ULL << (slot % 64), __ATOMIC_RELAXED);
	}
}

/* atomic: free reads A.real.free without the lock, before init too */
#define RESOLVE(name)                                                                   \
	__atomic_store_n(&A.real.name, (__typeof__(A.real.name))dlsym(RTLD_NEXT, #name), \
			 __ATOMIC_RELEASE)

static void init(void)
{
	/* dlsym may allocate: its calls land here while resolving and are
	 * served from the bootstrap area */
	if (__atomic_load_n(&A.ready, __ATOMIC_ACQUIRE) ||
	    __atomic_load_n(&A.resolving, __ATOMIC_ACQUIRE))
		return;
	pthread_mutex_lock(&A.lock);
	if (!A.ready && !A.resolving) {
		mark_boot();
		__atomic_store_n(&A.resolving, 1, __ATOMIC_RELEASE);
		RESOLVE(malloc);
		RESOLVE(calloc);
		RESOLVE(realloc);
		RESOLVE(reallocarray);
		RESOLVE(free);
		RESOLVE(posix_memalign);
		RESOLVE(aligned_alloc);
		RESOLVE(memalign);
		RESOLVE(valloc);
		RESOLVE(pvalloc);
		RESOLVE(malloc_usable_size);
		RESOLVE(dlclose);
		RESOLVE(pthread_create);
		if (!A.real.malloc || !A.real.calloc || !A.real.realloc || !A.real.free ||
		    !A.real.posix_memalign || !A.real.memalign || !A.real.pthread_create) {
			/* nothing sensible can run without them */
			static const char msg[] = "libpprof-agent: cannot find the real malloc\n";
			ssize_t w = write(2, msg, sizeof msg - 1);
			(void)w;
			abort();
		}
		make_tables();
		A.resolving = 0;
		__atomic_store_n(&A.ready, 1, __ATOMIC_RELEASE);
	}
	pthread_mutex_unlock(&A.lock);
}

/* ---- sampling ---- */

static uint64_t next_random(void)
{
	/* xorshift64*: enough for sampling distances, no locks, no syscalls */
	uint64_t x = T.rng;
	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	T.rng = x;
	return x * 0x2545F4914F6CDD1DULL;
}

/* The next sampling distance, exponential with mean rate, as Go's
 * fastexprand: sampled blocks are a Poisson process over allocated bytes. */
/* -ln(u) for u in (0, 1], without libm's log, whose code and tables are
 * cold at each sample (0.1% of a service-like bench's cycles): u = m 2^e,
 * m in [1, 2), and ln m = 2 atanh(t), t = (m - 1)/(m + 1) <= 1/3, to t^9.
 * Off by at most 1.2e-6 from log(): drawing distances needs no more. */
static double neg_log(double u)
{
	uint64_t bits;
	memcpy(&bits, &u, sizeof bits);
	int e = (int)((bits >> 52) & 0x7ff) - 1023;
	bits = (bits & 0x000fffffffffffffULL) | 0x3ff0000000000000ULL;
	double m;
	memcpy(&m, &bits, sizeof m);
	double t = (m - 1) / (m + 1), t2 = t * t;
	double ln_m = 2 * t * (1 + t2 * (1.0 / 3 + t2 * (1.0 / 5 + t2 * (1.0 / 7 + t2 / 9))));
	return -(e * 0.69314718055994530942 + ln_m);
}

static int64_t next_distance(void)
{
	int64_t rate = __atomic_load_n(&A.rate, __ATOMIC_RELAXED);
	if (rate <= 0)
		return INT64_MAX;
	if (rate == 1)
		return 0;
	double u = ((next_random() >> 11) + 1) * (1.0 / 9007199254740993.0); /* (0,1] */
	double d = neg_log(u) * (double)rate;
	if (d > 9e18)
		return INT64_MAX;
	/* rounded up: a block of n bytes is sampled when the distance is at
	 * most n, so with d rounded up (geometric, memoryless over whole
	 * bytes) its chance is 1-exp(-n/rate) exactly, as the reader's
	 * scaling assumes; rounded down it was 1-exp(-(n+1)/rate), 1.6% too
	 * many samples of 64-byte blocks at a rate of 4096 */
	int64_t whole = (int64_t)d;
	return whole + (whole < d);
}

struct walk {
	uint64_t pcs[PPROF_AGENT_DEPTH];
	uint32_t n;
	uint64_t stamp; /* see struct pprof_agent_bucket */
};

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

/* The bucket for (stack, kind, size), made if new; -1 when the table is
 * full. */
static int64_t bucket_for(const struct walk *w, uint32_t kind, uint64_t size)
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

static inline uint32_t ptr_hash(uintptr_t p, uint32_t bits)
{
	return (uint32_t)(((p >> 4) * 0x9E3779B97F4A7C15ULL) >> (64 - bits));
}

static inline uint32_t shard_of(uintptr_t p)
{
	return filter_slot(p) >> SHARD_SHIFT;
}

/* Shard i's counters, mapped at first use (the most a target touches is
 * the shards its arenas fall in); NULL when mmap fails. */
static struct pprof_agent_counts *shard_counts(uint32_t i)
{
	uint64_t *at = &pprof_agent.counts[i];
	uint64_t c = __atomic_load_n(at, __ATOMIC_ACQUIRE);
	if (c)
		return (struct pprof_agent_counts *)(uintptr_t)c;
	size_t bytes = MAX_BUCKETS * sizeof(struct pprof_agent_counts);
	void *p = map_table(bytes);
	if (!p)
		return NULL;
	if (!__atomic_compare_exchange_n(at, &c, (uint64_t)(uintptr_t)p, false, __ATOMIC_ACQ_REL,
					 __ATOMIC_ACQUIRE)) {
		unmap_table(p, bytes); /* another thread was first */
		return (struct pprof_agent_counts *)(uintptr_t)c;
	}
	return p;
}

/* Adds v to a counter that only holders of one lock write: no locked
 * instruction, but a whole store for the reader. */
static inline void add_locked(uint64_t *word, uint64_t v)
{
	__atomic_store_n(word, __atomic_load_n(word, __ATOMIC_RELAXED) + v, __ATOMIC_RELAXED);
}

static void count_drop(void)
{
	__atomic_fetch_add(&pprof_agent.dropped, 1, __ATOMIC_RELAXED);
}

static void live_put(struct live *t, uint32_t bits, struct live e)
{
	for (uint32_t i = ptr_hash(e.ptr, bits);; i = (i + 1) & ((1u << bits) - 1))
		if (t[i].ptr == 0) {
			t[i] = e;
			return;
		}
}

/* Doubles shard s's live table (or makes its first); false when the
 * budget of all shards or mmap says no. With s's lock held. */
static bool grow(struct shard *s)
{
	uint32_t bits = s->live ? s->bits + 1 : LIVE_MIN_BITS;
	size_t bytes = ((size_t)1 << bits) * sizeof(struct live);
	size_t had = __atomic_fetch_add(&A.live_bytes, bytes, __ATOMIC_RELAXED);
	struct live *t = had + bytes <= LIVE_BUDGET ? map_table(bytes) : NULL;
	if (!t) {
		__atomic_fetch_sub(&A.live_bytes, bytes, __ATOMIC_RELAXED);
		return false;
	}
	if (s->live) {
		size_t old = ((size_t)1 << s->bits) * sizeof(struct live);
		for (uint32_t i = 0; i < (1u << s->bits); i++)
			if (s->live[i].ptr)
				live_put(t, bits, s->live[i]);
		unmap_table(s->live, old);
		__atomic_fetch_sub(&A.live_bytes, old, __ATOMIC_RELAXED);
	}
	s->live = t;
	s->bits = bits;
	return true;
}

/* Puts e in shard s's live table, which has room, and in free's filter;
 * with the shard's lock held. */
static void remember(struct shard *s, struct live e)
{
	live_put(s->live, s->bits, e);
	uint32_t slot = filter_slot(e.ptr);
	if (Z.counts[slot] < 255 && Z.counts[slot]++ == 0)
		set_bit(slot, true);
	s->used++;
}

/* Records a sampled block of asked bytes, holding size, in its shard;
 * with the shard's lock held. */
static void track(struct shard *s, uint32_t shard, uintptr_t p, size_t asked, size_t size,
		  uint32_t bucket)
{
	if (!s->counts)
		s->counts = shard_counts(shard);
	struct pprof_agent_counts *c = s->counts;
	if (!c || (s->used >= (3u << s->bits) / 4 && !grow(s))) {
		count_drop();
		return;
	}
	add_locked(&c[bucket].alloc_objects, 1);
	add_locked(&c[bucket].alloc_bytes, size);
	add_locked(&c[bucket].alloc_asked, asked);
	uint64_t sz = size < MAX_SIZE ? size : MAX_SIZE;
	remember(s, (struct live){ .ptr = p, .meta = sz << BUCKET_BITS | bucket });
}

/* Empties slot i of a live table by moving later entries of its probe run
 * back (linear probing without tombstones): deleted slots never pile up,
 * so a lookup of a pointer not in the table always reaches an empty slot
 * soon, however many blocks came and went. With the shard's lock held. */
static void forget(struct shard *s, uint32_t i)
{
	const uint32_t mask = (1u << s->bits) - 1;
	for (uint32_t j = (i + 1) & mask;; j = (j + 1) & mask) {
		if (s->live[j].ptr == 0)
			break;
		/* the entry at j may fill i unless its home lies in (i, j] */
		uint32_t home = ptr_hash(s->live[j].ptr, s->bits);
		if (((j - home) & mask) < ((j - i) & mask))
			continue;
		s->live[i] = s->live[j];
		i = j;
	}
	s->live[i].ptr = 0;
}

/* Forgets p if it is a sampled block, counting its free; returns its live
 * entry (ptr 0: it was not one), for realloc to put back if it fails. A
 * filter hit may be another block of the same region: then p is not
 * found. */
static struct live untrack(uintptr_t p)
{
	uint32_t shard = shard_of(p);
	struct shard *s = &A.shards[shard];
	struct live had = { 0 };
	shard_lock(&s->lock);
	const uint32_t mask = (1u << s->bits) - 1;
	for (uint32_t i = ptr_hash(p, s->bits); s->live; i = (i + 1) & mask) {
		struct live *l = &s->live[i];
		if (l->ptr == 0)
			break;
		if (l->ptr != p)
			continue;
		/* a live entry was counted: s->counts is set */
		struct pprof_agent_counts *c = &s->counts[l->meta & ((1u << BUCKET_BITS) - 1)];
		add_locked(&c->free_objects, 1);
		add_locked(&c->free_bytes, l->meta >> BUCKET_BITS);
		had = *l;
		forget(s, i);
		s->used--;
		uint32_t slot = filter_slot(p);
		/* a saturated count stays: only false hits */
		if (Z.counts[slot] < 255 && --Z.counts[slot] == 0)
			set_bit(slot, false);
		break;
	}
	shard_unlock(&s->lock);
	return had;
}

/* Puts back the sampled block untrack forgot, its free uncounted: a
 * realloc of it failed, and it lives on. Rare: with ENOMEM only. */
static __attribute__((noinline)) void untrack_undo(struct live had)
{
	uint32_t shard = shard_of(had.ptr);
	struct shard *s = &A.shards[shard];
	shard_lock(&s->lock);
	struct pprof_agent_counts *c = &s->counts[had.meta & ((1u << BUCKET_BITS) - 1)];
	/* its slot was freed, but another block may have taken it since */
	if (s->used >= (3u << s->bits) / 4 && !grow(s)) {
		count_drop();
	} else {
		add_locked(&c->free_objects, (uint64_t)-1);
		add_locked(&c->free_bytes, -(had.meta >> BUCKET_BITS));
		remember(s, had);
	}
	shard_unlock(&s->lock);
}

/* Not while this thread samples: it holds a shard lock then, and what it
 * frees meanwhile (libunwind's own blocks, if it had any) was allocated
 * while it sampled too, so never sampled itself. */
static inline struct live maybe_untrack(void *p)
{
	if (UNLIKELY(filter_hit((uintptr_t)p)) && __atomic_load_n(&A.tables, __ATOMIC_ACQUIRE) &&
	    !T.busy)
		return untrack((uintptr_t)p);
	return (struct live){ 0 };
}

/* The latest of the first n unloads whose range holds one of w's frames,
 * or 0: such a frame is in a library loaded since at that address. */
static __attribute__((noinline)) uint64_t stamp_of(const struct walk *w, uint64_t n)
{
	for (uint64_t k = n; k-- > 0;)
		for (uint32_t i = 0; i < w->n; i++)
			if (w->pcs[i] >= A.unloads[k].lo && w->pcs[i] < A.unloads[k].hi)
				return k + 1;
	return 0;
}

/* A walk without libunwind's per-thread trace cache, whose making takes a
 * lock a forked child may have inherited held (see before_fork): several
 * times slower, for threads of such a child only. */
static __attribute__((noinline)) int walk_uncached(void **ips, int max)
{
	unw_context_t uc;
	unw_cursor_t c;
	int n = 0;
	if (A.unw.getcontext(&uc) < 0 || A.unw.init_local(&c, &uc) < 0)
		return 0;
	do {
		unw_word_t ip;
		if (A.unw.get_reg(&c, UNW_REG_IP, &ip) < 0 || !ip)
			break;
		ips[n++] = (void *)(uintptr_t)ip;
	} while (n < max && A.unw.step(&c) > 0);
	return n;
}

/* The caller's stack, the agent's own frames left out. Inlined, here and
 * in sample_here: each frame of the agent's own is one more for libunwind
 * to walk, about a tenth of a sample's cost each. A thread makes its trace
 * cache at its first walk, unless that could hang (see before_fork) or
 * the cache would be freed unnoted (the thread is ending: thread_ends). */
static inline __attribute__((always_inline)) bool capture(struct walk *w)
{
	void *ips[PPROF_AGENT_DEPTH + 8];
	int n;
	if (UNLIKELY(!__atomic_load_n(&A.unw.ok, __ATOMIC_ACQUIRE)))
		return false; /* before the constructor, or libunwind would not load */
	/* the unloads before the walk: a later one cannot concern frames
	 * that run now */
	uint64_t unloads = __atomic_load_n(&A.unw.unloads, __ATOMIC_ACQUIRE);
	if (UNLIKELY(A.walk_slow || T.ending) && !T.walked) {
		n = walk_uncached(ips, PPROF_AGENT_DEPTH + 8);
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
	w->stamp = UNLIKELY(unloads) ? stamp_of(w, unloads) : 0;
	return true;
}

/* The bytes the allocator holds for p, asked for size: what the process's
 * own counters (and Go's size classes) count. Only for sampled blocks,
 * so that the fast path pays nothing for it. */
static inline size_t held(void *p, size_t size)
{
	size_t (*usable)(void *) = A.real.malloc_usable_size;
	size_t n = usable ? usable(p) : 0;
	return n >= size ? n : size;
}

/* The class a block of n bytes asked for is bucketed by: n rounded up to 4
 * significant bits (exact below 32). Go keys its buckets by size class;
 * keyed by the exact size, a call site of sizes spread over a range (a
 * string builder) made a bucket a sample and filled the table. Within a
 * class sizes differ by at most 1/16, so the reader's scaling by the
 * class's average size asked is off by far less than its noise. */
static inline uint64_t size_class(uint64_t n)
{
	if (n < 32)
		return n;
	int shift = 63 - __builtin_clzll(n) - 4;
	uint64_t unit = (uint64_t)1 << shift;
	return (n + unit - 1) & ~(unit - 1);
}

/* The slow path of an allocation: the countdown reached zero (or the
 * thread allocates for the first time). */
static inline __attribute__((always_inline)) void sample_here(void *p, size_t size)
{
	if (T.busy)
		return;
	if (UNLIKELY(A.late))
		got_tick(&A.got); /* a module the C library loaded itself */
	if (!T.init) {
		T.init = 1;
		T.rng = ((uint64_t)syscall(SYS_gettid) << 32) ^ (uint64_t)(uintptr_t)&T ^
			(uint64_t)time(NULL) ^ 0x9E3779B97F4A7C15ULL;
		T.left = next_distance() - (int64_t)size;
		if (T.left > 0)
			return;
	}
	uint32_t shard = shard_of((uintptr_t)p);
	struct shard *s = &A.shards[shard];
	__builtin_prefetch(s, 1); /* fetched while the next distance is drawn */
	T.left = next_distance();
	if (!A.tables || !p)
		return;
	T.busy = 1;
	/* the stack is walked with the lock held: see before_fork */
	shard_lock(&s->lock);
	struct walk w;
	int64_t b = capture(&w) ? bucket_for(&w, PPROF_AGENT_ALLOC, size_class(size)) : -1;
	if (b < 0)
		count_drop();
	else
		track(s, shard, (uintptr_t)p, size, held(p, size), (uint32_t)b);
	shard_unlock(&s->lock);
	T.busy = 0;
}

/* sample_here for the allocation functions other than malloc */
static __attribute__((noinline)) void sample(void *p, size_t size)
{
	sample_here(p, size);
}

static inline void *allocated(void *p, size_t size)
{
	if (p && UNLIKELY((T.left -= (int64_t)size) <= 0))
		sample(p, size);
	return p;
}

/* ---- the wrapped allocator ---- */

static __attribute__((noinline)) void *malloc_slow(size_t n)
{
	if (UNLIKELY(!A.ready)) {
		init();
		if (!A.ready)
			return boot_alloc(n, 16);
	}
	/* the countdown is spent (or was never drawn): this block may be the
	 * sample */
	void *p = A.real.malloc(n);
	if (p)
		sample_here(p, n);
	return p;
}

EXPORT void *malloc(size_t n)
{
	/* The fast path ends in a tail call: no frame of its own, no other
	 * check. T.left is positive only once sample() drew it, which needs
	 * the real functions: a thread's first malloc always comes here
	 * with 0 and goes the slow way. */
	if (LIKELY((T.left -= (int64_t)n) > 0))
		return A.real.malloc(n);
	return malloc_slow(n);
}
OWN(malloc);

EXPORT void *calloc(size_t n, size_t size)
{
	if (UNLIKELY(!A.ready)) {
		init();
		if (!A.ready) {
			size_t total;
			if (__builtin_mul_overflow(n, size, &total))
				return NULL;
			return boot_alloc(total, 16);
		}
	}
	return allocated(A.real.calloc(n, size), n * size);
}

/* A filter hit: a sampled block, the bootstrap area, or another block in
 * a marked region. */
static __attribute__((noinline)) void free_slow(void *p)
{
	if (!p || is_boot(p))
		return;
	if (UNLIKELY(!A.ready))
		init();
	/* before the real free: once freed, another thread may get p back */
	maybe_untrack(p);
	A.real.free(p);
}

/* A.real.free until init has found the real one: no block of the real
 * allocator can exist before that, only bootstrap ones. */
static void free_early(void *p)
{
	init();
	void (*real)(void *) = __atomic_load_n(&A.real.free, __ATOMIC_ACQUIRE);
	if (p && !is_boot(p) && real != free_early)
		real(p);
}

EXPORT void free(void *p)
{
	/* a tail call to the real free after one bit test */
	if (LIKELY(!filter_hit((uintptr_t)p)))
		__atomic_load_n(&A.real.free, __ATOMIC_RELAXED)(p);
	else
		free_slow(p);
}

EXPORT void *realloc(void *p, size_t n)
{
	if (UNLIKELY(!A.ready))
		init();
	if (UNLIKELY(is_boot(p))) {
		/* out of the bootstrap area for good */
		size_t had = boot_size(p);
		void *q = agent_malloc(n);
		if (q)
			memcpy(q, p, n < had ? n : had);
		return q;
	}
	if (!A.ready)
		return boot_alloc(n, 16);
	/* forgotten before the real realloc: once moved, another thread may
	 * get p back */
	struct live had = p ? maybe_untrack(p) : (struct live){ 0 };
	void *q = A.real.realloc(p, n);
	if (UNLIKELY(!q && had.ptr && n))
		untrack_undo(had); /* it failed: p lives on, still counted */
	return allocated(q, n);
}
OWN(realloc);

/* Bootstrap blocks are the agent's; every other block is the real
 * allocator's, whole (a sampled block is not moved or padded). */
EXPORT size_t malloc_usable_size(void *p)
{
	if (!p)
		return 0;
	if (is_boot(p))
		return boot_size(p);
	if (UNLIKELY(!A.ready))
		init();
	return A.real.malloc_usable_size ? A.real.malloc_usable_size(p) : 0;
}

EXPORT void *reallocarray(void *p, size_t n, size_t size)
{
	size_t total;
	if (__builtin_mul_overflow(n, size, &total)) {
		errno = ENOMEM;
		return NULL;
	}
	return agent_realloc(p, total);
}

EXPORT int posix_memalign(void **out, size_t align, size_t n)
{
	if (UNLIKELY(!A.ready)) {
		init();
		if (!A.ready) {
			*out = boot_alloc(n, align);
			return *out ? 0 : ENOMEM;
		}
	}
	int rc = A.real.posix_memalign(out, align, n);
	if (rc == 0)
		allocated(*out, n);
	return rc;
}

EXPORT void *aligned_alloc(size_t align, size_t n)
{
	if (UNLIKELY(!A.ready))
		init();
	if (!A.ready)
		return boot_alloc(n, align);
	if (A.real.aligned_alloc)
		return allocated(A.real.aligned_alloc(align, n), n);
	return allocated(A.real.memalign(align, n), n);
}

EXPORT void *memalign(size_t align, size_t n)
{
	if (UNLIKELY(!A.ready))
		init();
	if (!A.ready)
		return boot_alloc(n, align);
	return allocated(A.real.memalign(align, n), n);
}
OWN(memalign);

EXPORT void *valloc(size_t n)
{
	if (UNLIKELY(!A.ready))
		init();
	if (!A.ready || !A.real.valloc)
		return agent_memalign((size_t)sysconf(_SC_PAGESIZE), n);
	return allocated(A.real.valloc(n), n);
}

EXPORT void *pvalloc(size_t n)
{
	if (UNLIKELY(!A.ready))
		init();
	size_t page = (size_t)sysconf(_SC_PAGESIZE);
	size_t rounded = (n + page - 1) & ~(page - 1);
	if (!A.ready || !A.real.pvalloc)
		return agent_memalign(page, rounded ? rounded : page);
	return allocated(A.real.pvalloc(n), rounded);
}

/* ---- thread creation ---- */

struct start {
	void *(*fn)(void *);
	void *arg;
	int64_t bucket;
};

/* Records tid as created from bucket; with the lock held. A full table is
 * swept of threads that are gone. */
static void record_thread(pid_t tid, uint32_t bucket)
{
	struct pprof_agent_thread *t = (struct pprof_agent_thread *)(uintptr_t)pprof_agent.threads;
	for (int sweep = 0; sweep < 2; sweep++) {
		uint32_t h = ptr_hash((uintptr_t)tid << 4, 15);
		for (uint32_t k = 0; k < MAX_THREADS; k++) {
			struct pprof_agent_thread *s = &t[(h + k) & (MAX_THREADS - 1)];
			int32_t cur = __atomic_load_n(&s->tid, __ATOMIC_RELAXED);
			if (cur != 0 && cur != tid)
				continue;
			__atomic_store_n(&s->tid, 0, __ATOMIC_RELAXED);
			s->bucket = bucket;
			s->seq = ++A.thread_seq;
			__atomic_store_n(&s->tid, tid, __ATOMIC_RELEASE);
			return;
		}
		pid_t pid = getpid();
		for (uint32_t k = 0; k < MAX_THREADS; k++)
			if (t[k].tid && syscall(SYS_tgkill, pid, t[k].tid, 0) < 0 && errno == ESRCH)
				__atomic_store_n(&t[k].tid, 0, __ATOMIC_RELAXED);
	}
	count_drop();
}

/* Drops the exiting threads that are gone; true when none is left. With
 * the lock held. */
static bool sweep_exiting(void)
{
	int saved = errno;
	bool none = true;
	pid_t pid = getpid();
	for (int i = 0; i < MAX_EXITING; i++) {
		if (!A.exiting[i])
			continue;
		if (syscall(SYS_tgkill, pid, A.exiting[i], 0) < 0 && errno == ESRCH)
			A.exiting[i] = 0;
		else
			none = false;
	}
	errno = saved;
	return none;
}

/* A thread that walked stacks ends (its start routine returned, or it
 * called pthread_exit or was cancelled): libunwind frees its trace cache
 * after this, in a key destructor, under a lock of its own. Noted with
 * A.lock held, which before_fork holds across fork: a thread that did
 * not get noted in time cannot reach its destructors until the fork is
 * over. */
static void thread_ends(void *unused)
{
	(void)unused;
	T.ending = 1;
	if (!T.walked)
		return;
	pid_t tid = (pid_t)syscall(SYS_gettid);
	pthread_mutex_lock(&A.lock);
	int i = 0;
	for (int pass = 0; pass < 2; pass++) {
		for (i = 0; i < MAX_EXITING && A.exiting[i]; i++)
			;
		if (i < MAX_EXITING || pass == 1)
			break;
		sweep_exiting();
	}
	if (i < MAX_EXITING)
		A.exiting[i] = tid;
	else
		A.exits_lost = 1;
	pthread_mutex_unlock(&A.lock);
}

static void *thread_start(void *arg)
{
	struct start s = *(struct start *)arg;
	A.real.free(arg);
	if (s.bucket >= 0 && A.tables) {
		pthread_mutex_lock(&A.lock);
		record_thread((pid_t)syscall(SYS_gettid), (uint32_t)s.bucket);
		pthread_mutex_unlock(&A.lock);
	}
	void *ret;
	pthread_cleanup_push(thread_ends, NULL);
	ret = s.fn(s.arg);
	pthread_cleanup_pop(1);
	return ret;
}

EXPORT int pthread_create(pthread_t *thread, const pthread_attr_t *attr,
			  void *(*fn)(void *), void *arg)
{
	init();
	struct start *s = A.real.malloc(sizeof *s);
	if (!s || !A.tables || T.busy) {
		A.real.free(s);
		return A.real.pthread_create(thread, attr, fn, arg);
	}
	*s = (struct start){ fn, arg, -1 };
	T.busy = 1;
	/* walked with a shard's lock held, as a sample is: see before_fork */
	shard_lock(&A.shards[0].lock);
	struct walk w;
	s->bucket = capture(&w) ? bucket_for(&w, PPROF_AGENT_THREAD, 0) : -1;
	struct pprof_agent_counts *c = s->bucket >= 0 ? shard_counts(0) : NULL;
	if (c)
		__atomic_fetch_add(&c[s->bucket].alloc_objects, 1, __ATOMIC_RELAXED);
	else
		count_drop();
	shard_unlock(&A.shards[0].lock);
	T.busy = 0;
	int rc = A.real.pthread_create(thread, attr, thread_start, s);
	if (rc != 0)
		A.real.free(s);
	return rc;
}

/* ---- unloading ---- */

/* The GNU build-id among the notes of a loaded object, as mapped. */
static uint32_t note_build_id(const struct dl_phdr_info *info, uint8_t *id)
{
	for (int i = 0; i < info->dlpi_phnum; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
		if (ph->p_type != PT_NOTE)
			continue;
		const unsigned char *at = (const unsigned char *)(info->dlpi_addr + ph->p_vaddr);
		const unsigned char *end = at + ph->p_memsz;
		while (at + sizeof(ElfW(Nhdr)) <= end) {
			const ElfW(Nhdr) *nh = (const ElfW(Nhdr) *)(const void *)at;
			const unsigned char *name = at + sizeof *nh;
			const unsigned char *desc = name + ((nh->n_namesz + 3) & ~3u);
			const unsigned char *next = desc + ((nh->n_descsz + 3) & ~3u);
			if (next > end || next <= at)
				break;
			if (nh->n_type == NT_GNU_BUILD_ID && nh->n_namesz == 4 &&
			    memcmp(name, "GNU", 4) == 0 && nh->n_descsz > 0 &&
			    nh->n_descsz <= PPROF_AGENT_BUILD_ID) {
				memcpy(id, desc, nh->n_descsz);
				return nh->n_descsz;
			}
			at = next;
		}
	}
	return 0;
}

static int add_module(struct dl_phdr_info *info, size_t size, void *data)
{
	struct modules *m = data;
	if (size >= offsetof(struct dl_phdr_info, dlpi_subs) + sizeof info->dlpi_subs) {
		m->subs = info->dlpi_subs;
		m->has_subs = true;
	}
	uint64_t lo = UINT64_MAX, hi = 0, offset = 0;
	for (int i = 0; i < info->dlpi_phnum; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
		if (ph->p_type != PT_LOAD)
			continue;
		uint64_t a = info->dlpi_addr + ph->p_vaddr;
		if (a < lo) {
			lo = a;
			offset = ph->p_offset;
		}
		hi = a + ph->p_memsz > hi ? a + ph->p_memsz : hi;
	}
	if (lo >= hi)
		return 0;
	if (m->n == MAX_MODULES) {
		m->overflow = true;
		return 0;
	}
	if (m->r) {
		m->r[m->n++] = (struct range){ lo, hi };
		return 0;
	}
	struct module *o = &m->m[m->n++];
	*o = (struct module){ .lo = lo, .hi = hi };
	o->bias = info->dlpi_addr;
	o->offset = offset;
	o->build_id_size = note_build_id(info, o->build_id);
	const char *name = info->dlpi_name ? info->dlpi_name : "";
	size_t len = strlen(name), dir = 0;
	/* a name relative to the working directory (dlopen("lib/x.so")),
	 * made absolute as the reader cannot: that directory may have
	 * changed since, but the reader checks the build-id of what it opens */
	if (name[0] && name[0] != '/' && getcwd(o->file, sizeof o->file)) {
		dir = strlen(o->file);
		o->file[dir++] = '/';
	}
	if (dir + len < sizeof o->file)
		memcpy(o->file + dir, name, len + 1);
	else
		o->file[0] = '\0';
	return 0;
}

/* Publishes the objects of before that after lacks, but for those that
 * a dlclose in another thread, its window overlapping this one's, has
 * published since the since-th unload. (A dlclose within a destructor
 * unloads nothing itself: glibc leaves that to the outer one.) */
static void record_unloads(const struct modules *before, const struct modules *after,
			   uint64_t since)
{
	pthread_mutex_lock(&A.lock);
	for (uint32_t i = 0; i < before->n; i++) {
		bool gone = true;
		const struct module *b = &before->m[i];
		for (uint32_t j = 0; j < after->n && gone; j++)
			gone = after->r[j].lo != b->lo || after->r[j].hi != b->hi;
		for (uint64_t k = since; k < pprof_agent.unloads && gone; k++)
			gone = A.unloads[k].lo != b->lo || A.unloads[k].hi != b->hi;
		if (!gone)
			continue;
		uint64_t n = pprof_agent.unloads;
		if (n >= MAX_UNLOADS) {
			pprof_agent.unloads_lost++;
			continue;
		}
		struct pprof_agent_unload *u = &A.unloads[n];
		*u = (struct pprof_agent_unload){
			.lo = b->lo, .hi = b->hi, .bias = b->bias, .offset = b->offset,
			.build_id_size = b->build_id_size,
		};
		memcpy(u->build_id, b->build_id, sizeof u->build_id);
		memcpy(u->file, b->file, sizeof u->file);
		/* the entry is whole before a sample or the reader sees it */
		__atomic_store_n(&pprof_agent.unloads, n + 1, __ATOMIC_RELEASE);
		__atomic_store_n(&A.unw.unloads, n + 1, __ATOMIC_RELEASE);
	}
	if (before->overflow || after->overflow)
		pprof_agent.unloads_lost++; /* some objects were not compared */
	pthread_mutex_unlock(&A.lock);
}

/* Stacks are kept as addresses and named when read: an unloaded library's
 * range is recorded, so that the reader does not name its frames by what
 * is loaded there later (see struct pprof_agent_bucket's stamp). Rare:
 * the two lists of loaded objects come from a mapping of their own. */
EXPORT int dlclose(void *handle)
{
	init();
	if (!A.real.dlclose) {
		errno = ENOSYS;
		return -1;
	}
	if (!__atomic_load_n(&A.tables, __ATOMIC_ACQUIRE))
		return A.real.dlclose(handle);
	/* The lists go in the kept mapping, unless another dlclose uses it
	 * (in another thread, or in a destructor this one runs): in a mapping
	 * of their own then. Never waited for: one dlclose holds it while it
	 * takes the loader's lock, which another may hold while it wants
	 * this. */
	size_t bytes = sizeof(struct dl_lists);
	bool kept = !__atomic_exchange_n(&A.dl_busy, 1, __ATOMIC_ACQUIRE);
	struct dl_lists *lists = kept ? A.dl_lists : NULL;
	bool own = !lists;
	if (own) {
		lists = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (lists == MAP_FAILED) {
			if (kept)
				__atomic_store_n(&A.dl_busy, 0, __ATOMIC_RELEASE);
			__atomic_fetch_add(&pprof_agent.unloads_lost, 1, __ATOMIC_RELAXED);
			return A.real.dlclose(handle);
		}
	}
	struct modules before = { .m = lists->before }, after = { .r = lists->after };
	uint64_t since = __atomic_load_n(&pprof_agent.unloads, __ATOMIC_ACQUIRE);
	dl_iterate_phdr(add_module, &before);
	int rc = A.real.dlclose(handle);
	int saved = errno;
	dl_iterate_phdr(add_module, &after);
	/* most dlclose calls only drop a reference: nothing to compare */
	if (!before.has_subs || after.subs != before.subs)
		record_unloads(&before, &after, since);
	if (own)
		munmap(lists, bytes);
	if (kept)
		__atomic_store_n(&A.dl_busy, 0, __ATOMIC_RELEASE);
	if (A.late)
		got_tick(&A.got);
	errno = saved;
	return rc;
}
OWN(dlclose);

/* ---- process life ---- */

/* Every lock is taken across fork, so that the child's copies of the
 * tables are whole; and since every stack walk runs with a shard's lock
 * held, no thread is inside libunwind either, whose own locks (its caches')
 * the child would otherwise inherit held and hang on at its first sample.
 * The order is a shard's lock, then A.lock (a sample looks up its bucket
 * under its shard's lock). */
static void before_fork(void)
{
	for (int i = 0; i < NSHARDS; i++)
		shard_lock(&A.shards[i].lock);
	pthread_mutex_lock(&A.lock);
	/* One lock of libunwind is also taken outside any walk: the pool
	 * lock, when an exiting thread's trace cache is freed. If a thread
	 * may be doing that now, the child may get that lock held for good,
	 * and its threads must not make trace caches of their own (a
	 * child's child inherits the same lock). */
	A.fork_unsafe = A.walk_slow || A.exits_lost || !sweep_exiting();
}

static void after_fork_parent(void)
{
	pthread_mutex_unlock(&A.lock);
	for (int i = NSHARDS - 1; i >= 0; i--)
		shard_unlock(&A.shards[i].lock);
}

/* The child has a copy of every table (its heap is a copy too, so the
 * sampled blocks are still live in it) and only the forking thread. */
static void after_fork_child(void)
{
	A.walk_slow = A.fork_unsafe;
	A.exits_lost = 0;
	memset(A.exiting, 0, sizeof A.exiting); /* those threads are not here */
	A.lock = (pthread_mutex_t)PTHREAD_ADAPTIVE_MUTEX_INITIALIZER_NP;
	for (int i = 0; i < NSHARDS; i++)
		A.shards[i].lock = 0;
	pprof_agent.pid = (int32_t)getpid();
	if (pprof_agent.threads)
		memset((void *)(uintptr_t)pprof_agent.threads, 0,
		       MAX_THREADS * sizeof(struct pprof_agent_thread));
}

#define NAME_OF(f) NAME_OF_(f)
#define NAME_OF_(f) #f
#define UNW_SYM(h, field, name) \
	(A.unw.field = (__typeof__(A.unw.field))dlsym(h, name)) != NULL

/* libunwind, privately (struct unwinder says why). From the constructor:
 * dlopen is not for the first malloc, which may come from inside the
 * dynamic loader before the C library is up. */
static void load_unwinder(void)
{
	T.busy = 1; /* dlopen allocates: no samples without an unwinder */
	void *h = dlopen(UNWIND_SONAME, RTLD_NOW | RTLD_LOCAL);
	if (!h) {
		char why[sizeof pprof_agent.message];
		const char *e = dlerror();
		snprintf(why, sizeof why, "cannot load %s: %s", UNWIND_SONAME, e ? e : "?");
		fail(why);
	} else if (!(UNW_SYM(h, backtrace, "unw_backtrace") &&
		     UNW_SYM(h, getcontext, NAME_OF(unw_tdep_getcontext)) &&
		     UNW_SYM(h, init_local, NAME_OF(unw_init_local)) &&
		     UNW_SYM(h, step, NAME_OF(unw_step)) &&
		     UNW_SYM(h, get_reg, NAME_OF(unw_get_reg)))) {
		fail(UNWIND_SONAME " lacks a function of its local unwinding API");
	} else {
		__atomic_store_n(&A.unw.ok, 1, __ATOMIC_RELEASE);
	}
	T.busy = 0;
}

__attribute__((constructor)) static void agent_start(void)
{
	if (!preloaded()) {
		/* loaded into a running process: nothing is touched until
		 * pprof_agent_attach */
		A.late = 1;
		return;
	}
	init();
	load_unwinder();
	/* environ exists only now: a malloc before this point used the default */
	const char *rate = getenv("PPROF_MEMRATE");
	if (rate && *rate) {
		char *end;
		errno = 0;
		long long v = strtoll(rate, &end, 10);
		if (errno || *end || v < 0) {
			fail("PPROF_MEMRATE is not a number of bytes >= 0");
		} else {
			__atomic_store_n(&pprof_agent.rate, (int64_t)v, __ATOMIC_RELAXED);
			if (v == 0 && pprof_agent.state == PPROF_AGENT_SAMPLING)
				pprof_agent.state = PPROF_AGENT_OFF;
			__atomic_store_n(&A.rate, pprof_agent.state == PPROF_AGENT_SAMPLING ? (int64_t)v : 0,
					 __ATOMIC_RELAXED);
		}
	}
	/* this thread drew its distance at the default rate: it draws again
	 * at its next allocation (a distance left over from the default rate
	 * would leave the first megabytes unsampled at PPROF_MEMRATE=1) */
	T.init = 0;
	T.left = 0;
	pthread_atfork(before_fork, after_fork_parent, after_fork_child);
}

/* ---- loaded into a running process ---- */

OWN(free);
OWN(calloc);
OWN(reallocarray);
OWN(posix_memalign);
OWN(aligned_alloc);
OWN(valloc);
OWN(pvalloc);
OWN(malloc_usable_size);
OWN(pthread_create);

/* The routed dlopen: modules it loads are routed before it returns (their
 * constructors' allocations, made inside it, are not counted). glibc names
 * the caller by dlopen's return address, to search its DT_RUNPATH and
 * expand $ORIGIN: a caller whose module has paths of its own, or a name
 * with a $, gets the real dlopen by a tail call, its frame unchanged, and
 * its module is routed at the next sample (got_tick). */
static void *agent_dlopen(const char *file, int mode)
{
	void *(*real)(const char *, int) = (void *(*)(const char *, int))A.got.real[GOT_DLOPEN];
	if ((file && strchr(file, '$')) ||
	    got_caller_has_paths((uintptr_t)__builtin_return_address(0)))
		return real(file, mode);
	void *h = real(file, mode);
	int saved = errno;
	got_route(&A.got);
	errno = saved;
	return h;
}

OWN(pprof_agent_attach);

/* Whether the agent is in the program's own symbol scope (preloaded, or
 * linked), where its functions interpose the allocator's; not when
 * dlopened (RTLD_LOCAL) into the running process. */
static bool preloaded(void)
{
	void *main = dlopen(NULL, RTLD_LAZY);
	return main && dlsym(main, "pprof_agent_attach") == (void *)agent_pprof_agent_attach;
}

/* Routes the process's allocator through the agent (got.c) and counts from
 * now on; pprof-agent.h says what it answers. Called once the loader's
 * dlopen has returned, on a thread that was waiting (not in the allocator
 * or the loader), with its signals blocked. */
EXPORT int pprof_agent_attach(int64_t rate)
{
	if (!A.late)
		return 0; /* preloaded: counting since the start */
	int done = 0;
	if (!__atomic_compare_exchange_n(&A.attached, &done, 2, false, __ATOMIC_ACQ_REL,
					 __ATOMIC_ACQUIRE))
		return done == 1 ? 0 : -1; /* once only; -1 too while another call runs */
	int rc = -1;
	void *main = dlopen(NULL, RTLD_LAZY);
	void *present = main ? dlsym(main, PPROF_AGENT_SYMBOL) : NULL;
	if (present && present != &pprof_agent) {
		rc = 0; /* a preloaded agent counts already */
		goto out;
	}
	A.got.self = (uintptr_t)&agent_dlopen;
	void *const wrap[GOT_N] = {
		[GOT_MALLOC] = agent_malloc, [GOT_FREE] = agent_free,
		[GOT_CALLOC] = agent_calloc, [GOT_REALLOC] = agent_realloc,
		[GOT_REALLOCARRAY] = agent_reallocarray,
		[GOT_POSIX_MEMALIGN] = agent_posix_memalign,
		[GOT_ALIGNED_ALLOC] = agent_aligned_alloc, [GOT_MEMALIGN] = agent_memalign,
		[GOT_VALLOC] = agent_valloc, [GOT_PVALLOC] = agent_pvalloc,
		[GOT_MALLOC_USABLE_SIZE] = agent_malloc_usable_size,
		[GOT_PTHREAD_CREATE] = agent_pthread_create, [GOT_DLOPEN] = agent_dlopen,
		[GOT_DLCLOSE] = agent_dlclose,
	};
	memcpy(A.got.wrap, wrap, sizeof wrap);
	char why[sizeof pprof_agent.message];
	int collected = got_collect(&A.got, why, sizeof why);
	if (collected > 0) {
		rc = 0; /* another copy of the agent routes the slots: no header here */
		goto out;
	}
	/* the header, for the reader to see a refusal too */
	make_tables();
	pprof_agent.origin = PPROF_AGENT_LOADED;
	if (pprof_agent.state == PPROF_AGENT_FAILED)
		goto out;
	if (rate < 0) {
		fail("the rate is negative: want mean bytes between samples, 1 for all, 0 for none");
		goto out;
	}
	if (dlsym(RTLD_DEFAULT, "__asan_init")) {
		fail("the target runs AddressSanitizer, whose allocator the agent cannot wrap");
		goto out;
	}
	if (collected < 0) {
		fail(why);
		goto out;
	}
	load_unwinder();
	if (pprof_agent.state == PPROF_AGENT_FAILED)
		goto out;
	/* the functions every wrapper forwards to, before any slot points at
	 * a wrapper */
	__atomic_store_n(&A.real.malloc, A.got.real[GOT_MALLOC], __ATOMIC_RELEASE);
	__atomic_store_n(&A.real.free, A.got.real[GOT_FREE], __ATOMIC_RELEASE);
	A.real.calloc = A.got.real[GOT_CALLOC];
	A.real.realloc = A.got.real[GOT_REALLOC];
	A.real.reallocarray = A.got.real[GOT_REALLOCARRAY];
	A.real.posix_memalign = A.got.real[GOT_POSIX_MEMALIGN];
	A.real.aligned_alloc = A.got.real[GOT_ALIGNED_ALLOC];
	A.real.memalign = A.got.real[GOT_MEMALIGN];
	A.real.valloc = A.got.real[GOT_VALLOC];
	A.real.pvalloc = A.got.real[GOT_PVALLOC];
	A.real.malloc_usable_size = A.got.real[GOT_MALLOC_USABLE_SIZE];
	A.real.dlclose = A.got.real[GOT_DLCLOSE];
	A.real.pthread_create = A.got.real[GOT_PTHREAD_CREATE];
	if (!A.real.calloc || !A.real.realloc || !A.real.posix_memalign || !A.real.memalign ||
	    !A.real.pthread_create || !A.got.real[GOT_DLOPEN]) {
		fail("the process lacks an allocation function the agent forwards to: not routed");
		goto out;
	}
	pprof_agent.since_ns = now_realtime_ns();
	__atomic_store_n(&pprof_agent.rate, rate, __ATOMIC_RELAXED);
	if (rate == 0)
		pprof_agent.state = PPROF_AGENT_OFF;
	__atomic_store_n(&A.rate, rate, __ATOMIC_RELAXED);
	pthread_atfork(before_fork, after_fork_parent, after_fork_child);
	__atomic_store_n(&A.ready, 1, __ATOMIC_RELEASE);
	got_route(&A.got);
	/* once more: another thread's first call through an unbound slot may
	 * have bound it over the agent's */
	got_route(&A.got);
	rc = 0;
out:
	__atomic_store_n(&A.attached, rc == 0 ? 1 : -1, __ATOMIC_RELEASE);
	return rc;
}
