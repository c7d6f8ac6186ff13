/* churn: threads that test a CPU sampler's thread handling and kernel
 * frames. Each option starts its own threads; "ready PID" once they run.
 *
 *   churn [--read] [--sleepers N] [--leavers N] [--storm PER_SECOND] [--busy]
 *
 * --read: a thread "reader" reads /dev/zero into a 4 MiB buffer in a loop
 *   (its CPU time is nearly all the kernel's: clearing user memory).
 * --sleepers N: N threads "sleeper" blocked in pause() for good.
 * --leavers N: N threads "leaver" blocked until SIGUSR2, then exiting.
 * --storm R: a thread "spawner" creates R threads a second, each spending
 *   ~1 ms of its own CPU time (CLOCK_THREAD_CPUTIME_ID) in storm_work and
 *   exiting; short-lived threads a sampler must not lose.
 * --busy: a thread "busy" spinning in busy_spin. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static volatile uint64_t sink;

static int64_t thread_cpu_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void *reader(void *arg)
{
	(void)arg;
	pthread_setname_np(pthread_self(), "reader");
	int fd = open("/dev/zero", O_RDONLY | O_CLOEXEC);
	size_t size = 4 << 20;
	char *buf = malloc(size);
	if (fd < 0 || !buf)
		abort();
	for (;;)
		if (read(fd, buf, size) < 0)
			abort();
	return NULL;
}

static void *sleeper(void *arg)
{
	(void)arg;
	pthread_setname_np(pthread_self(), "sleeper");
	for (;;)
		pause();
	return NULL;
}

/* SIGUSR2 closes its write end: every leaver's read returns 0 */
static int leave_pipe[2] = { -1, -1 };

static void on_usr2(int sig)
{
	(void)sig;
	close(leave_pipe[1]);
}

static void *leaver(void *arg)
{
	(void)arg;
	pthread_setname_np(pthread_self(), "leaver");
	char c;
	while (read(leave_pipe[0], &c, 1) != 0)
		;
	return NULL;
}

__attribute__((noinline)) static void storm_work(void)
{
	int64_t end = thread_cpu_ns() + 1000000;
	while (thread_cpu_ns() < end)
		for (int i = 0; i < 1000; i++)
			sink += (uint64_t)i * 2654435761u;
}

static void *storm_thread(void *arg)
{
	(void)arg;
	storm_work();
	return NULL;
}

static void *spawner(void *arg)
{
	long rate = (long)(intptr_t)arg;
	pthread_setname_np(pthread_self(), "spawner");
	pthread_attr_t a;
	pthread_attr_init(&a);
	pthread_attr_setdetachstate(&a, PTHREAD_CREATE_DETACHED);
	pthread_attr_setstacksize(&a, 256 * 1024);
	struct timespec next;
	clock_gettime(CLOCK_MONOTONIC, &next);
	long step = 1000000000L / rate;
	for (;;) {
		pthread_t t;
		if (pthread_create(&t, &a, storm_thread, NULL) != 0)
			abort();
		next.tv_nsec += step;
		while (next.tv_nsec >= 1000000000L) {
			next.tv_nsec -= 1000000000L;
			next.tv_sec++;
		}
		clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &next, NULL);
	}
	return NULL;
}

__attribute__((noinline)) static void busy_spin(void)
{
	for (;;)
		for (int i = 0; i < 1000; i++)
			sink += (uint64_t)i * 2654435761u;
}

static void *busy(void *arg)
{
	(void)arg;
	pthread_setname_np(pthread_self(), "busy");
	busy_spin();
	return NULL;
}

static void start(void *(*fn)(void *), void *arg)
{
	pthread_t t;
	if (pthread_create(&t, NULL, fn, arg) != 0) {
		perror("pthread_create");
		exit(1);
	}
}

int main(int argc, char **argv)
{
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--read") == 0) {
			start(reader, NULL);
		} else if (strcmp(argv[i], "--busy") == 0) {
			start(busy, NULL);
		} else if (strcmp(argv[i], "--sleepers") == 0 && i + 1 < argc) {
			long n = strtol(argv[++i], NULL, 10);
			for (long k = 0; k < n; k++)
				start(sleeper, NULL);
		} else if (strcmp(argv[i], "--leavers") == 0 && i + 1 < argc) {
			long n = strtol(argv[++i], NULL, 10);
			if (pipe(leave_pipe) != 0 || signal(SIGUSR2, on_usr2) == SIG_ERR) {
				perror("leavers");
				return 1;
			}
			for (long k = 0; k < n; k++)
				start(leaver, NULL);
		} else if (strcmp(argv[i], "--storm") == 0 && i + 1 < argc) {
			long rate = strtol(argv[++i], NULL, 10);
			if (rate < 1)
				rate = 1;
			start(spawner, (void *)(intptr_t)rate);
		} else {
			fprintf(stderr, "usage: churn [--read] [--sleepers N] [--leavers N] [--storm PER_SECOND] "
				"[--busy]\n");
			return 2;
		}
	}
	printf("ready %d\n", (int)getpid());
	fflush(stdout);
	for (;;)
		pause();
}
