/* trace: a Perfetto trace (perfetto.protos.Trace) of the target's threads:
 * a process track, a track per thread, running and waiting slices, and
 * CPU samples with interned call stacks (function, file, line, mapping,
 * build-id) so ui.perfetto.dev shows a timeline and a flame graph. The only
 * includer of perfetto_trace.pb-c.h. Packets are encoded one at a time
 * straight into the output. */
#ifndef PF_TRACE_H
#define PF_TRACE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct buf;
struct err;
struct profile;

struct trace_thread {
	pid_t tid;
	char name[16];
};

struct trace_slice {
	pid_t tid;
	int64_t start_ns, end_ns; /* CLOCK_BOOTTIME */
	const char *name;         /* "running", "futex", "read fd 7 (pipe:[1234])" */
};

struct trace_sample {
	pid_t tid;
	int64_t ts_ns;
	size_t *locs;             /* location indices into the profile, leaf first */
	size_t nlocs;
};

/* Records the kernel lost (its buffer filled): switch-made slices are left
 * out from from_ns to to_ns, for thread tid, or for any (tid 0). */
struct trace_gap {
	pid_t tid;
	int cpu;                  /* the buffer's CPU; -1: tid's own, or several */
	int64_t from_ns, to_ns;
	uint64_t lost;
};

struct trace_data {
	pid_t pid;
	const char *process_name;
	const char *const *cmdline;
	size_t ncmdline;
	const struct trace_thread *threads;
	size_t nthreads;
	const struct trace_slice *slices;
	size_t nslices;
	const struct trace_sample *samples;
	size_t nsamples;
	const struct profile *symbols; /* symbolized locations and mappings */
	const struct trace_gap *gaps;  /* each on a track of its buffer's, named */
	size_t ngaps;
};

int trace_encode(const struct trace_data *d, struct buf *out, struct err *e);

#endif
