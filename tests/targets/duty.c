/* duty: a thread ("duty") that runs 5 ms of its own CPU time, then sleeps
 * 5 ms, over and over, beside HOGS busy threads ("hog") that make it wait
 * for a CPU now and then: the ground truth of a timeline's running slices.
 *
 *   duty [HOGS]   (default: 1)
 *
 * Prints "ready PID TID" once running, then a line per sleep:
 * "sleep START END CPU CPU_END": CLOCK_BOOTTIME ns just before and just
 * after the sleep, and the duty thread's CPU ns (its own clock) just before
 * START and just after END. The CPU it ran between two sleeps is the
 * difference of their CPU; inside a sleep it runs too, in the kernel
 * (going to sleep, and woken: preempted there on a busy machine, a while),
 * CPU_END - CPU by its clock (which leaves out a VM's steal time). */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

static volatile uint64_t sink;

static int64_t now_ns(clockid_t clock)
{
	struct timespec ts;
	clock_gettime(clock, &ts);
	return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void burn(int64_t ns)
{
	int64_t end = now_ns(CLOCK_THREAD_CPUTIME_ID) + ns;
	uint64_t x = sink;
	while (now_ns(CLOCK_THREAD_CPUTIME_ID) < end)
		for (int i = 0; i < 1000; i++)
			x = x * 6364136223846793005ULL + 1442695040888963407ULL;
	sink = x;
}

static void *hog(void *arg)
{
	(void)arg;
	pthread_setname_np(pthread_self(), "hog");
	for (;;)
		burn(1000000000LL);
	return NULL;
}

int main(int argc, char **argv)
{
	int hogs = argc > 1 ? atoi(argv[1]) : 1;
	setvbuf(stdout, NULL, _IOLBF, 0);
	for (int i = 0; i < hogs; i++) {
		pthread_t t;
		pthread_create(&t, NULL, hog, NULL);
	}
	pthread_setname_np(pthread_self(), "duty");
	printf("ready %d %d\n", (int)getpid(), (int)gettid());
	struct timespec nap = { 0, 5000000 };
	for (;;) {
		burn(5000000);
		int64_t cpu = now_ns(CLOCK_THREAD_CPUTIME_ID);
		int64_t start = now_ns(CLOCK_BOOTTIME);
		nanosleep(&nap, NULL);
		int64_t end = now_ns(CLOCK_BOOTTIME);
		int64_t cpu_end = now_ns(CLOCK_THREAD_CPUTIME_ID);
		printf("sleep %lld %lld %lld %lld\n", (long long)start, (long long)end, (long long)cpu,
		       (long long)cpu_end);
	}
}
