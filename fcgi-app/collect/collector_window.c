/* collector_window: one timed window of subscribers (collector.h), on
 * the collector's public calls: subscribe them all, wait out the window
 * or the target's end, unsubscribe, and say how it went. */
#include "collect/collector.h"

#include <string.h>
#include <time.h>

static int64_t ts_ns(const struct timespec *ts)
{
	return (int64_t)ts->tv_sec * 1000000000LL + ts->tv_nsec;
}

int collector_window(struct collector *c, pid_t pid, struct collector_sub **subs, size_t n,
		     long seconds, struct collector_window *w, struct err *e)
{
	memset(w, 0, sizeof *w);
	if (collector_check(c, pid, e) < 0)
		return -1;
	for (size_t i = 0; i < n; i++) /* off-CPU passes are ptrace's too */
		if (subs[i]->offcpu && collector_check_tracer(c, pid, e) < 0)
			return -1;
	struct timespec t0, wall0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	clock_gettime(CLOCK_REALTIME, &wall0);
	w->start_ns = ts_ns(&wall0);
	for (size_t i = 0; i < n; i++)
		if (collector_subscribe(c, pid, subs[i], e) < 0) {
			while (i-- > 0)
				collector_unsubscribe(c, subs[i]);
			return -1;
		}
	struct timespec deadline = t0;
	deadline.tv_sec += seconds;
	collector_wait(c, subs[0], &deadline);
	for (size_t i = 0; i < n; i++)
		collector_unsubscribe(c, subs[i]);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	w->duration_ns = ts_ns(&t1) - ts_ns(&t0);
	for (size_t i = 0; i < n; i++) {
		if (subs[i]->target_exited) {
			w->target_exited = true;
			w->exited_after_s = (double)(ts_ns(&subs[i]->exited_at) - w->start_ns) / 1e9;
		}
		if (subs[i]->target_execd) {
			w->target_execd = true;
			w->execd_after_s = (double)(ts_ns(&subs[i]->execd_at) - w->start_ns) / 1e9;
		}
	}
	for (size_t i = 0; i < n; i++)
		if (subs[i]->error.kind != ERR_NONE && !subs[i]->target_exited) {
			*e = subs[i]->error;
			return -1;
		}
	return 0;
}
