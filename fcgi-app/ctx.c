#include "ctx.h"

#include "collect/agentload.h"
#include "collect/collector.h"
#include "collect/heap.h"
#include "collect/maphist.h"
#include "base/err.h"
#include "base/buf.h"
#include "base/log.h"
#include "collect/proc.h"
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
	size_t nh;
	struct maphist_entry *h = maphist_copy(ctx->maps, pid, &nh);
	pthread_mutex_lock(&ctx->sym_lock);
	if (symbolizer_attach(ctx->symbolizer, pid, &e) < 0 ||
	    symbolize_profile_history(ctx->symbolizer, p, h, nh, &e) < 0) {
		log_warn("symbolize pid %d: %s", (int)pid, e.msg);
		profile_add_comment(p, "not symbolized: %s", e.msg);
	}
	pthread_mutex_unlock(&ctx->sym_lock);
	maphist_free_copy(h, nh);
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

/* Whether pid maps a file whose name contains what. */
static bool maps_name(pid_t pid, const char *what)
{
	struct buf maps;
	buf_init(&maps, "maps", 64 << 20);
	uint64_t hash;
	struct err ignored = { 0 };
	bool found = proc_maps_read(pid, &maps, &hash, &ignored) == 0 && strstr(buf_cstr(&maps), what);
	buf_release(&maps);
	return found;
}

int ctx_agent_syms(struct ctx *ctx, pid_t pid, struct agentload_syms *s, struct err *e)
{
	static const char *libc = "libc.so.6";
	struct { uint64_t *addr; const char *name, *module, *fallback; } want[] = {
		{ &s->memfd_create, "memfd_create", libc, NULL },
		/* glibc 2.34 moved these from libdl into libc */
		{ &s->dlopen, "dlopen", libc, "libdl.so" },
		{ &s->dlerror, "dlerror", libc, "libdl.so" },
		{ &s->dlsym, "dlsym", libc, "libdl.so" },
	};
	/* before the look-up: an exec after it is then seen at the stop */
	s->exec_id = proc_exec_id(pid);
	if (maps_name(pid, "musl"))
		return err_set(e, ERR_INVALID, "cannot load the agent into pid %d: it runs on musl, "
			       "and the agent needs glibc", (int)pid);
	int rc = 0;
	uint64_t asan;
	pthread_mutex_lock(&ctx->sym_lock);
	if (symbolizer_attach(ctx->symbolizer, pid, e) < 0)
		rc = -1;
	/* ASan's runtime is the allocator, and it must come first in the
	 * library list: a preloaded agent is shadowed (0 stacks), one before
	 * it (verify_asan_link_order=0) crashed the target */
	else if (symbolize_find_function(ctx->symbolizer, "", "__asan_init", &asan, e) == 0)
		rc = err_set(e, ERR_INVALID, "cannot load the agent into pid %d: it is built with "
			     "ASan (-fsanitize=address), whose allocator the agent cannot wrap "
			     "(preloading does not help: ASan's malloc comes first and the agent sees "
			     "nothing); for heap profiles run a build without ASan, with "
			     "LD_PRELOAD=libpprof-agent.so or POST /agent", (int)pid);
	for (size_t i = 0; rc == 0 && i < sizeof want / sizeof want[0]; i++) {
		int found = symbolize_find_function(ctx->symbolizer, want[i].module, want[i].name,
						    want[i].addr, e);
		if (found == 1 && want[i].fallback)
			found = symbolize_find_function(ctx->symbolizer, want[i].fallback, want[i].name,
							want[i].addr, e);
		if (found < 0)
			rc = -1;
		/* its dynamic loader runs and has not mapped the C library yet:
		 * a passing state, not to be remembered as a static binary */
		else if (found == 1 && i == 0 && maps_name(pid, "/ld-linux") && !maps_name(pid, "/libc"))
			rc = err_set(e, ERR_BUSY, "pid %d is still starting (its dynamic loader has not "
				     "mapped the C library yet): POST again", (int)pid);
		else if (found == 1 && i == 0)
			rc = err_set(e, ERR_INVALID, "cannot load the agent into pid %d: it has no glibc "
				     "(a static binary?); start it with LD_PRELOAD instead, if it can",
				     (int)pid);
		else if (found == 1)
			rc = err_set(e, ERR_INVALID, "cannot load the agent into pid %d: its C library "
				     "has no %s (glibc before 2.34, without libdl loaded); start it with "
				     "LD_PRELOAD instead", (int)pid, want[i].name);
	}
	pthread_mutex_unlock(&ctx->sym_lock);
	return rc;
}

bool ctx_agent_vet(void *arg, const uint64_t *pcs, size_t n, char *why, size_t size)
{
	/* prefixes of functions whose locks or half-made state dlopen and the
	 * agent's constructor would meet again (the C library's internal
	 * names included: __libc_malloc, _int_free, _dl_open...) */
	static const char *const unfit[] = {
		"malloc", "free", "calloc", "realloc", "memalign", "posix_memalign", "aligned_alloc",
		"valloc", "pvalloc", "__libc_malloc", "__libc_free", "__libc_calloc",
		"__libc_realloc", "__libc_memalign", "_int_", "tcache", "arena_", "__malloc",
		"dlopen", "dlclose", "dlsym", "dlvsym", "dlmopen", "dl_iterate_phdr", "_dl_",
		"__dl", "__libc_dl", "fork", "__libc_fork", "_Fork", "__run_fork_handlers",
		"exit", "__run_exit_handlers", "__cxa_finalize", "__call_tls_dtors", "_IO_cleanup",
		"__restore_rt",
	};
	struct ctx *ctx = arg;
	struct buf name;
	buf_init(&name, "name", 4096);
	bool ok = true;
	pthread_mutex_lock(&ctx->sym_lock);
	for (size_t i = 0; ok && i < n; i++) {
		struct err ignored = { 0 };
		buf_reset(&name);
		if (symbolize_name(ctx->symbolizer, pcs[i], &name, &ignored) < 0)
			continue;
		for (size_t k = 0; ok && k < sizeof unfit / sizeof unfit[0]; k++)
			if (strncmp(buf_cstr(&name), unfit[k], strlen(unfit[k])) == 0) {
				snprintf(why, size, "a thread waits inside %.100s", buf_cstr(&name));
				ok = false;
			}
	}
	pthread_mutex_unlock(&ctx->sym_lock);
	buf_release(&name);
	return ok;
}
