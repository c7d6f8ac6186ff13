/* perf_lend: the ptrace sampler lent to the perf_event sampler for its
 * ops' .waits and .snapshot (see perf_lend.c). */
#ifndef PF_PERF_LEND_H
#define PF_PERF_LEND_H

#include "collect/sampler.h"

#include <stdbool.h>

/* The ptrace sampler's off-CPU pass, or its snapshot pass, over host's
 * threads; *pt is the lent sampler, attached here on first use (NULL
 * until then), detached by its owner. Leaves the table's CPU time as it
 * was. */
void perf_lend_waits(struct sampler **pt, const struct sampler_host *host, bool settle,
		     struct sampler_stats *st);
void perf_lend_snapshot(struct sampler **pt, const struct sampler_host *host,
			struct sampler_stats *st);

#endif
