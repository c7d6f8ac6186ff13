/* ep_threads: what /goroutine and /threadcreate share: a thread dump
 * taken through the collector, and the answers built from it. */
#ifndef PF_EP_THREADS_H
#define PF_EP_THREADS_H

#include <sys/types.h>

struct buf;
struct ctx;
struct err;
struct params;
struct thread_dump;

int ep_threads_dump(struct ctx *ctx, pid_t pid, struct thread_dump *d, struct err *e);

enum threads_kind {
	THREADS_GOROUTINE,    /* each thread's stack */
	THREADS_THREADCREATE, /* each thread's start routine and what lies below */
};

/* The body of /goroutine or /threadcreate: debug 0 gzipped pprof (NAME/count,
 * identical stacks merged, thread names as labels), 1 Go's counts text, 2
 * one block per thread (goroutine only); seconds > 0: the pprof delta of a
 * window, as Go's. Sets *text when the body is text. */
int ep_threads_profile(struct ctx *ctx, pid_t pid, enum threads_kind kind, int debug,
		       long seconds, const struct params *pp, struct buf *out, int *text,
		       struct err *e);

#endif
