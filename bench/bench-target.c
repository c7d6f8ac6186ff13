/* bench-target: N threads doing fixed units of CPU work for a number of
 * seconds, then printing their throughput and the pauses they noticed.
 *
 *   bench-target [--threads N] [--seconds S] [--idle N] [--gate 1]
 *
 * Each thread reads CLOCK_MONOTONIC between work units of about 2 us; a gap
 * over 20 us is time the thread did not run (preempted, interrupted by a
 * sampling tick, or stopped by a profiler). Output, one line:
 * "units_per_s U gaps G gap_p50_us A gap_p99_us B gap_max_us C cpu_s D"
 * (D: the process's CPU time over the run). Prints "ready PID" first.
 * --idle N adds N threads asleep for the whole run (what a profiler must
 * not pay for). --gate 1 holds the work (and its clocks) after "ready"
 * until a SIGUSR1: a profiler can attach first, so that it samples the
 * whole run whatever its start-up takes. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define MAX_GAPS 200000
#define GAP_NS 20000 /* a unit takes ~2 us: 20 us without running is a pause */

static double seconds = 10;
static pthread_barrier_t start;

struct worker {
	uint64_t units;
	uint32_t *gaps; /* in ns */
	size_t ngaps;
};

static int64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

__attribute__((noinline)) static uint64_t work_unit(uint64_t x)
{
	for (int i = 0; i < 2000; i++)
		x = x * 6364136223846793005ULL + 1442695040888963407ULL;
	return x;
}

static void *run(void *arg)
{
	struct worker *w = arg;
	pthread_barrier_wait(&start);
	int64_t t0 = now_ns(), end = t0 + (int64_t)(seconds * 1e9), prev = t0;
	uint64_t x = 1;
	for (int64_t t = t0; t < end; ) {
		x = work_unit(x);
		w->units++;
		t = now_ns();
		if (t - prev > GAP_NS && w->ngaps < MAX_GAPS)
			w->gaps[w->ngaps++] = (uint32_t)((t - prev) > UINT32_MAX ? UINT32_MAX : (t - prev));
		prev = t;
	}
	if (x == 42)
		puts("");
	return NULL;
}

static void *idle(void *arg)
{
	(void)arg;
	for (;;)
		pause();
	return NULL;
}

static double cpu_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
	int n = 2, nidle = 0, gate = 0;
	for (int i = 1; i + 1 < argc; i += 2) {
		if (!strcmp(argv[i], "--threads"))
			n = atoi(argv[i + 1]);
		else if (!strcmp(argv[i], "--seconds"))
			seconds = atof(argv[i + 1]);
		else if (!strcmp(argv[i], "--idle"))
			nidle = atoi(argv[i + 1]);
		else if (!strcmp(argv[i], "--gate"))
			gate = atoi(argv[i + 1]);
	}
	if (n < 1 || n > 256 || seconds <= 0 || nidle < 0 || nidle > 100000) {
		fprintf(stderr, "usage: bench-target [--threads N] [--seconds S] [--idle N] [--gate 1]\n");
		return 2;
	}
	/* blocked in every thread (inherited), taken by sigwait alone */
	sigset_t go;
	sigemptyset(&go);
	sigaddset(&go, SIGUSR1);
	pthread_sigmask(SIG_BLOCK, &go, NULL);
	struct worker *w = calloc((size_t)n, sizeof *w);
	pthread_t *t = calloc((size_t)n, sizeof *t);
	pthread_barrier_init(&start, NULL, (unsigned)n + 1);
	for (int i = 0; i < n; i++) {
		w[i].gaps = malloc(MAX_GAPS * sizeof *w[i].gaps);
		pthread_create(&t[i], NULL, run, &w[i]);
	}
	for (int i = 0; i < nidle; i++) {
		pthread_t it;
		pthread_attr_t a;
		pthread_attr_init(&a);
		pthread_attr_setstacksize(&a, 64 << 10);
		if (pthread_create(&it, &a, idle, NULL)) {
			fprintf(stderr, "bench-target: cannot start idle thread %d\n", i);
			return 1;
		}
		pthread_attr_destroy(&a);
	}
	printf("ready %d\n", (int)getpid());
	fflush(stdout);
	int sig;
	if (gate)
		sigwait(&go, &sig);
	pthread_barrier_wait(&start);
	double cpu0 = cpu_now();
	uint64_t units = 0;
	size_t ngaps = 0;
	for (int i = 0; i < n; i++) {
		pthread_join(t[i], NULL);
		units += w[i].units;
		ngaps += w[i].ngaps;
	}
	uint32_t *all = malloc((ngaps + 1) * sizeof *all);
	size_t k = 0;
	for (int i = 0; i < n; i++)
		for (size_t j = 0; j < w[i].ngaps; j++)
			all[k++] = w[i].gaps[j];
	qsort(all, ngaps, sizeof *all, cmp_u32);
	double cpu = cpu_now() - cpu0;
	printf("units_per_s %.0f gaps %zu gap_p50_us %.1f gap_p99_us %.1f gap_max_us %.1f cpu_s %.3f\n",
	       (double)units / seconds, ngaps, ngaps ? all[ngaps / 2] / 1e3 : 0.0,
	       ngaps ? all[ngaps * 99 / 100] / 1e3 : 0.0, ngaps ? all[ngaps - 1] / 1e3 : 0.0, cpu);
	return 0;
}
