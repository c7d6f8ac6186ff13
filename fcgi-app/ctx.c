#include "ctx.h"

#include "collect/collector.h"
#include "collect/heap.h"
#include "base/err.h"
#include "base/log.h"
#include "profile/kallsyms.h"
#include "profile/profile.h"
#include "profile/symbolize.h"

#include <string.h>
#include <time.h>

void ctx_read_modules(struct ctx *ctx, pid_t pid)
{
	struct err e = { 0 };
	pthread_mutex_lock(&ctx->sym_lock);
	symbolizer_attach(ctx->symbolizer, pid, &e);
	pthread_mutex_unlock(&ctx->sym_lock);
}

void ctx_symbolize(struct ctx *ctx, pid_t pid, struct profile *p)
{
	struct err e = { 0 };
	pthread_mutex_lock(&ctx->sym_lock);
	if (symbolizer_attach(ctx->symbolizer, pid, &e) < 0 ||
	    symbolize_profile(ctx->symbolizer, p, &e) < 0) {
		log_warn("symbolize pid %d: %s", (int)pid, e.msg);
		profile_add_comment(p, "not symbolized: %s", e.msg);
	}
	pthread_mutex_unlock(&ctx->sym_lock);
}

void ctx_name_kernel(struct ctx *ctx, struct profile *p)
{
	pthread_mutex_lock(&ctx->sym_lock);
	struct kallsyms *k = ctx->kallsyms ? ctx->kallsyms : kallsyms_new();
	kallsyms_name(k, p);
	if (k != ctx->kallsyms)
		kallsyms_free(k);
	pthread_mutex_unlock(&ctx->sym_lock);
}

void ctx_modules(struct ctx *ctx, pid_t pid,
		 void (*fn)(void *arg, const struct symbolize_debug *d), void *arg)
{
	struct err e = { 0 };
	pthread_mutex_lock(&ctx->sym_lock);
	if (symbolizer_attach(ctx->symbolizer, pid, &e) == 0)
		symbolize_modules(ctx->symbolizer, fn, arg);
	pthread_mutex_unlock(&ctx->sym_lock);
}

int ctx_symbolize_unloaded(struct ctx *ctx, struct profile *p, const struct symbolize_module *m,
			   struct err *e)
{
	pthread_mutex_lock(&ctx->sym_lock);
	int rc = symbolize_unloaded(ctx->symbolizer, p, m, e);
	pthread_mutex_unlock(&ctx->sym_lock);
	return rc;
}

void ctx_sleep(struct ctx *ctx, long seconds)
{
	struct timespec deadline;
	clock_gettime(CLOCK_MONOTONIC, &deadline);
	deadline.tv_sec += seconds;
	collector_sleep(ctx->collector, &deadline);
}

/* The address of data object name in pid's module whose file name contains
 * module, and the module's range; 1 when not loaded (under sym_lock). */
static int find_object(struct ctx *ctx, pid_t pid, const char *module, const char *name,
		       uint64_t *addr, uint64_t *lo, uint64_t *hi, struct err *e);

int ctx_heap_read(struct ctx *ctx, pid_t pid, struct heap_snapshot *s, struct err *e)
{
	uint64_t addr = 0, lo, hi;
	int rc = find_object(ctx, pid, HEAP_AGENT_FILE, PPROF_AGENT_SYMBOL, &addr, &lo, &hi, e);
	if (rc < 0) {
		memset(s, 0, sizeof *s);
		return -1;
	}
	return heap_read(pid, rc == 0 ? addr : 0, s, e);
}

static int find_object(struct ctx *ctx, pid_t pid, const char *module, const char *name,
		       uint64_t *addr, uint64_t *lo, uint64_t *hi, struct err *e)
{
	pthread_mutex_lock(&ctx->sym_lock);
	int rc = symbolizer_attach(ctx->symbolizer, pid, e);
	if (rc == 0)
		rc = symbolize_find_object(ctx->symbolizer, module, name, addr, lo, hi, e);
	pthread_mutex_unlock(&ctx->sym_lock);
	return rc;
}

void ctx_comment_sampling(struct ctx *ctx, enum sampler_kind kind, long hz,
			  const struct sampler_stats *st, struct profile *p)
{
	struct sampler_lines lines = { 0 };
	collector_comment(ctx->collector, kind, hz, st, &lines);
	for (size_t i = 0; i < lines.n; i++)
		profile_add_comment(p, "%s", lines.line[i]);
}
