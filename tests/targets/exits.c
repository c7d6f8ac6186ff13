/* exits: threads that exit all the time, many at once. A spawner starts
 * 64 threads named "exiter" that wait at a barrier, lets them go together
 * (each returns at once), joins them and starts again. A thread dump taken
 * meanwhile finds some of them in their exit, where a tracer that asked
 * for exit stops (PTRACE_O_TRACEEXIT) holds them until it lets them go.
 * Prints "ready" once the first burst began; on SIGTERM prints "bursts N"
 * and exits. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>

#define BURST 64

static pthread_barrier_t go;
static atomic_int stop_requested;
static long bursts; /* the spawner's, read after its join */

static void *exiter(void *arg)
{
	pthread_setname_np(pthread_self(), "exiter");
	pthread_barrier_wait(&go);
	return arg;
}

static void *spawner(void *arg)
{
	pthread_setname_np(pthread_self(), "spawner");
	while (!stop_requested) {
		pthread_t t[BURST];
		pthread_barrier_init(&go, NULL, BURST + 1);
		for (int i = 0; i < BURST; i++)
			if (pthread_create(&t[i], NULL, exiter, NULL) != 0)
				abort();
		if (bursts == 0) {
			printf("ready\n");
			fflush(stdout);
		}
		pthread_barrier_wait(&go);
		for (int i = 0; i < BURST; i++)
			pthread_join(t[i], NULL);
		pthread_barrier_destroy(&go);
		bursts++;
	}
	return arg;
}

int main(void)
{
	sigset_t term;
	sigemptyset(&term);
	sigaddset(&term, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &term, NULL); /* inherited: main alone takes it */
	pthread_t t;
	if (pthread_create(&t, NULL, spawner, NULL) != 0)
		abort();
	int sig;
	sigwait(&term, &sig);
	stop_requested = 1;
	pthread_join(t, NULL);
	printf("bursts %ld\n", bursts);
	fflush(stdout);
	return 0;
}
