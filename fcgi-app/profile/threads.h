/* threads: a dump of every thread's stack, taken through the collector,
 * and what the stack endpoints build from it. */
#ifndef PF_THREADS_H
#define PF_THREADS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct ctx;
struct err;
struct profile;
struct buf;

struct thread_stack {
	pid_t tid;
	char name[16];
	char state;           /* R S D T t Z ... */
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

int thread_dump_take(struct ctx *ctx, pid_t pid, struct thread_dump *d, struct err *e);
void thread_dump_release(struct thread_dump *d);

enum threads_kind {
	THREADS_GOROUTINE,    /* each thread's stack */
	THREADS_THREADCREATE, /* each thread's start routine and what lies below */
};

/* The body of /goroutine or /threadcreate: debug 0 gzipped pprof (NAME/count,
 * identical stacks merged, thread names as labels), 1 Go's counts text, 2
 * one block per thread (goroutine only); seconds > 0: the pprof delta of a
 * window, as Go's. Sets *text when the body is text. */
int threads_profile(struct ctx *ctx, pid_t pid, enum threads_kind kind, int debug,
		    long seconds, struct buf *out, int *text, struct err *e);

#endif
