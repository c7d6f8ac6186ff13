/* perf_lend: the ptrace sampler lent to the perf_event sampler for what
 * perf events cannot do, off-CPU passes and thread dumps asked for while
 * a perf CPU profile runs. Separate from sampler_perf.c, which owns
 * perf_event_open and its ring buffers: this is the bookkeeping around
 * another sampler (attached on first use, the table's CPU time kept as
 * the perf sampler counts it), and sees neither events nor buffers. */
#include "collect/perf_lend.h"

#include "base/err.h"
#include "base/log.h"
#include "collect/tidtab.h"

#include <stdlib.h>

/* The inner ptrace sampler, attached on first use; NULL if it cannot. */
static struct sampler *lent_ptrace(struct sampler **pt, const struct sampler_host *host)
{
	if (*pt)
		return *pt;
	struct err e = { 0 };
	*pt = sampler_ptrace.attach(host, &e);
	if (*pt && sampler_ptrace.follow(*pt, &e) < 0)
		log_info("perf_event sampler: threads for a wait pass or dump: %s", e.msg);
	return *pt;
}

/* Runs a pass of the lent ptrace sampler: its CPU reads (schedstat) leave
 * the table's CPU time, which here counts sampled periods, as it was. */
static void lend(struct sampler **lent, const struct sampler_host *host,
		 void (*pass)(struct sampler *, struct sampler_stats *, uint64_t),
		 struct sampler_stats *st, uint64_t arg)
{
	struct sampler *pt = lent_ptrace(lent, host);
	if (!pt)
		return;
	struct tidtab *tt = host->threads;
	uint64_t *saved = malloc((tt->n + 1) * 2 * sizeof *saved);
	if (!saved)
		abort();
	size_t n = tt->n;
	for (size_t i = 0; i < n; i++) {
		saved[2 * i] = (uint64_t)tt->thr[i].tid;
		saved[2 * i + 1] = tt->thr[i].cpu_ns;
	}
	pass(pt, st, arg);
	for (size_t i = 0; i < n; i++) {
		struct thr *t = tidtab_find(tt, (pid_t)saved[2 * i]);
		if (t)
			t->cpu_ns = saved[2 * i + 1];
	}
	free(saved);
}

static void waits_pass(struct sampler *pt, struct sampler_stats *st, uint64_t settle)
{
	sampler_ptrace.waits(pt, settle != 0, st);
}

static void snapshot_pass(struct sampler *pt, struct sampler_stats *st, uint64_t unused)
{
	(void)unused;
	sampler_ptrace.snapshot(pt, st);
}

void perf_lend_waits(struct sampler **pt, const struct sampler_host *host, bool settle,
		     struct sampler_stats *st)
{
	lend(pt, host, waits_pass, st, settle);
}

void perf_lend_snapshot(struct sampler **pt, const struct sampler_host *host,
			struct sampler_stats *st)
{
	lend(pt, host, snapshot_pass, st, 0);
}
