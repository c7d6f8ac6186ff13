/* late-target: a program started without the heap agent, into which the
 * agent is loaded while 8 threads allocate at full speed, exactly as
 * pprof-fcgi's loader does it: the agent's file copied into a memfd,
 * dlopen("/proc/self/fd/N", RTLD_NOW | RTLD_LOCAL), dlsym and
 * pprof_agent_attach(rate), called with every signal blocked. It keeps
 * its own truth of what it allocated since, for the test to compare with
 * /heap.
 *
 *   late-target AGENT [--lazy]
 *
 * Prints "ready PID", then answers a command a line on stdin:
 *   attach RATE   load and attach: "attach RC MESSAGE"
 *   again RATE    pprof_agent_attach once more: "again RC"
 *   copy RATE     a second copy from a new memfd, attached: "copy RC"
 *   start         (--lazy) start the allocating threads: "started"
 *   pause         once every thread replaced all its blocks since the
 *                 attach, stop them: "held late_alloc_here BYTES BLOCKS SD"
 *                 (SD: the standard deviation of /heap's estimate of BYTES
 *                 at the rate attached), then "paused"
 *   resume        "resumed"
 *   loaded RATE   the agent was loaded from outside (POST /agent) at RATE:
 *                 "pause" counts from now: "loaded"
 *   old           the blocks allocated before the attach: checks their
 *                 malloc_usable_size, frees half and reallocs the rest
 *                 (in old_realloc_here): "old ok", then "held
 *                 old_realloc_here BYTES BLOCKS"
 *   plugin PATH   dlopen PATH, keep 100 blocks from its late_plugin_here:
 *                 "held late_plugin_here BYTES 100"
 * --lazy: the allocating threads wait for "start", and nothing of the
 * program calls malloc before it (a lazily bound build's slot is still
 * unbound at the attach). */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dlfcn.h>
#include <fcntl.h>
#include <malloc.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "pprof-agent.h"

#define THREADS 8
#define RING 1024
#define OLD 1000
#define OLD_SIZE 3000

struct worker {
	pthread_t t;
	void *block[RING];
	size_t asked[RING];
	_Atomic uint64_t iters;
	uint64_t at_attach;
};

static struct worker W[THREADS];
static atomic_int pause_req, paused;
static void *old[OLD];
static size_t old_held[OLD];
static int64_t rate_attached;

static void sleep_ms(long ms)
{
	nanosleep(&(struct timespec){ .tv_nsec = ms * 1000000 }, NULL);
}

/* keeps a function's frame: its allocation is not a tail call, which
 * would leave its caller the innermost frame of the stack */
#define KEEP(p) __asm__ __volatile__("" : : "r"(p) : "memory")
/* a frame of its own in every stack: clang has no noipa, and noinline
 * keeps the frame there too */
#ifdef __clang__
#define NOIPA __attribute__((noinline))
#else
#define NOIPA __attribute__((noipa))
#endif

NOIPA static void *late_alloc_here(size_t n)
{
	void *p = malloc(n);
	KEEP(p);
	return p;
}

static void *work(void *arg)
{
	struct worker *w = arg;
	for (uint64_t k = 0;; k++) {
		if (atomic_load_explicit(&pause_req, memory_order_acquire)) {
			atomic_fetch_add(&paused, 1);
			while (atomic_load_explicit(&pause_req, memory_order_acquire))
				sleep_ms(1);
			atomic_fetch_sub(&paused, 1);
		}
		size_t i = k % RING, n = 16 + (k * 7919 + (size_t)(w - W) * 104729) % 4000;
		free(w->block[i]);
		w->block[i] = late_alloc_here(n);
		w->asked[i] = n;
		atomic_store_explicit(&w->iters, k + 1, memory_order_release);
	}
	return NULL;
}

/* A thread that waits on a condition variable for good: the one
 * pprof-fcgi's loader may borrow (it never lends a busy thread). */
static void *lender(void *arg)
{
	static pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER;
	static pthread_cond_t never = PTHREAD_COND_INITIALIZER;
	(void)arg;
	pthread_mutex_lock(&m);
	for (;;)
		pthread_cond_wait(&never, &m);
	return NULL;
}

static void start_workers(void)
{
	for (int t = 0; t < THREADS; t++)
		pthread_create(&W[t].t, NULL, work, &W[t]);
}

/* What the loader does, in this process. */
static void *load(const char *agent, int64_t rate, int *rc)
{
	*rc = -2;
	int in = open(agent, O_RDONLY | O_CLOEXEC);
	int fd = memfd_create("libpprof-agent.so", MFD_CLOEXEC);
	if (in < 0 || fd < 0)
		return NULL;
	char buf[65536];
	ssize_t n;
	while ((n = read(in, buf, sizeof buf)) > 0)
		if (write(fd, buf, (size_t)n) != n)
			return NULL;
	close(in);
	char path[64];
	snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
	sigset_t all, was;
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &was);
	void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	int (*attach)(int64_t) = h ? (int (*)(int64_t))dlsym(h, PPROF_AGENT_ATTACH) : NULL;
	if (attach)
		*rc = attach(rate);
	else
		printf("dlopen: %s\n", dlerror());
	pthread_sigmask(SIG_SETMASK, &was, NULL);
	return h;
}

static void report_held(void)
{
	size_t held = 0, blocks = 0;
	double var = 0;
	for (int t = 0; t < THREADS; t++)
		for (int i = 0; i < RING; i++) {
			if (!W[t].block[i])
				continue;
			size_t u = malloc_usable_size(W[t].block[i]);
			double p = rate_attached > 1 ? 1 - exp(-(double)W[t].asked[i] / (double)rate_attached) : 1;
			held += u;
			blocks++;
			var += (double)u * (double)u * (1 - p) / p;
		}
	printf("held late_alloc_here %zu %zu %.0f\n", held, blocks, sqrt(var));
}

/* Waits until every thread replaced all its blocks since the attach
 * (those allocated while it was routing may or may not be counted), then
 * stops them. */
static int pause_workers(void)
{
	for (int t = 0; t < THREADS; t++)
		for (int tries = 0; atomic_load(&W[t].iters) < W[t].at_attach + RING; tries++) {
			if (tries > 60000)
				return -1;
			sleep_ms(1);
		}
	atomic_store(&pause_req, 1);
	for (int tries = 0; atomic_load(&paused) < THREADS; tries++) {
		if (tries > 60000)
			return -1;
		sleep_ms(1);
	}
	return 0;
}

NOIPA static void *old_here(size_t n, int lazy)
{
	void *p = lazy ? calloc(1, n) : malloc(n);
	KEEP(p);
	return p;
}

NOIPA static void *old_realloc_here(void *p, size_t n)
{
	void *q = realloc(p, n);
	KEEP(q);
	return q;
}

static void old_blocks(void)
{
	int bad = 0;
	size_t held = 0;
	for (int i = 0; i < OLD; i++)
		bad += malloc_usable_size(old[i]) != old_held[i];
	for (int i = 0; i < OLD; i += 2) {
		free(old[i]);
		old[i] = NULL;
	}
	for (int i = 1; i < OLD; i += 2) {
		old[i] = old_realloc_here(old[i], 2 * OLD_SIZE);
		held += malloc_usable_size(old[i]);
	}
	printf("old %s\n", bad ? "bad" : "ok");
	printf("held old_realloc_here %zu %d\n", held, OLD / 2);
}

static void *plugin_blocks[100]; /* kept: live in /heap */

static void plugin(const char *path)
{
	void *h = dlopen(path, RTLD_NOW);
	void *(*fn)(size_t, size_t *) = h ? (void *(*)(size_t, size_t *))dlsym(h, "late_plugin_here") : NULL;
	if (!fn) {
		printf("plugin: %s\n", dlerror());
		return;
	}
	size_t held = 0;
	for (int i = 0; i < 100; i++)
		plugin_blocks[i] = fn(1000, &held);
	printf("held late_plugin_here %zu 100\n", held);
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: late-target AGENT [--lazy]\n");
		return 2;
	}
	const char *agent = argv[1];
	int lazy = argc > 2 && strcmp(argv[2], "--lazy") == 0;
	setvbuf(stdout, NULL, _IOLBF, 0);
	for (int i = 0; i < OLD; i++) {
		old[i] = old_here(OLD_SIZE, lazy);
		old_held[i] = malloc_usable_size(old[i]);
	}
	pthread_t idle;
	pthread_create(&idle, NULL, lender, NULL);
	if (!lazy)
		start_workers();
	printf("ready %d\n", (int)getpid());
	static char line[4096];
	void *h = NULL;
	while (fgets(line, sizeof line, stdin)) {
		line[strcspn(line, "\n")] = '\0';
		char *arg = strchr(line, ' ');
		if (arg)
			*arg++ = '\0';
		int rc;
		if (strcmp(line, "attach") == 0) {
			rate_attached = arg ? atoll(arg) : 1;
			h = load(agent, rate_attached, &rc);
			for (int t = 0; t < THREADS; t++)
				W[t].at_attach = atomic_load(&W[t].iters);
			struct pprof_agent_header *hd = h ? dlsym(h, PPROF_AGENT_SYMBOL) : NULL;
			printf("attach %d %s\n", rc, hd ? hd->message : "");
		} else if (strcmp(line, "again") == 0) {
			int (*attach)(int64_t) = h ? (int (*)(int64_t))dlsym(h, PPROF_AGENT_ATTACH) : NULL;
			printf("again %d\n", attach ? attach(arg ? atoll(arg) : 1) : -2);
		} else if (strcmp(line, "copy") == 0) {
			load(agent, arg ? atoll(arg) : 1, &rc);
			printf("copy %d\n", rc);
		} else if (strcmp(line, "start") == 0) {
			start_workers();
			printf("started\n");
		} else if (strcmp(line, "pause") == 0) {
			if (pause_workers() < 0) {
				printf("pause timed out\n");
				continue;
			}
			report_held();
			printf("paused\n");
		} else if (strcmp(line, "loaded") == 0) {
			rate_attached = arg ? atoll(arg) : 1;
			for (int t = 0; t < THREADS; t++)
				W[t].at_attach = atomic_load(&W[t].iters);
			printf("loaded\n");
		} else if (strcmp(line, "resume") == 0) {
			atomic_store(&pause_req, 0);
			printf("resumed\n");
		} else if (strcmp(line, "old") == 0) {
			old_blocks();
		} else if (strcmp(line, "plugin") == 0 && arg) {
			plugin(arg);
		} else {
			printf("unknown command %s\n", line);
		}
	}
	return 0;
}
