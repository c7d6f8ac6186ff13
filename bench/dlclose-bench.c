/* dlclose-bench: what dlopen+dlclose cost, for the agent's wrapper of
 * dlclose (which compares the loaded objects before and after each call).
 *
 *   dlclose-bench LIB
 *
 * Keeps LIB open and times 20,000 dlopen+dlclose pairs that only move its
 * reference count (dlclose unloads nothing), then closes it and times
 * 2,000 pairs that load and unload it. Prints "ref_ns X unload_ns Y",
 * nanoseconds per pair. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdio.h>
#include <time.h>

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e9 + ts.tv_nsec;
}

/* n pairs of dlopen+dlclose of lib, in ns each; < 0 on a failure */
static double pairs(const char *lib, int n)
{
	double t0 = now();
	for (int i = 0; i < n; i++) {
		void *h = dlopen(lib, RTLD_NOW | RTLD_LOCAL);
		if (!h || dlclose(h) != 0) {
			fprintf(stderr, "dlclose-bench: %s\n", dlerror());
			return -1;
		}
	}
	return (now() - t0) / n;
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: dlclose-bench LIB\n");
		return 2;
	}
	void *keep = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
	if (!keep) {
		fprintf(stderr, "dlclose-bench: %s\n", dlerror());
		return 1;
	}
	double ref = pairs(argv[1], 20000);
	dlclose(keep);
	double unload = pairs(argv[1], 2000);
	if (ref < 0 || unload < 0)
		return 1;
	printf("ref_ns %.0f unload_ns %.0f\n", ref, unload);
	return 0;
}
