/* boot-target: the agent's bootstrap area, exercised (run under
 * LD_PRELOAD=libpprof-agent.so).
 *
 * The agent resolves the real allocator with dlsym(RTLD_NEXT) and serves
 * allocations made meanwhile from a static area of its own: some C
 * libraries' dlsym allocates. glibc 2.36's does not, so this program
 * interposes dlsym (an executable's symbols come first) and allocates from
 * inside it, with malloc, calloc and posix_memalign, while the agent
 * resolves. Then, in main, it checks those blocks: they lie in the agent's
 * own memory (so the path was taken), hold what was written,
 * malloc_usable_size gives their size, realloc moves them out with their
 * contents, free takes them back. Prints "boot ok N blocks" and exits 0,
 * or says what is wrong and exits 1. */
#include <dlfcn.h>
#include <malloc.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { KEEP = 6 };

/* written only while the agent resolves, in one thread, before main */
struct block {
	void *p;
	size_t n, align;
};
static struct block kept[KEEP];
static int nkept;

static void *(*real_dlsym(void))(void *, const char *)
{
	static void *(*real)(void *, const char *);
	if (!real)
		real = (void *(*)(void *, const char *))dlvsym(RTLD_NEXT, "dlsym", "GLIBC_2.34");
	if (!real)
		real = (void *(*)(void *, const char *))dlvsym(RTLD_NEXT, "dlsym", "GLIBC_2.2.5");
	return real;
}

static void keep(void)
{
	int i = nkept;
	size_t n = 100 + 300 * (size_t)i, align = 0;
	void *p = NULL;
	if (i % 3 == 0) {
		p = malloc(n);
	} else if (i % 3 == 1) {
		p = calloc(1, n);
	} else {
		align = 64 << i; /* up to 4 KiB: as valloc asks */
		if (posix_memalign(&p, align, n) != 0)
			p = NULL;
	}
	if (!p)
		return;
	memset(p, 'a' + i, n);
	kept[nkept++] = (struct block){ p, n, align };
}

/* RTLD_NEXT from the agent, which is preloaded right before the C
 * library: the C library's symbol. Anything else goes to the real dlsym. */
void *dlsym(void *handle, const char *name)
{
	void *(*real)(void *, const char *) = real_dlsym();
	if (!real)
		abort();
	if (handle != RTLD_NEXT)
		return real(handle, name);
	if (nkept < KEEP)
		keep();
	void *libc = dlopen("libc.so.6", RTLD_NOW | RTLD_NOLOAD);
	void *sym = libc ? real(libc, name) : NULL;
	if (libc)
		dlclose(libc);
	return sym;
}

static int bad(const char *what, int i)
{
	printf("block %d: %s\n", i, what);
	return 1;
}

int main(void)
{
	int errors = 0;
	if (nkept < 3) {
		printf("the agent's start allocated %d blocks through dlsym: not run under it?\n",
		       nkept);
		return 1;
	}
	for (int i = 0; i < nkept; i++) {
		unsigned char *p = kept[i].p;
		size_t n = kept[i].n;
		Dl_info in;
		if (!dladdr(p, &in) || !in.dli_fname || !strstr(in.dli_fname, "libpprof-agent"))
			errors += bad("not in the agent's bootstrap area", i);
		if (kept[i].align && (uintptr_t)p % kept[i].align)
			errors += bad("misaligned", i);
		for (size_t k = 0; k < n; k++)
			if (p[k] != 'a' + i) {
				errors += bad("overwritten", i);
				break;
			}
		if (malloc_usable_size(p) != n)
			errors += bad("malloc_usable_size is not its size", i);
		if (i % 2 == 0) {
			free(p);
			continue;
		}
		/* out of the area, larger than the whole area: only the block's
		 * own bytes come along */
		unsigned char *q = realloc(p, 1 << 20);
		if (!q) {
			errors += bad("realloc failed", i);
			continue;
		}
		for (size_t k = 0; k < n; k++)
			if (q[k] != 'a' + i) {
				errors += bad("realloc lost its contents", i);
				break;
			}
		if (malloc_usable_size(q) < 1 << 20)
			errors += bad("the realloc'd block's usable size is short", i);
		free(q);
	}
	if (malloc_usable_size(NULL) != 0)
		errors += bad("malloc_usable_size(NULL) is not 0", -1);
	if (errors)
		return 1;
	printf("boot ok %d blocks\n", nkept);
	return 0;
}
