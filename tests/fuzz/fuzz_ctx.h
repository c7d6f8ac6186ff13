/* The context the request fuzzers share: config, target, collector and
 * symbolizer, made once per fuzzer process. */
#ifndef PF_FUZZ_CTX_H
#define PF_FUZZ_CTX_H

#include "collect/collector.h"
#include "config.h"
#include "ctx.h"
#include "profile/symbolize.h"

#include <sys/types.h>
#include <unistd.h>

static inline struct ctx *fuzz_ctx(pid_t target)
{
	static struct config cfg = { .max_seconds = 300, .threads = 1, .max_timed = 1 };
	static struct ctx ctx;
	if (!ctx.cfg) {
		ctx.cfg = &cfg;
		ctx.target.pid = target;
		ctx.self = getpid();
		ctx.collector = collector_new(&(struct collector_config){ .sampler = COLLECTOR_PTRACE, .self = getpid() });
		ctx.symbolizer = symbolizer_new();
		pthread_mutex_init(&ctx.sym_lock, NULL);
	}
	return &ctx;
}

#endif
