/* POST MOUNT/agent: loads the heap agent into the running target, once.
 * Every load and refusal is logged with the pid, the result and the user
 * the web server passed; a failure is remembered for that process and
 * answered again without touching it, unless ?retry=1. */
#include "ep/ep.h"

#include "base/clock.h"
#include "base/err.h"
#include "base/log.h"
#include "collect/agentload.h"
#include "collect/heap.h"
#include "collect/proc.h"
#include "ctx.h"
#include "edge/http.h"

#include <elf.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* An ELF of x86-64: what the trampoline is written for. */
static bool x86_64_target(pid_t pid)
{
	char path[64];
	Elf64_Ehdr h;
	snprintf(path, sizeof path, "/proc/%d/exe", (int)pid);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return true; /* unreadable: the load says what fails */
	bool ok = read(fd, &h, sizeof h) != (ssize_t)sizeof h || h.e_ident[EI_CLASS] != ELFCLASS64 ||
		  h.e_machine == EM_X86_64;
	close(fd);
	return ok;
}

/* What the target allows before anything touches it: the status and line
 * of a refusal, or 0. */
static int refusal(struct ctx *ctx, pid_t pid, char *line, size_t size)
{
#if !defined(__x86_64__)
	snprintf(line, size, "cannot load the agent into pid %d: pprof-fcgi loads it on x86-64 "
		 "only; start the target with LD_PRELOAD instead", (int)pid);
	return 501;
#endif
	if (!x86_64_target(pid)) {
		snprintf(line, size, "cannot load the agent into pid %d: it is not an x86-64 program; "
			 "start it with LD_PRELOAD of an agent built for it", (int)pid);
		return 501;
	}
	char mode[16];
	if (proc_status_value(pid, "Seccomp", mode, sizeof mode) && strcmp(mode, "0") != 0 &&
	    (strcmp(mode, "2") != 0 || !ctx->cfg->agent_load_seccomp ||
	     strcmp(ctx->cfg->agent_load_seccomp, "try") != 0)) {
		snprintf(line, size, "refused to load the agent into pid %d: it runs under seccomp "
			 "(mode %s), whose filter may kill it for the load's mmap or memfd_create; "
			 "set agent-load-seccomp = try to risk it, or start it with LD_PRELOAD",
			 (int)pid, mode);
		return 403;
	}
	return 0;
}

static int status_of(const struct err *e, const struct agentload_result *r)
{
	if (r->timed_out)
		return 504;
	if (e->kind == ERR_INVALID)
		return 501;
	return http_status(e->kind);
}

/* Loads into pid; fills status and line. */
static void load(struct ctx *ctx, pid_t pid, int *status, char *line, size_t size)
{
	struct err e = { 0 };
	struct agentload_req lr = {
		.pid = pid,
		.tid = ctx->agent_test_tid,
		.path = ctx->agent_path,
		.rate = ctx->cfg->agent_rate,
		.timeout_ms = ctx->cfg->agent_load_timeout * 1000,
		.pause_at = ctx->agent_test_pause,
		.vet = ctx_agent_vet,
		.vet_arg = ctx,
	};
	struct agentload_result r = { 0 };
	if ((*status = refusal(ctx, pid, line, size)) != 0)
		return;
	if (ctx_agent_syms(ctx, pid, &lr.syms, &e) < 0 ||
	    agentload_run(ctx->collector, &lr, &r, &e) < 0) {
		*status = status_of(&e, &r);
		snprintf(line, size, "%s", e.msg);
		return;
	}
	char at[32];
	ep_utc(clock_ns(CLOCK_REALTIME), at, sizeof at);
	if (r.attach_rc != 0) {
		struct heap_snapshot s;
		bool why = ctx_heap_read(ctx, pid, &s, &e) == 0 && s.present && s.h.message[0];
		*status = 500;
		snprintf(line, size, "the agent loaded into pid %d refused to start: %s", (int)pid,
			 why ? s.h.message : "no reason given in its header");
		heap_snapshot_release(&s);
		return;
	}
	*status = 200;
	snprintf(line, size, "agent loaded into pid %d at %s", (int)pid, at);
	log_info("agent load: pid %d: thread %d stopped %.3f ms, lent %.3f ms", (int)pid,
		 (int)r.tid, (double)r.stop_ns / 1e6, (double)r.lent_ns / 1e6);
}

int ep_agent_load(struct ctx *ctx, pid_t pid, const char *who, bool retry, bool polled,
		  char *line, size_t size, struct err *e)
{
	struct heap_snapshot s;
	if (ctx_heap_read(ctx, pid, &s, e) < 0) {
		heap_snapshot_release(&s); /* what was read before the failure */
		return -1;
	}
	char since[32];
	if (s.present) {
		ep_utc((int64_t)s.h.since_ns, since, sizeof since);
		snprintf(line, size, "agent already present since %s (%s)", since,
			 s.h.origin == PPROF_AGENT_LOADED ? "loaded" : "preloaded");
		heap_snapshot_release(&s);
		return 200;
	}
	heap_snapshot_release(&s);
	/* one process: an exec keeps the pid and start time, not the auxv */
	unsigned long long start = proc_starttime(pid);
	uint64_t exec = proc_exec_id(pid);
	int status = 0;
	pthread_mutex_lock(&ctx->agent.lock);
	struct ctx_agent *a = &ctx->agent;
	bool same = a->pid == pid && a->start == start && a->exec == exec && start;
	/* a 503 (no thread could lend itself now, the target busy) says
	 * "retry later": not an answer to keep */
	if (same && a->status == 503)
		retry = true;
	if (same) {
		if (a->status == 200) {
			ep_utc(a->at_ns, since, sizeof since);
			snprintf(line, size, "agent already present since %s (loaded)", since);
			status = 200;
		} else if (!retry) {
			snprintf(line, size, "%.560s (the last load's answer: POST with ?retry=1 to "
				 "try again)", a->line);
			status = a->status;
		}
	}
	if (!status) {
		int before = same ? a->status : 0;
		/* under the lock: one load at a time */
		load(ctx, pid, &status, line, size);
		a->pid = pid;
		a->start = start;
		a->exec = exec;
		a->status = status;
		a->at_ns = clock_ns(CLOCK_REALTIME);
		snprintf(a->line, sizeof a->line, "%s", line);
		/* a poller's tries that end as the last did are said once */
		if (!polled || status != before)
			log_info("agent load: pid %d user %s: %d %s", (int)pid, who, status, line);
	}
	pthread_mutex_unlock(&ctx->agent.lock);
	return status;
}

int ep_agent(struct ctx *ctx, const struct req *req, struct resp *resp, struct err *e)
{
	pid_t pid = req->pid;
	const char *user = req->remote_user && *req->remote_user ? req->remote_user : "-";
	if (ctx->cfg->agent_load && strcmp(ctx->cfg->agent_load, "never") == 0) {
		log_info("agent load: pid %d user %s: refused (agent-load = never)", (int)pid, user);
		resp_error(resp, 403, "loading the agent is off here (agent-load = never): start the "
			   "target with LD_PRELOAD=libpprof-agent.so for heap profiles");
		return 0;
	}
	char line[sizeof ctx->agent.line];
	int status = ep_agent_load(ctx, pid, user, req->params.retry, false, line, sizeof line, e);
	if (status < 0)
		return -1;
	resp_error(resp, status, line);
	return 0;
}
