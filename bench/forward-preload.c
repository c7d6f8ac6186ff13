/* forward-preload.so: the least an LD_PRELOAD allocator wrapper can be, for
 * the agent's benchmark. Each function only passes the call on to glibc's
 * (one more jump through a pointer, as in the agent): what it costs is the
 * price of interposition itself, which no preload agent can go under. */
#define _GNU_SOURCE
#include <stddef.h>

/* glibc's own entry points, exported for this kind of wrapper: no dlsym,
 * so no allocation before they can be called */
void *__libc_malloc(size_t n);
void *__libc_calloc(size_t n, size_t size);
void *__libc_realloc(void *p, size_t n);
void __libc_free(void *p);

void *malloc(size_t n);
void *calloc(size_t n, size_t size);
void *realloc(void *p, size_t n);
void free(void *p);

void *malloc(size_t n)
{
	return __libc_malloc(n);
}

void *calloc(size_t n, size_t size)
{
	return __libc_calloc(n, size);
}

void *realloc(void *p, size_t n)
{
	return __libc_realloc(p, n);
}

void free(void *p)
{
	__libc_free(p);
}
