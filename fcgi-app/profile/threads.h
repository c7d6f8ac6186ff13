/* threads: a dump of every thread's stack (ep/ep_threads.c takes it
 * through the collector and builds the stack endpoints' answers). */
#ifndef PF_THREADS_H
#define PF_THREADS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct thread_stack {
	pid_t tid;
	char name[16];
	char state;           /* R S D T t Z ..., E: exiting */
	const char *wait;     /* syscall blocked in, or NULL */
	uint64_t cpu_total_ns;
	bool without_stop;
	uint64_t *pcs;        /* leaf first */
	size_t npcs;
};

struct thread_dump {
	struct thread_stack *t; /* the main thread first, then by tid */
	size_t n, cap;
	uint64_t stops, held_ns_max;
	uint64_t lost;        /* threads asked to stop that did not in time: no stack */
};

void thread_dump_release(struct thread_dump *d);

#endif
