/* alloc.c: the wrapped allocator and the sampling decision. Both in one
 * file: malloc's fast path is one subtraction and a tail call, and its
 * slow path walks the stack inline (stack_capture says why). */
#define _GNU_SOURCE
#include "alloc.h"
#include "bucket.h"
#include "shard.h"
#include "tables.h"

#include <errno.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

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
	int64_t b = stack_capture(&w) ? bucket_for(&w, PPROF_AGENT_ALLOC, size_class(size)) : -1;
	if (b < 0)
		tables_count_drop();
	else
		shard_track(s, shard, (uintptr_t)p, size, held(p, size), (uint32_t)b);
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
		agent_init();
		if (!A.ready)
			return agent_boot_alloc(n, 16);
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
		agent_init();
		if (!A.ready) {
			size_t total;
			if (__builtin_mul_overflow(n, size, &total))
				return NULL;
			return agent_boot_alloc(total, 16);
		}
	}
	return allocated(A.real.calloc(n, size), n * size);
}
OWN(calloc);

/* A filter hit: a sampled block, the bootstrap area, or another block in
 * a marked region. */
static __attribute__((noinline)) void free_slow(void *p)
{
	if (!p || agent_is_boot(p))
		return;
	if (UNLIKELY(!A.ready))
		agent_init();
	/* before the real free: once freed, another thread may get p back */
	shard_maybe_untrack(p);
	A.real.free(p);
}

void alloc_free_early(void *p)
{
	agent_init();
	void (*real)(void *) = __atomic_load_n(&A.real.free, __ATOMIC_ACQUIRE);
	if (p && !agent_is_boot(p) && real != alloc_free_early)
		real(p);
}

EXPORT void free(void *p)
{
	/* a tail call to the real free after one bit test */
	if (LIKELY(!shard_filter_hit((uintptr_t)p)))
		__atomic_load_n(&A.real.free, __ATOMIC_RELAXED)(p);
	else
		free_slow(p);
}
OWN(free);

EXPORT void *realloc(void *p, size_t n)
{
	if (UNLIKELY(!A.ready))
		agent_init();
	if (UNLIKELY(agent_is_boot(p))) {
		/* out of the bootstrap area for good */
		size_t had = agent_boot_size(p);
		void *q = agent_malloc(n);
		if (q)
			memcpy(q, p, n < had ? n : had);
		return q;
	}
	if (!A.ready)
		return agent_boot_alloc(n, 16);
	/* forgotten before the real realloc: once moved, another thread may
	 * get p back */
	struct live had = p ? shard_maybe_untrack(p) : (struct live){ 0 };
	void *q = A.real.realloc(p, n);
	if (UNLIKELY(!q && had.ptr && n))
		shard_untrack_undo(had); /* it failed: p lives on, still counted */
	return allocated(q, n);
}
OWN(realloc);

/* Bootstrap blocks are the agent's; every other block is the real
 * allocator's, whole (a sampled block is not moved or padded). */
EXPORT size_t malloc_usable_size(void *p)
{
	if (!p)
		return 0;
	if (agent_is_boot(p))
		return agent_boot_size(p);
	if (UNLIKELY(!A.ready))
		agent_init();
	return A.real.malloc_usable_size ? A.real.malloc_usable_size(p) : 0;
}
OWN(malloc_usable_size);

EXPORT void *reallocarray(void *p, size_t n, size_t size)
{
	size_t total;
	if (__builtin_mul_overflow(n, size, &total)) {
		errno = ENOMEM;
		return NULL;
	}
	return agent_realloc(p, total);
}
OWN(reallocarray);

EXPORT int posix_memalign(void **out, size_t align, size_t n)
{
	if (UNLIKELY(!A.ready)) {
		agent_init();
		if (!A.ready) {
			*out = agent_boot_alloc(n, align);
			return *out ? 0 : ENOMEM;
		}
	}
	int rc = A.real.posix_memalign(out, align, n);
	if (rc == 0)
		allocated(*out, n);
	return rc;
}
OWN(posix_memalign);

/* memalign, and aligned_alloc (C11's, where the C library has it: the
 * real one is known only once the agent is ready). */
static void *aligned(bool c11, size_t align, size_t n)
{
	if (UNLIKELY(!A.ready))
		agent_init();
	if (!A.ready)
		return agent_boot_alloc(n, align);
	if (c11 && A.real.aligned_alloc)
		return allocated(A.real.aligned_alloc(align, n), n);
	return allocated(A.real.memalign(align, n), n);
}

EXPORT void *aligned_alloc(size_t align, size_t n)
{
	return aligned(true, align, n);
}
OWN(aligned_alloc);

EXPORT void *memalign(size_t align, size_t n)
{
	return aligned(false, align, n);
}
OWN(memalign);

EXPORT void *valloc(size_t n)
{
	if (UNLIKELY(!A.ready))
		agent_init();
	if (!A.ready || !A.real.valloc)
		return agent_memalign((size_t)sysconf(_SC_PAGESIZE), n);
	return allocated(A.real.valloc(n), n);
}
OWN(valloc);

EXPORT void *pvalloc(size_t n)
{
	if (UNLIKELY(!A.ready))
		agent_init();
	size_t page = (size_t)sysconf(_SC_PAGESIZE);
	size_t rounded = (n + page - 1) & ~(page - 1);
	if (!A.ready || !A.real.pvalloc)
		return agent_memalign(page, rounded ? rounded : page);
	return allocated(A.real.pvalloc(n), rounded);
}
OWN(pvalloc);
