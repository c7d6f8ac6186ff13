/* offcpu: where the target's threads wait, from the collector's wall-clock
 * passes over waiting threads: /block (every wait) and /mutex (waits in
 * lock acquisition). */
#ifndef PF_OFFCPU_H
#define PF_OFFCPU_H

#include <sys/types.h>

struct buf;
struct ctx;
struct err;

enum offcpu_kind { OFFCPU_BLOCK, OFFCPU_MUTEX };

/* The body for a window of seconds: gzipped pprof (contentions/count,
 * delay/nanoseconds, thread_name and wait labels) or, with debug=1, Go's
 * contention text (*text set). */
int offcpu_profile(struct ctx *ctx, pid_t pid, enum offcpu_kind kind, int debug, long seconds,
		   struct buf *out, int *text, struct err *e);

#endif
