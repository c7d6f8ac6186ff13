/* agentload: loads the heap agent into a running target through inject
 * (one thread lent, the others running on): a memfd made in the target,
 * the agent's file written into it from here (the target's root may not
 * hold it), dlopen("/proc/self/fd/N"), dlsym of pprof_agent_attach and its
 * call with the rate, the memfd closed by the trampoline as it leaves. */
#ifndef PF_AGENTLOAD_H
#define PF_AGENTLOAD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct collector;
struct err;

/* The target's functions the load calls (found by the caller in the
 * target's C library: collect/ reads no symbol tables), and the program
 * they were found in: proc_exec_id read before they were looked up (the
 * load stops if the target exec'd since). */
struct agentload_syms {
	uint64_t memfd_create, dlopen, dlerror, dlsym;
	uint64_t exec_id;
};

struct agentload_req {
	pid_t pid;
	pid_t tid;            /* the thread to lend itself; 0: picked */
	const char *path;     /* the agent's file, as pprof-fcgi sees it */
	int64_t rate;         /* pprof_agent_attach's argument */
	long timeout_ms;      /* each step's bound */
	const char *pause_at; /* tests: a step to pause at (inject_pause): "resolved" (before
			       * a thread is picked), "seized", "bootstrap", "after" */
	struct agentload_syms syms;
	/* Whether a thread waiting with stack pcs[0..n) (leaf first, unwound
	 * without a stop) may lend itself; why not into why. NULL: any. */
	bool (*vet)(void *arg, const uint64_t *pcs, size_t n, char *why, size_t size);
	void *vet_arg;
};

struct agentload_result {
	pid_t tid;            /* the thread lent */
	bool timed_out;       /* a call did not return in time */
	int attach_rc;        /* pprof_agent_attach's: 0 sampling, -1 refused */
	int64_t stop_ns;      /* the thread stopped (seized, until it ran the trampoline) */
	int64_t lent_ns;      /* out of its own code, stop and calls; 0: not seen back */
};

/* Loads; 0 with r->attach_rc when the agent's attach was called. Errors:
 * ERR_BUSY no thread could lend itself now, the target exec'd since
 * syms were found, or a step's answer did not come in time (the target
 * finishes it on its own); ERR_TARGET the target
 * exited; ERR_INVALID the agent file or the target cannot do it (the
 * text says which, with dlerror's); others as collector_call's. */
int agentload_run(struct collector *c, const struct agentload_req *req,
		  struct agentload_result *r, struct err *e);

#endif
