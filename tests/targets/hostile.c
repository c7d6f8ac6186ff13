/* hostile: a target that makes unwinding hard and counts its signals.
 *   - thread "anon-exec" spins in anonymous executable memory (no ELF, no
 *     unwind info);
 *   - thread "bad-stack" spins with its stack pointer in a buffer of garbage;
 *   - the main thread handles SIGRTMIN (queued, so none may be lost) and
 *     SIGUSR1, and on SIGTERM prints "signals rt N usr1 M" and exits.
 * Prints "ready PID" once both odd threads spin. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

static volatile sig_atomic_t rt_count, usr1_count, stop_requested;
static volatile int spinning;
static unsigned char garbage[65536] __attribute__((aligned(64)));

static void on_rt(int sig) { (void)sig; rt_count++; }
static void on_usr1(int sig) { (void)sig; usr1_count++; }
static void on_term(int sig) { (void)sig; stop_requested = 1; }

static void block_all(void)
{
	sigset_t all;
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, NULL);
}

static void *anon_exec(void *arg)
{
	(void)arg;
	pthread_setname_np(pthread_self(), "anon-exec");
	block_all();
	unsigned char *page = mmap(NULL, 4096, PROT_READ | PROT_WRITE | PROT_EXEC,
				   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (page == MAP_FAILED)
		return NULL;
	page[0] = 0xeb; /* jmp . */
	page[1] = 0xfe;
	__sync_fetch_and_add(&spinning, 1);
	((void (*)(void))page)();
	return NULL;
}

static void *bad_stack(void *arg)
{
	(void)arg;
	pthread_setname_np(pthread_self(), "bad-stack");
	block_all();
	for (size_t i = 0; i < sizeof garbage; i++)
		garbage[i] = (unsigned char)(0x41 + i % 7);
	__sync_fetch_and_add(&spinning, 1);
	/* the stack pointer into the garbage, frame pointer too; spin there */
	__asm__ volatile("lea %0, %%rsp\n\t"
			 "mov %%rsp, %%rbp\n\t"
			 "1: jmp 1b\n\t"
			 :
			 : "m"(garbage[sizeof garbage / 2]));
	return NULL;
}

int main(void)
{
	struct sigaction sa = { .sa_handler = on_rt };
	sigaction(SIGRTMIN, &sa, NULL);
	sa.sa_handler = on_usr1;
	sigaction(SIGUSR1, &sa, NULL);
	sa.sa_handler = on_term;
	sigaction(SIGTERM, &sa, NULL);
	pthread_t a, b;
	pthread_create(&a, NULL, anon_exec, NULL);
	pthread_create(&b, NULL, bad_stack, NULL);
	while (spinning < 2) {
		struct timespec ts = { 0, 1000000 };
		nanosleep(&ts, NULL);
	}
	printf("ready %d\n", (int)getpid());
	fflush(stdout);
	while (!stop_requested) {
		struct timespec ts = { 0, 10000000 };
		nanosleep(&ts, NULL);
	}
	printf("signals rt %d usr1 %d\n", (int)rt_count, (int)usr1_count);
	fflush(stdout);
	_exit(0); /* the odd threads never return */
}
