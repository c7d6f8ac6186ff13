/* alloc-bench: an allocation-heavy workload for the agent's benchmark.
 *
 *   alloc-bench THREADS SECONDS [pair|use|service] [ticks]
 *
 * Each thread keeps 1,024 slots and replaces a random one at every step:
 * free the old block, malloc a new one of 16..1,024 bytes (one in 64 up to
 * 64 KiB) and write its first byte. Prints "ops N ns_per_op X" for the
 * whole run. "pair": a single tight malloc(64)/free loop instead, for the
 * cost per malloc+free pair of the unsampled path. "use": the new block is
 * written in full, as a program that allocates memory fills it, and
 * nothing else: malloc and free are still about 40% of the time.
 * "service": each step also does about 200 ns of other work first (a hash
 * over its block), so that malloc and free are about a tenth of the time,
 * as in a service that allocates a lot but does something with it.
 * "ticks": the main thread also prints "tick NS OPS CPU_NS" every 100 ms
 * (the monotonic clock, the operations done so far, the process's CPU
 * time), for a bench that measures the throughput of windows of a run
 * (before and after the agent is loaded into it); the workers publish
 * their count every 4,096 operations. */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct worker {
	pthread_t t;
	int id;
	double seconds;
	int pair, use, service;
	uint64_t ops;
	uint64_t done;          /* ops so far, for "ticks" */
};

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void *run(void *arg)
{
	struct worker *w = arg;
	uint64_t s = 0x9E3779B97F4A7C15ULL * (uint64_t)(w->id + 1), ops = 0;
	void *slots[1024] = { 0 };
	void *volatile sink;
	double end = now() + w->seconds;
	while (now() < end) {
		for (int k = 0; k < 4096; k++) {
			if (w->pair) {
				sink = malloc(64);
				free(sink);
				continue;
			}
			s ^= s << 13;
			s ^= s >> 7;
			s ^= s << 17;
			size_t i = s & 1023;
			size_t n = 16 + ((s >> 10) & 1008);
			if (((s >> 20) & 63) == 0)
				n = 1024 + ((s >> 26) & 65535);
			if (w->service && slots[i]) {
				/* the work: FNV-1a, 12 times over the block's first
				 * 16 bytes (every block has them) */
				const unsigned char *b = slots[i];
				uint64_t h = 0xcbf29ce484222325ULL;
				for (int r = 0; r < 12; r++)
					for (size_t j = 0; j < 16; j++)
						h = (h ^ b[j]) * 0x100000001b3ULL;
				sink = (void *)(uintptr_t)h;
			}
			free(slots[i]);
			char *p = malloc(n);
			if (w->use)
				memset(p, (int)s, n);
			else if (w->service)
				memset(p, (int)s, 16);
			else
				p[0] = 1;
			slots[i] = p;
		}
		ops += 4096;
		__atomic_store_n(&w->done, ops, __ATOMIC_RELAXED);
	}
	for (int i = 0; i < 1024; i++)
		free(slots[i]);
	w->ops = ops;
	return NULL;
}

int main(int argc, char **argv)
{
	if (argc < 3) {
		fprintf(stderr, "usage: alloc-bench THREADS SECONDS [pair|use|service] [ticks]\n");
		return 2;
	}
	const char *mode = argc > 3 ? argv[3] : "";
	int ticks = argc > 4 && !strcmp(argv[4], "ticks");
	if (!strcmp(mode, "ticks")) {
		mode = "";
		ticks = 1;
	}
	if ((*mode && strcmp(mode, "pair") && strcmp(mode, "use") && strcmp(mode, "service")) ||
	    (argc > 4 && !ticks)) {
		fprintf(stderr, "alloc-bench: unknown mode \"%s\" (pair, use or service, then ticks)\n",
			argc > 4 && !ticks ? argv[4] : mode);
		return 2;
	}
	int n = atoi(argv[1]);
	struct worker *w = calloc((size_t)n, sizeof *w);
	double t0 = now();
	for (int i = 0; i < n; i++) {
		w[i] = (struct worker){ .id = i, .seconds = atof(argv[2]),
					.pair = !strcmp(mode, "pair"),
					.use = !strcmp(mode, "use"),
					.service = !strcmp(mode, "service") };
		pthread_create(&w[i].t, NULL, run, &w[i]);
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	for (double end = t0 + atof(argv[2]); ticks && now() < end;) {
		struct timespec tick = { 0, 100 * 1000 * 1000 };
		nanosleep(&tick, NULL);
		uint64_t sum = 0;
		for (int i = 0; i < n; i++)
			sum += __atomic_load_n(&w[i].done, __ATOMIC_RELAXED);
		struct timespec cpu;
		clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &cpu);
		printf("tick %.0f %llu %.0f\n", now() * 1e9, (unsigned long long)sum,
		       cpu.tv_sec * 1e9 + cpu.tv_nsec);
	}
	uint64_t ops = 0;
	for (int i = 0; i < n; i++) {
		pthread_join(w[i].t, NULL);
		ops += w[i].ops;
	}
	double el = now() - t0;
	printf("ops %llu ns_per_op %.2f\n", (unsigned long long)ops, el * 1e9 * n / (double)ops);
	free(w);
	return 0;
}
