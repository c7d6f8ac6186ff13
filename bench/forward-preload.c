/* forward-preload.so: the least an LD_PRELOAD allocator wrapper can be, for
 * the agent's benchmark. Each function only passes the call on, through a
 * pointer, to the definition that follows in the search order, found as
 * the agent finds it (dlsym(RTLD_NEXT)): glibc's, or jemalloc's in a
 * program linked with it, such as Debian's redis-server. What it costs is
 * the price of interposition itself, which no preload agent can go under.
 *
 * Wrapped: malloc, calloc, realloc, free and malloc_usable_size, which the
 * benchmark's loads call. The aligned allocators are left to the real
 * allocator: its blocks are never changed here, so a block from one may be
 * freed through the other. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <pthread.h>
#include <stddef.h>
#include <stdlib.h>
#include <unistd.h>

void *malloc(size_t n);
void *calloc(size_t n, size_t size);
void *realloc(void *p, size_t n);
void free(void *p);
size_t malloc_usable_size(void *p);

static void *first_malloc(size_t n);
static void *first_calloc(size_t n, size_t size);
static void *first_realloc(void *p, size_t n);
static void first_free(void *p);
static size_t first_usable(void *p);

/* Until resolved, each pointer leads to a function that resolves them all
 * first: the hot path is one load and one jump, with no test. */
static struct {
	void *(*malloc)(size_t);
	void *(*calloc)(size_t, size_t);
	void *(*realloc)(void *, size_t);
	void (*free)(void *);
	size_t (*usable)(void *);
} R = { first_malloc, first_calloc, first_realloc, first_free, first_usable };

static pthread_once_t once = PTHREAD_ONCE_INIT;
static __thread int resolving;

static void die(const char *msg, size_t len)
{
	ssize_t w = write(2, msg, len);
	(void)w;
	abort();
}
#define DIE(msg) die(msg, sizeof msg - 1)

static void *next(const char *name)
{
	void *f = dlsym(RTLD_NEXT, name);
	if (!f)
		DIE("forward-preload: no allocator function after this library\n");
	return f;
}

static void lookup(void)
{
	resolving = 1;
	void *m = next("malloc"), *c = next("calloc"), *r = next("realloc"), *f = next("free"),
	     *u = next("malloc_usable_size");
	__atomic_store_n(&R.malloc, (void *(*)(size_t))m, __ATOMIC_RELEASE);
	__atomic_store_n(&R.calloc, (void *(*)(size_t, size_t))c, __ATOMIC_RELEASE);
	__atomic_store_n(&R.realloc, (void *(*)(void *, size_t))r, __ATOMIC_RELEASE);
	__atomic_store_n(&R.free, (void (*)(void *))f, __ATOMIC_RELEASE);
	__atomic_store_n(&R.usable, (size_t(*)(void *))u, __ATOMIC_RELEASE);
	resolving = 0;
}

/* A C library whose dlsym allocates would call back in here before any
 * real function is known: the agent serves those calls from an area of
 * its own; this reference only says so and stops (glibc's does not). */
static void resolve(void)
{
	if (resolving)
		DIE("forward-preload: dlsym allocates in this C library: use the agent\n");
	pthread_once(&once, lookup);
}

static void *first_malloc(size_t n)
{
	resolve();
	return R.malloc(n);
}

static void *first_calloc(size_t n, size_t size)
{
	resolve();
	return R.calloc(n, size);
}

static void *first_realloc(void *p, size_t n)
{
	resolve();
	return R.realloc(p, n);
}

static void first_free(void *p)
{
	resolve();
	R.free(p);
}

static size_t first_usable(void *p)
{
	resolve();
	return R.usable(p);
}

void *malloc(size_t n)
{
	return __atomic_load_n(&R.malloc, __ATOMIC_RELAXED)(n);
}

void *calloc(size_t n, size_t size)
{
	return __atomic_load_n(&R.calloc, __ATOMIC_RELAXED)(n, size);
}

void *realloc(void *p, size_t n)
{
	return __atomic_load_n(&R.realloc, __ATOMIC_RELAXED)(p, n);
}

void free(void *p)
{
	__atomic_load_n(&R.free, __ATOMIC_RELAXED)(p);
}

size_t malloc_usable_size(void *p)
{
	return __atomic_load_n(&R.usable, __ATOMIC_RELAXED)(p);
}
