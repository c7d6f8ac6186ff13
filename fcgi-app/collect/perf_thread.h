/* perf_thread: the perf_event sampler's fallback layout, an event and a
 * ring buffer per thread (no inherit): used when threads x CPUs events
 * would pass the open-file limit, when the per-CPU buffers are refused, or
 * when perf-layout = per-thread. Threads created later are opened on their
 * FORK record (attr.task), so their first moments are not sampled; a
 * thread's buffer is closed once its EXIT record is read. Each buffer is
 * locked memory: past RLIMIT_MEMLOCK (and perf_event_mlock_kb) a thread
 * gets no buffer and is not sampled, which the profile's comment says.
 * Private to the perf sampler (sampler_perf.c, perf_rec.c). */
#ifndef PF_PERF_THREAD_H
#define PF_PERF_THREAD_H

#include "collect/perf_rec.h"
#include "collect/sampler_perf.h" /* perf_thread_too_many */

/* Opens tid's event and buffer; 0 also when it is gone or no buffer could
 * be locked for it (counted), -1 with e when perf_event_open refuses. */
int perf_thread_open(struct sampler *s, pid_t tid, struct err *e);
/* After a drain: opens the threads whose FORK record was read, closes the
 * buffers of those whose EXIT record was. */
void perf_thread_tend(struct sampler *s);
/* Closes every per-thread event and buffer (after a last drain). */
void perf_thread_close_all(struct sampler *s);

#endif
