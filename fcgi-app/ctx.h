/* ctx: what every request shares: the config and the target it names.
 * Built once in main; endpoints only read it. */
#ifndef PF_CTX_H
#define PF_CTX_H

#include "config.h"
#include "collect/proc.h"
#include "collect/sampler.h"

#include <limits.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct collector;
struct symbolizer;

/* What POST /agent remembers: the last load into a process, and its
 * answer, so that a failure is answered again without touching it. */
struct ctx_agent {
	pthread_mutex_t lock;
	pid_t pid;
	unsigned long long start;   /* proc_starttime: with pid, one process, */
	uint64_t exec;              /* proc_exec_id: one program of it */
	int status;                 /* 200: loaded; else the failure's */
	char line[640];             /* the answer */
	int64_t at_ns;              /* CLOCK_REALTIME of the load */
};

struct ctx {
	const struct config *cfg;
	struct target_spec target;
	pid_t self;
	struct collector *collector;   /* the one sampling loop */
	struct symbolizer *symbolizer; /* kept across requests, under sym_lock */
	struct kallsyms *kallsyms;     /* kernel symbols, the same; NULL: none kept */
	struct maphist *maps;          /* the target's mappings by time (the collector adds) */
	pthread_mutex_t sym_lock;
	char agent_path[PATH_MAX];     /* agent-path, or the agent built with pprof-fcgi */
	pid_t agent_test_tid;          /* tests: the thread a load seizes (0: picked) */
	const char *agent_test_pause;  /* tests: a load's step to stop at (inject_pause) */
	struct ctx_agent agent;
};

struct profile;
struct symbolize_module;
struct symbolize_debug;
struct err;

/* Reads (or refreshes) the target's modules for later symbolizing, under
 * sym_lock; best effort: a failure shows when symbolizing. */
void ctx_read_modules(struct ctx *ctx, pid_t pid);
/* Fills p's locations from the target's modules (under sym_lock); a
 * failure is said in a comment of p, never fails the request. */
void ctx_symbolize(struct ctx *ctx, pid_t pid, struct profile *p);
/* Names p's kernel frames (kallsyms_name) under sym_lock. */
void ctx_name_kernel(struct ctx *ctx, struct profile *p);
/* symbolize_modules (symbolize.h) of pid under sym_lock; nothing when its
 * modules cannot be read. */
void ctx_modules(struct ctx *ctx, pid_t pid,
		 void (*fn)(void *arg, const struct symbolize_debug *d), void *arg);
/* symbolize_unloaded (symbolize.h) under sym_lock. */
int ctx_symbolize_unloaded(struct ctx *ctx, struct profile *p, const struct symbolize_module *m,
			   struct err *e);
/* Adds to p the lines the collector's sampler says a user can act on
 * about a window of kind at hz (collector_comment). */
void ctx_comment_sampling(struct ctx *ctx, enum sampler_kind kind, long hz,
			  const struct sampler_stats *st, struct profile *p);
struct heap_snapshot;
/* heap_read of the agent's tables, found in pid's modules (under sym_lock);
 * s->present false when pid runs without the agent. */
int ctx_heap_read(struct ctx *ctx, pid_t pid, struct heap_snapshot *s, struct err *e);
struct agentload_syms;
/* The functions of pid's C library a load calls (under sym_lock):
 * ERR_INVALID saying why the target cannot load (musl, a static binary,
 * a glibc without dlopen, ASan). */
int ctx_agent_syms(struct ctx *ctx, pid_t pid, struct agentload_syms *s, struct err *e);
/* Whether a thread waiting with stack pcs[0..n) (leaf first) may lend
 * itself to a load (agentload_req's vet; arg is the ctx, for the target
 * the symbolizer is attached to): not inside the allocator, the dynamic
 * loader, fork, exit or a signal handler, whose locks or state the load's
 * dlopen would meet half-way; why names the function when not. */
bool ctx_agent_vet(void *arg, const uint64_t *pcs, size_t n, char *why, size_t size);
/* Sleeps seconds, less when pprof-fcgi is shutting down. */
void ctx_sleep(struct ctx *ctx, long seconds);

#endif
