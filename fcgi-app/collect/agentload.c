#include "collect/agentload.h"

#include "base/buf.h"
#include "base/clock.h"
#include "base/err.h"
#include "collect/collector.h"
#include "collect/inject.h"
#include "collect/proc.h"
#include "collect/proc_syscall.h"
#include "collect/regs.h"
#include "collect/unwind.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

/* The memfd's name: /proc/PID/maps then shows "/memfd:libpprof-agent.so
 * (deleted)", where the agent's module is looked for by name. */
#define MEMFD_NAME "libpprof-agent.so"
#define ATTACH_SYMBOL "pprof_agent_attach"
#define PICK_TRIES 5
/* What to do when no thread may lend itself now */
#define RETRY_HINT "POST again when one waits on a lock, a condition variable, a join or a " \
	"sleep, or start the target with LD_PRELOAD=libpprof-agent.so"

struct enter_job {
	const struct agentload_req *req;
	pid_t tid;
	uint64_t sp;        /* where its wait's stack was vetted; 0: not */
	struct inject *in;
};

struct stack_job {
	pid_t tid;
	uint64_t pcs[UNWIND_DEFAULT_DEPTH];
	size_t n;
	uint64_t sp;
};

/* The stack of a thread blocked in a syscall, unwound from /proc's SP and
 * PC and its memory, without a stop (the waits' way, ptrace_waits.c);
 * n 0 when the wait changed meanwhile. */
static int stack_fn(struct collector_job *job, struct err *e)
{
	struct stack_job *j = job->arg;
	struct unwinder *u = unwind_new(job->pid, e);
	if (!u)
		return -1;
	struct proc_syscall sc, again;
	if (unwind_refresh(u, e) < 0 || proc_syscall(job->pid, j->tid, &sc) < 0) {
		unwind_free(u);
		if (!e->kind && strcmp(sc.line, "running") == 0) {
			j->n = 0; /* woke meanwhile: not fit now, another may be */
			return COLLECTOR_JOB_DONE;
		}
		return e->kind ? -1 : err_set(e, ERR_BUSY, "thread %d is gone", (int)j->tid);
	}
	struct regs regs;
	memset(&regs, 0, sizeof regs);
	regs.r[REGS_SP] = sc.sp;
	regs.r[REGS_IP] = sc.pc;
	unwind_stack(u, j->tid, &regs, j->pcs, UNWIND_DEFAULT_DEPTH, &j->n);
	j->n = unwind_code_prefix(u, j->pcs, j->n);
	unwind_free(u);
	if (proc_syscall(job->pid, j->tid, &again) < 0 || strcmp(again.line, sc.line) != 0)
		j->n = 0;
	j->sp = sc.sp;
	return COLLECTOR_JOB_DONE;
}

/* Whether tid's wait is fit to lend (req->vet); *sp where it was seen. */
static int vetted(struct collector *c, const struct agentload_req *req, pid_t tid, uint64_t *sp,
		  char *why, size_t size, struct err *e)
{
	struct stack_job sj = { .tid = tid };
	struct collector_job job = { .fn = stack_fn, .arg = &sj, .timeout_ms = req->timeout_ms * 3 };
	if (collector_call(c, req->pid, &job, e) < 0)
		return -1;
	*sp = sj.sp;
	if (sj.n == 0) {
		snprintf(why, size, "thread %d woke while looked at", (int)tid);
		return 0;
	}
	return req->vet(req->vet_arg, sj.pcs, sj.n, why, size) ? 1 : 0;
}

static int enter_fn(struct collector_job *job, struct err *e)
{
	struct enter_job *j = job->arg;
	if (inject_enter(j->in, j->req->pid, j->tid, j->sp, j->req->syms.exec_id, j->req->timeout_ms,
			 j->req->pause_at, e) == 0)
		return COLLECTOR_JOB_DONE;
	char self[32], tracer[32];
	snprintf(self, sizeof self, "%d", (int)getpid());
	/* a CPU profile's ptrace sampler holds every thread already */
	if (e->kind == ERR_PERMISSION && proc_status_value(j->tid, "TracerPid", tracer, sizeof tracer) &&
	    strcmp(tracer, self) == 0) {
		err_clear(e);
		return err_set(e, ERR_BUSY, "a profile with the ptrace sampler holds pid %d's threads "
			       "now: load the agent after it ends", (int)j->req->pid);
	}
	return -1;
}

/* Seizes a thread and enters the trampoline on the tracer thread; a thread
 * whose stack is unfit is skipped, and one that woke up between its pick
 * and its stop is let go; another is picked, a few times, within the
 * timeout. */
static int enter(struct collector *c, const struct agentload_req *req, struct inject *in,
		 struct err *e)
{
	pid_t skip[PICK_TRIES];
	size_t nskip = 0;
	char why[256] = "";
	int64_t deadline = clock_ns(CLOCK_MONOTONIC) + req->timeout_ms * 1000000;
	int tries = 0;
	while (tries < PICK_TRIES && (tries == 0 || clock_ns(CLOCK_MONOTONIC) < deadline)) {
		tries++;
		struct enter_job ej = { req, req->tid, 0, in };
		if (!ej.tid && inject_pick_thread(req->pid, skip, nskip, &ej.tid, e) < 0) {
			if (e->kind != ERR_BUSY)
				return -1;
			if (why[0]) {
				err_clear(e);
				return err_set(e, ERR_BUSY, "no thread of pid %d can lend itself to the "
					       "load now (%s): " RETRY_HINT, (int)req->pid, why);
			}
			err_clear(e);
			/* let the threads run a little, then look again */
			struct timespec ts = { 0, 20 * 1000000 };
			nanosleep(&ts, NULL);
			continue;
		}
		if (req->vet) {
			int ok = vetted(c, req, ej.tid, &ej.sp, why, sizeof why, e);
			if (ok < 0)
				return -1;
			if (!ok) {
				if (req->tid)
					return err_set(e, ERR_BUSY, "thread %d of pid %d may not lend itself "
						       "now (%s): retry later", (int)req->tid, (int)req->pid, why);
				skip[nskip++] = ej.tid;
				continue;
			}
		}
		struct collector_job job = { .fn = enter_fn, .arg = &ej,
					     .timeout_ms = req->timeout_ms * 3 };
		if (collector_call(c, req->pid, &job, e) == 0)
			return 0;
		if (e->kind != ERR_BUSY || req->tid || strstr(e->msg, "no longer blocked") == NULL)
			return -1;
		snprintf(why, sizeof why, "thread %d woke before it stopped", (int)ej.tid);
		err_clear(e);
	}
	return err_set(e, ERR_BUSY, "no thread of pid %d could lend itself to the load in %d tries "
		       "(last: %s): " RETRY_HINT, (int)req->pid, tries,
		       why[0] ? why : "no thread waits in futex, nanosleep or clock_nanosleep with "
		       "64 KiB of stack free; threads in epoll_wait, poll, select or read are never "
		       "lent");
}

/* Copies the agent's file into the target's memfd fd through /proc. */
static int write_agent(pid_t pid, long fd, const char *path, struct err *e)
{
	char dst[64];
	snprintf(dst, sizeof dst, "/proc/%d/fd/%ld", (int)pid, fd);
	struct buf file;
	buf_init(&file, "agent file", 256 << 20);
	if (buf_read_file(&file, path, e) < 0) {
		buf_release(&file);
		return -1;
	}
	int out = open(dst, O_WRONLY | O_CLOEXEC);
	int rc = out < 0 ? err_errno(e, ERR_TARGET, errno, "open %s", dst) : 0;
	for (size_t off = 0; rc == 0 && off < file.len;) {
		ssize_t w = write(out, file.data + off, file.len - off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			rc = err_errno(e, ERR_TARGET, errno, "write %s", dst);
		else
			off += (size_t)w;
	}
	if (out >= 0)
		close(out);
	buf_release(&file);
	return rc;
}

/* The text of a C string at addr in the target, "" when unreadable. */
static void read_string(pid_t pid, uint64_t addr, char *out, size_t size)
{
	struct err ignored = { 0 };
	out[0] = '\0';
	/* read shorter until it fits in what is mapped */
	for (size_t n = size - 1; addr && n >= 16; n /= 2)
		if (proc_read_mem(pid, addr, out, n, &ignored) == 0) {
			out[n] = '\0';
			return;
		}
}

/* The calls, on the entered thread. The memfd is closed by the trampoline
 * as it leaves, whatever happens after it was made. */
static int load(struct inject *in, const struct agentload_req *req, struct agentload_result *r,
		struct err *e)
{
	const struct agentload_syms *s = &req->syms;
	uint64_t name, path, sym, ret;
	if (inject_put(in, 0, MEMFD_NAME, sizeof MEMFD_NAME, &name, e) < 0 ||
	    inject_put(in, 64, ATTACH_SYMBOL, sizeof ATTACH_SYMBOL, &sym, e) < 0 ||
	    inject_close_result(in, e) < 0 ||
	    inject_call(in, s->memfd_create, (uint64_t[]){ name, MFD_CLOEXEC }, 2, &ret, e) < 0)
		return -1;
	long fd = (int)ret;
	if (fd < 0)
		return err_set(e, ERR_INVALID, "memfd_create in pid %d failed: the target may not "
			       "create files in memory (seccomp?)", (int)req->pid);
	char fdpath[64];
	snprintf(fdpath, sizeof fdpath, "/proc/self/fd/%ld", fd);
	if (write_agent(req->pid, fd, req->path, e) < 0 ||
	    inject_put(in, 128, fdpath, strlen(fdpath) + 1, &path, e) < 0 ||
	    inject_call(in, s->dlopen, (uint64_t[]){ path, RTLD_NOW | RTLD_LOCAL }, 2, &ret, e) < 0)
		return -1;
	uint64_t handle = ret;
	if (!handle) {
		char why[400];
		if (inject_call(in, s->dlerror, NULL, 0, &ret, e) < 0)
			return -1;
		read_string(req->pid, ret, why, sizeof why);
		return err_set(e, ERR_INVALID, "dlopen of the agent in pid %d failed: %s (its libraries "
			       "must exist in the target's root)", (int)req->pid,
			       why[0] ? why : "no reason given");
	}
	if (inject_call(in, s->dlsym, (uint64_t[]){ handle, sym }, 2, &ret, e) < 0)
		return -1;
	if (!ret)
		return err_set(e, ERR_INVALID, "the agent %s has no " ATTACH_SYMBOL ": it is older "
			       "than this pprof-fcgi; set agent-path to the libpprof-agent.so it was "
			       "built with", req->path);
	if (inject_call(in, ret, (uint64_t[]){ (uint64_t)req->rate }, 1, &ret, e) < 0)
		return -1;
	r->attach_rc = (int)ret;
	inject_pause(req->pause_at, "after");
	return 0;
}

int agentload_run(struct collector *c, const struct agentload_req *req,
		  struct agentload_result *r, struct err *e)
{
	memset(r, 0, sizeof *r);
	if (access(req->path, R_OK) < 0)
		return err_errno(e, ERR_INVALID, errno, "agent-path %s", req->path);
	inject_pause(req->pause_at, "resolved");
	struct inject in;
	if (enter(c, req, &in, e) < 0)
		return -1;
	r->tid = in.tid;
	r->stop_ns = in.entered_ns - in.stopped_ns;
	int rc = load(&in, req, r, e);
	if (rc < 0 && e->kind == ERR_BUSY) {
		r->timed_out = true;
		err_clear(e);
		return err_set(e, ERR_BUSY, "the target's thread %d did not answer within %ld ms "
			       "(agent-load-timeout): it finishes the call on its own and runs on; the "
			       "agent may or may not be loaded, see the index", (int)in.tid,
			       req->timeout_ms);
	}
	if (rc < 0 && e->kind == ERR_TARGET)
		return -1;
	inject_leave(&in);
	if (in.left_ns)
		r->lent_ns = in.left_ns - in.stopped_ns;
	return rc;
}
