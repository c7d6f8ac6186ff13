/* cpu-split: two threads, each spending 3/4 of its CPU time in spin_hot and
 * 1/4 in spin_cold (by its own thread CPU clock, so preemption cannot skew
 * the split), so a CPU profile must attribute 75% / 25%.
 *
 *   cpu-split [--exit-after SECONDS]
 *
 * Prints "ready PID" once both threads run. */
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

static volatile sig_atomic_t stop_requested;
static pthread_barrier_t started;
static volatile uint64_t sink;

static int64_t thread_cpu_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* Burns ns of this thread's CPU time; the clock is read rarely, so that
 * the time is spent in this function and not in the vDSO. */
__attribute__((noinline)) static void spin_hot(int64_t ns)
{
	int64_t end = thread_cpu_ns() + ns;
	uint64_t x = sink;
	while (thread_cpu_ns() < end)
		for (int i = 0; i < 200000; i++)
			x = x * 6364136223846793005ULL + 1442695040888963407ULL;
	sink = x;
}

__attribute__((noinline)) static void spin_cold(int64_t ns)
{
	int64_t end = thread_cpu_ns() + ns;
	uint64_t x = sink;
	while (thread_cpu_ns() < end)
		for (int i = 0; i < 200000; i++)
			x ^= x << 13, x ^= x >> 7, x ^= x << 17;
	sink = x;
}

static void *worker(void *arg)
{
	pthread_setname_np(pthread_self(), (const char *)arg);
	pthread_barrier_wait(&started);
	while (!stop_requested) {
		spin_hot(3000000);
		spin_cold(1000000);
	}
	return NULL;
}

static void on_signal(int sig)
{
	(void)sig;
	stop_requested = 1;
}

int main(int argc, char **argv)
{
	long exit_after = 0;
	if (argc == 3 && strcmp(argv[1], "--exit-after") == 0)
		exit_after = strtol(argv[2], NULL, 10);
	else if (argc != 1) {
		fprintf(stderr, "usage: cpu-split [--exit-after SECONDS]\n");
		return 2;
	}
	struct sigaction sa = { .sa_handler = on_signal };
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	pthread_barrier_init(&started, NULL, 3);
	pthread_t a, b;
	pthread_create(&a, NULL, worker, "split-a");
	pthread_create(&b, NULL, worker, "split-b");
	pthread_barrier_wait(&started);
	printf("ready %d\n", (int)getpid());
	fflush(stdout);
	struct timespec t0, now;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	while (!stop_requested) {
		struct timespec ts = { 0, 50000000 };
		nanosleep(&ts, NULL);
		clock_gettime(CLOCK_MONOTONIC, &now);
		if (exit_after && now.tv_sec - t0.tv_sec >= exit_after)
			break;
	}
	stop_requested = 1;
	pthread_join(a, NULL);
	pthread_join(b, NULL);
	return 0;
}
