/* sampler_pick: which CPU sampler a window gets, and why perf_event_open
 * was refused in words a user can act on (the errno, the capabilities,
 * kernel.perf_event_paranoid). Separate from sampler_perf.c, which owns
 * perf_event_open and its ring buffers: this is the reading of /proc and
 * the policy around that interface, not the interface; sampler_perf.c
 * answers only whether an event opens (sampler_perf_probe). */
#include "collect/sampler_pick.h"

#include "base/err.h"
#include "base/log.h"
#include "collect/collector.h"
#include "collect/proc.h"
#include "collect/sampler.h"
#include "collect/sampler_perf.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Why perf_event_open failed with err, in words a user can act on. */
int sampler_pick_refusal(int err, pid_t pid, struct err *e)
{
	long paranoid = proc_sysctl("kernel/perf_event_paranoid", 2);
	bool perfmon = proc_has_cap(PROC_CAP_PERFMON) || proc_has_cap(PROC_CAP_SYS_ADMIN);
	switch (err) {
	case ESRCH:
		return err_set(e, ERR_TARGET, "target pid %d exited", (int)pid);
	case EACCES:
	case EPERM:
		if (!perfmon)
			return err_set(e, ERR_PERMISSION,
				       "perf_event_open: permission denied (kernel.perf_event_paranoid = %ld, "
				       "no CAP_PERFMON)", paranoid);
		return err_set(e, ERR_PERMISSION,
			       "perf_event_open: permission denied for pid %d despite CAP_PERFMON "
			       "(kernel.perf_event_paranoid = %ld): a seccomp filter or LSM refuses it, "
			       "or the target is not ours to read (CAP_SYS_PTRACE)", (int)pid, paranoid);
	case ENOSYS:
		return err_set(e, ERR_PERMISSION,
			       "perf_event_open: not available (a kernel without perf events, or a "
			       "seccomp filter)");
	case EMFILE:
	case ENFILE:
		return err_set(e, ERR_BUSY, "perf_event_open: out of file descriptors (RLIMIT_NOFILE)");
	default:
		return err_errno(e, ERR_PERMISSION, err, "perf_event_open for pid %d", (int)pid);
	}
}

void sampler_pick_kernel_refusal(int err, char *out, size_t size)
{
	long paranoid = proc_sysctl("kernel/perf_event_paranoid", 2);
	if ((err == EACCES || err == EPERM) && !proc_has_cap(PROC_CAP_PERFMON) &&
	    !proc_has_cap(PROC_CAP_SYS_ADMIN))
		snprintf(out, size, "perf_event_open refused them (kernel.perf_event_paranoid = %ld, "
			 "no CAP_PERFMON; CAP_PERFMON, root or a paranoid level <= 1 allow them)",
			 paranoid);
	else
		snprintf(out, size, "perf_event_open refused them: %s (kernel.perf_event_paranoid = "
			 "%ld)", strerror(err), paranoid);
}

void sampler_pick_said(const struct sampler_ops *ops, const char *why, char *out, size_t size)
{
	if (ops != &sampler_ptrace)
		snprintf(out, size, "%s", ops->name);
	else if (why[0])
		snprintf(out, size, "ptrace (perf_event refused: %.340s)", why);
	else
		snprintf(out, size, "ptrace (cpu-sampler = ptrace)");
}

void sampler_pick_name(const struct collector_config *cc, pid_t pid, char *out, size_t size)
{
	char why[SAMPLER_LINE];
	struct err e = { 0 };
	/* what a window starting now would get: a probe, nothing kept */
	const struct sampler_ops *ops = sampler_pick(cc, pid, why, sizeof why, &e);
	if (ops == &sampler_perf && cc->perf_layout == SAMPLER_LAYOUT_PER_THREAD)
		snprintf(out, size, "perf_event, a ring buffer per thread (perf-layout = per-thread)");
	else if (ops)
		sampler_pick_said(ops, why, out, size);
	else
		snprintf(out, size, "none (%s)", e.msg);
}

const struct sampler_ops *sampler_pick(const struct collector_config *cc, pid_t pid,
				       char *why, size_t size, struct err *e)
{
	why[0] = '\0';
	if (cc->sampler == COLLECTOR_PTRACE)
		return &sampler_ptrace;
	struct err pe = { 0 };
	if (sampler_perf_probe(cc, pid, &pe) == 0)
		return &sampler_perf;
	if (cc->sampler == COLLECTOR_PERF_EVENT || pe.kind == ERR_TARGET) {
		*e = pe;
		return NULL;
	}
	snprintf(why, size, "%s", pe.msg);
	log_info("cpu sampler for pid %d: ptrace, not perf_event: %s", (int)pid, pe.msg);
	return &sampler_ptrace;
}
