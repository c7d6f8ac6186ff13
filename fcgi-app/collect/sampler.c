#include "collect/sampler.h"

#include <stdarg.h>
#include <stdio.h>

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
