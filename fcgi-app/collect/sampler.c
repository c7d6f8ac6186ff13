#include "collect/sampler.h"

#include "base/err.h"
#include "collect/collector.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

void sampler_stats_add(struct sampler_stats *to, const struct sampler_stats *from)
{
	to->ticks += from->ticks;
	to->samples += from->samples;
	to->lost += from->lost;
	to->truncated += from->truncated;
	to->throttled += from->throttled;
	to->stops += from->stops;
	to->held_ns_total += from->held_ns_total;
	to->latency_ns_total += from->latency_ns_total;
	if (from->held_ns_max > to->held_ns_max)
		to->held_ns_max = from->held_ns_max;
	if (from->latency_ns_max > to->latency_ns_max)
		to->latency_ns_max = from->latency_ns_max;
	for (int b = 0; b < SAMPLER_HIST; b++)
		to->held_hist[b] += from->held_hist[b];
	to->waits_unwound += from->waits_unwound;
	to->waits_without_stop += from->waits_without_stop;
	to->waits_reused += from->waits_reused;
	to->not_running += from->not_running;
	to->late += from->late;
	to->waiting += from->waiting;
	to->eintr_undone += from->eintr_undone;
	to->threads_unsampled += from->threads_unsampled;
	to->kernel_samples += from->kernel_samples;
	to->unsampled_ns += from->unsampled_ns;
	if (from->kernel_refused)
		to->kernel_refused = from->kernel_refused;
	if (from->layout) {
		to->layout = from->layout;
		to->layout_why = from->layout_why;
	}
	to->threads_unbuffered += from->threads_unbuffered;
	if (from->unbuffered_errno)
		to->unbuffered_errno = from->unbuffered_errno;
}

double sampler_held_quantile(const struct sampler_stats *st, double q)
{
	uint64_t total = 0, seen = 0;
	for (int b = 0; b < SAMPLER_HIST; b++)
		total += st->held_hist[b];
	if (!total)
		return 0;
	for (int b = 0; b < SAMPLER_HIST; b++) {
		seen += st->held_hist[b];
		if ((double)seen >= q * (double)total)
			return (double)(b + 1);
	}
	return (double)SAMPLER_HIST;
}

void sampler_line(struct sampler_lines *out, const char *fmt, ...)
{
	if (out->n >= SAMPLER_LINES)
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(out->line[out->n++], SAMPLER_LINE, fmt, ap);
	va_end(ap);
}

/* A snapshot as a job: the threads followed now, then every one's stack. */
static int snapshot_job(struct collector_job *job, struct err *e)
{
	if (!job->ops->snapshot)
		return err_set(e, ERR_INTERNAL, "the %s sampler takes no thread dumps", job->ops->name);
	if (job->ops->follow(job->sampler, e) < 0)
		return -1;
	job->ops->snapshot(job->sampler, &job->stats);
	return COLLECTOR_JOB_DONE;
}

/* a thread may be stopped up to 100 ms for its stack: a minute is a
 * process of hundreds of threads none of which stops */
#define SNAPSHOT_TIMEOUT_MS 60000

int collector_snapshot(struct collector *c, pid_t pid, struct collector_sub *sub,
		       struct err *e)
{
	struct collector_job job = {
		.fn = snapshot_job, .arg = sub->arg, .on_sample = sub->on_sample,
		.timeout_ms = SNAPSHOT_TIMEOUT_MS,
	};
	memset(&sub->stats, 0, sizeof sub->stats);
	int rc = collector_call(c, pid, &job, e);
	sub->stats = job.stats;
	return rc;
}
