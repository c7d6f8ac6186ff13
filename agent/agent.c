/* agent.c: the agent's state, its start (the real functions, the
 * bootstrap area, the constructor) and the fork handlers. agent.h says
 * what the library does and what each part costs. */
#define _GNU_SOURCE
#include "agent.h"
#include "alloc.h"
#include "attach.h"
#include "shard.h"
#include "stack.h"
#include "tables.h"
#include "threads.h"

#include <dlfcn.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

/* adaptive: held for well under a microsecond, so spin before sleeping */
struct agent A = {
	.rate = DEFAULT_RATE,
	.real.free = alloc_free_early,
	.lock = PTHREAD_ADAPTIVE_MUTEX_INITIALIZER_NP,
};
struct zeroed Z;
__thread struct tls T __attribute__((tls_model("initial-exec")));

/* ---- bootstrap: before dlsym returns, nothing else can allocate ---- */

void *agent_boot_alloc(size_t n, size_t align)
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

void agent_fail(const char *why)
{
	snprintf(pprof_agent.message, sizeof pprof_agent.message, "%s", why);
	__atomic_store_n(&pprof_agent.state, PPROF_AGENT_FAILED, __ATOMIC_RELEASE);
	__atomic_store_n(&A.rate, 0, __ATOMIC_RELAXED);
}

uint64_t agent_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* atomic: free reads A.real.free without the lock, before init too */
#define RESOLVE(name)                                                                   \
	__atomic_store_n(&A.real.name, (__typeof__(A.real.name))dlsym(RTLD_NEXT, #name), \
			 __ATOMIC_RELEASE)

void agent_resolve(void)
{
	pthread_mutex_lock(&A.lock);
	if (!A.ready && !A.resolving) {
		shard_mark_boot();
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
		tables_make();
		A.resolving = 0;
		__atomic_store_n(&A.ready, 1, __ATOMIC_RELEASE);
	}
	pthread_mutex_unlock(&A.lock);
}

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
	A.fork_unsafe = A.walk_slow || A.exits_lost || !threads_sweep_exiting();
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

void agent_atfork(void)
{
	pthread_atfork(before_fork, after_fork_parent, after_fork_child);
}

__attribute__((constructor)) static void agent_start(void)
{
	if (!attach_preloaded()) {
		/* loaded into a running process: nothing is touched until
		 * pprof_agent_attach */
		A.late = 1;
		return;
	}
	agent_init();
	stack_load();
	/* environ exists only now: a malloc before this point used the default */
	const char *rate = getenv("PPROF_MEMRATE");
	if (rate && *rate) {
		char *end;
		errno = 0;
		long long v = strtoll(rate, &end, 10);
		if (errno || *end || v < 0) {
			agent_fail("PPROF_MEMRATE is not a number of bytes >= 0");
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
	agent_atfork();
}
