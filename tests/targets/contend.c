/* contend: an event-loop-like thread ("loop") running short CPU bursts in
 * three known functions, burst_a, burst_b and burst_c (about 4:2:1 of its CPU,
 * each timing itself by its own thread CPU clock, so preemption cannot
 * skew what it ran), with short sleeps between rounds, beside busy
 * threads ("hog") that compete with it for every core: the case where a
 * sampler that stops threads at a tick misattributes CPU time.
 *
 *   contend [HOGS [steady]]   (HOGS default: one per online CPU)
 *
 * Each round's bursts are scaled by one pseudo-random factor in [0.5, 1.5),
 * as an event loop's work varies from event to event: the shares stay
 * 4:2:1, the round's length does not repeat. "steady" leaves every round
 * alike to a few microseconds (the target before 2026-12-06), which a
 * sampler with a fixed period locks onto: at 500 Hz (2 periods ~ 5 rounds
 * of ~793 us of CPU) `perf record -e task-clock -c 2000000` read burst_b
 * 25.0-27.2% of the bursts' samples in 12 windows for 28.6% run, pprof-fcgi
 * 26.2-26.9%; on varying rounds both are within chance of the truth
 * (docs/sampling.md: the measurements, and why the samples gather).
 *
 * Prints "ready PID" once every thread runs; on SIGUSR1 prints
 * "ran A B C": the CPU ns each burst function really ran so far. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static volatile uint64_t sink;
static _Atomic int64_t ran[3]; /* CPU ns of burst_a, burst_b, burst_c */

static int64_t thread_cpu_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* Burns ns of this thread's CPU in batches of equal work between clock
 * reads, the same in each function: the clock's own (kernel) time is then
 * the same fraction of each. */
static inline int64_t burn(int64_t ns)
{
	int64_t start = thread_cpu_ns(), now = start;
	uint64_t x = sink;
	while (now < start + ns) {
		for (int i = 0; i < 4000; i++)
			x = x * 6364136223846793005ULL + 1442695040888963407ULL;
		now = thread_cpu_ns();
	}
	sink = x;
	return now - start;
}

/* Bursts of 433, 217 and 109 us times the round's scale in thousandths:
 * 759 us of bursts a round on average. */
__attribute__((noinline)) static void burst_a(int64_t k) { ran[0] += burn(433 * k); }
__attribute__((noinline)) static void burst_b(int64_t k) { ran[1] += burn(217 * k); }
__attribute__((noinline)) static void burst_c(int64_t k) { ran[2] += burn(109 * k); }

static void *loop(void *arg)
{
	bool steady = *(const bool *)arg;
	pthread_setname_np(pthread_self(), "loop");
	struct timespec nap = { 0, 200000 };
	uint64_t seed = 0x9e3779b97f4a7c15ULL;
	for (;;) {
		/* xorshift64: a scale in [500, 1500) thousandths, 1000 if steady */
		seed ^= seed << 13, seed ^= seed >> 7, seed ^= seed << 17;
		int64_t k = steady ? 1000 : 500 + (int64_t)(seed % 1000);
		burst_a(k);
		burst_b(k);
		burst_c(k);
		nanosleep(&nap, NULL); /* waiting for the next event */
	}
	return NULL;
}

static void *hog(void *arg)
{
	(void)arg;
	pthread_setname_np(pthread_self(), "hog");
	uint64_t x = 1;
	for (;;)
		x ^= x << 13, x ^= x >> 7, x ^= x << 17, sink = x;
	return NULL;
}

int main(int argc, char **argv)
{
	long hogs = argc > 1 ? strtol(argv[1], NULL, 10) : sysconf(_SC_NPROCESSORS_ONLN);
	bool steady = argc > 2 && strcmp(argv[2], "steady") == 0;
	sigset_t usr1;
	sigemptyset(&usr1);
	sigaddset(&usr1, SIGUSR1);
	pthread_sigmask(SIG_BLOCK, &usr1, NULL); /* taken by sigwait below */
	pthread_t t;
	pthread_create(&t, NULL, loop, &steady);
	for (long i = 0; i < hogs; i++)
		pthread_create(&t, NULL, hog, NULL);
	printf("ready %d\n", (int)getpid());
	fflush(stdout);
	for (;;) {
		int sig;
		if (sigwait(&usr1, &sig) != 0)
			return 1;
		printf("ran %lld %lld %lld\n", (long long)ran[0], (long long)ran[1], (long long)ran[2]);
		fflush(stdout);
	}
}
