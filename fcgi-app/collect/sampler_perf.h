/* sampler_perf: what the perf_event sampler answers besides its ops table
 * (sampler_perf in sampler.h). */
#ifndef PF_SAMPLER_PERF_H
#define PF_SAMPLER_PERF_H

#include <stdbool.h>
#include <sys/types.h>

struct collector_config;
struct err;

/* Whether perf_event_open works on pid (cc->perf_refused: taken to fail
 * with that errno). 0, or -1 with e saying why not. */
int sampler_perf_probe(const struct collector_config *cc, pid_t pid, struct err *e);

/* Whether nthreads threads x ncpu events (the per-CPU layout) would leave
 * too few of the open-file limit (RLIMIT_NOFILE, its soft limit raised to
 * the hard one at start): perf-layout = auto then takes a buffer per
 * thread (perf_thread.c). */
bool perf_thread_too_many(long nthreads, long ncpu);

#endif
