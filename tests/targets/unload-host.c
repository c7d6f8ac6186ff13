/* unload-host: a target that unloads a library and loads another at the
 * same address, for the agent's record of unloads (run under it at
 * PPROF_MEMRATE=1).
 *
 *   unload-host DIR
 *
 * Loads DIR/unload-a.so and keeps 1,000 blocks of 100 bytes from
 * unload_a_here, loads DIR/unload-c.so and keeps 200 blocks of 100 bytes
 * from unload_c_here, unloads a (the blocks stay live), whose destructor
 * unloads c, loads DIR/unload-b.so, which must land where a was, and keeps
 * 500 blocks of 100 bytes from unload_b_here. Then prints "ready PID" and
 * waits for SIGTERM. A /heap that names frames by what is mapped when it
 * is read would give unload_b_here all 150,000 bytes, and not name
 * unload_c_here. */
#include <dlfcn.h>
#include <signal.h>
#include <stdio.h>
#include <unistd.h>

typedef void *(*alloc_fn)(int, size_t);

static void *load(const char *dir, const char *lib, const char *fn, alloc_fn *f)
{
	char path[4096];
	snprintf(path, sizeof path, "%s/%s", dir, lib);
	void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	if (!h) {
		printf("dlopen %s: %s\n", path, dlerror());
		return NULL;
	}
	*f = (alloc_fn)dlsym(h, fn);
	if (!*f) {
		printf("%s has no %s\n", path, fn);
		return NULL;
	}
	return h;
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: unload-host DIR\n");
		return 2;
	}
	alloc_fn a, b;
	void *ha = load(argv[1], "unload-a.so", "unload_a_here", &a);
	if (!ha)
		return 1;
	a(1000, 100);
	alloc_fn c;
	void *hc = load(argv[1], "unload-c.so", "unload_c_here", &c);
	void (*close_at_exit)(void *) = (void (*)(void *))dlsym(ha, "unload_close_at_exit");
	if (!hc || !close_at_exit)
		return 1;
	c(200, 100);
	close_at_exit(hc);
	if (dlclose(ha) != 0) {
		printf("dlclose: %s\n", dlerror());
		return 1;
	}
	void *hb = load(argv[1], "unload-b.so", "unload_b_here", &b);
	if (!hb)
		return 1;
	if ((void *)b != (void *)a) {
		printf("unload-b.so did not load where unload-a.so was (%p, %p)\n", (void *)b,
		       (void *)a);
		return 1;
	}
	b(500, 100);
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigprocmask(SIG_BLOCK, &set, NULL);
	printf("ready %d\n", (int)getpid());
	fflush(stdout);
	int sig;
	sigwait(&set, &sig);
	return 0;
}
