#include "collect/target.h"

#include "base/err.h"
#include "collect/proc.h"
#include "collect/proc_syscall.h"
#include "collect/regs.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include <signal.h>
#include <sys/ptrace.h>
#include <sys/user.h>
#include <sys/wait.h>

int target_seize(pid_t tid, struct err *e)
{
	if (ptrace(PTRACE_SEIZE, tid, 0, (void *)(long)(PTRACE_O_TRACEEXIT | PTRACE_O_TRACEEXEC)) < 0)
		return err_errno(e, errno == EPERM ? ERR_PERMISSION : ERR_TARGET, errno,
				 "ptrace(PTRACE_SEIZE) tid %d", (int)tid);
	return 0;
}

int target_interrupt(pid_t tid, struct err *e)
{
	if (ptrace(PTRACE_INTERRUPT, tid, 0, 0) < 0)
		return err_errno(e, ERR_TARGET, errno, "ptrace(PTRACE_INTERRUPT) tid %d", (int)tid);
	return 0;
}

int target_resume(pid_t tid, int sig, struct err *e)
{
	if (ptrace(PTRACE_CONT, tid, 0, (void *)(long)sig) < 0)
		return err_errno(e, ERR_TARGET, errno, "ptrace(PTRACE_CONT) tid %d", (int)tid);
	return 0;
}

int target_listen(pid_t tid, struct err *e)
{
	if (ptrace(PTRACE_LISTEN, tid, 0, 0) < 0)
		return err_errno(e, ERR_TARGET, errno, "ptrace(PTRACE_LISTEN) tid %d", (int)tid);
	return 0;
}

int target_detach(pid_t tid, int sig)
{
	return ptrace(PTRACE_DETACH, tid, 0, (void *)(long)sig) < 0 ? -1 : 0;
}

int target_getregs(pid_t tid, struct regs *regs, bool *in_wait, struct err *e)
{
	struct user_regs_struct u;
	if (ptrace(PTRACE_GETREGS, tid, 0, &u) < 0)
		return err_errno(e, ERR_TARGET, errno, "ptrace(PTRACE_GETREGS) tid %d", (int)tid);
	uint64_t *r = regs->r;
	r[0] = u.rax; r[1] = u.rdx; r[2] = u.rcx; r[3] = u.rbx;
	r[4] = u.rsi; r[5] = u.rdi; r[6] = u.rbp; r[7] = u.rsp;
	r[8] = u.r8; r[9] = u.r9; r[10] = u.r10; r[11] = u.r11;
	r[12] = u.r12; r[13] = u.r13; r[14] = u.r14; r[15] = u.r15;
	r[16] = u.rip;
	/* in a system call (orig_rax >= 0) that returns ERESTARTSYS (512),
	 * ERESTARTNOINTR, ERESTARTNOHAND or ERESTART_RESTARTBLOCK (516) */
	int64_t ret = (int64_t)u.rax;
	if (in_wait)
		*in_wait = (int64_t)u.orig_rax >= 0 && ret >= -516 && ret <= -512 && ret != -515;
	return 0;
}

/* A signal pending for tid that it does not block: the thread's own and
 * the process's pending sets, from /proc/TID/status (hex masks). */
static bool signal_pending(pid_t tid)
{
	char v[32];
	unsigned long long pending = 0, blocked = 0;
	if (proc_status_value(tid, "SigPnd", v, sizeof v))
		pending |= strtoull(v, NULL, 16);
	if (proc_status_value(tid, "ShdPnd", v, sizeof v))
		pending |= strtoull(v, NULL, 16);
	if (!proc_status_value(tid, "SigBlk", v, sizeof v))
		return true; /* unknown: leave the EINTR as it is */
	blocked = strtoull(v, NULL, 16);
	return (pending & ~blocked) != 0;
}

bool target_undo_eintr(pid_t pid, pid_t tid)
{
	struct user_regs_struct u;
	if (ptrace(PTRACE_GETREGS, tid, 0, &u) < 0 || (int64_t)u.orig_rax < 0 ||
	    (int64_t)u.rax != -EINTR || !proc_syscall_eintr_prone((long)u.orig_rax) ||
	    signal_pending(tid))
		return false;
	unsigned char insn[2];
	struct err e = { 0 };
	if (proc_read_mem(pid, u.rip - 2, insn, sizeof insn, &e) < 0 || insn[0] != 0x0f ||
	    insn[1] != 0x05)
		return false; /* not after a syscall instruction: leave it */
	/* the syscall again with the same arguments (rdi..r9 are kept across
	 * it), as the kernel does for -ERESTARTNOHAND */
	u.rax = u.orig_rax;
	u.rip -= 2;
	return ptrace(PTRACE_SETREGS, tid, 0, &u) == 0;
}

int target_getregs_all(pid_t tid, struct user_regs_struct *u, struct err *e)
{
	if (ptrace(PTRACE_GETREGS, tid, 0, u) < 0)
		return err_errno(e, ERR_TARGET, errno, "ptrace(PTRACE_GETREGS) tid %d", (int)tid);
	return 0;
}

int target_setregs_all(pid_t tid, const struct user_regs_struct *u, struct err *e)
{
	if (ptrace(PTRACE_SETREGS, tid, 0, u) < 0)
		return err_errno(e, ERR_TARGET, errno, "ptrace(PTRACE_SETREGS) tid %d", (int)tid);
	return 0;
}

int target_step(pid_t tid, struct err *e)
{
	if (ptrace(PTRACE_SINGLESTEP, tid, 0, 0) < 0)
		return err_errno(e, ERR_TARGET, errno, "ptrace(PTRACE_SINGLESTEP) tid %d", (int)tid);
	return 0;
}

int target_write_mem(pid_t pid, uint64_t addr, const void *buf, size_t len, struct err *e)
{
	char path[64];
	snprintf(path, sizeof path, "/proc/%d/mem", (int)pid);
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return err_errno(e, errno == ENOENT ? ERR_TARGET : ERR_PERMISSION, errno,
				 "open %s", path);
	const char *p = buf;
	while (len > 0) {
		ssize_t n = pwrite(fd, p, len, (off_t)addr);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			int saved = n < 0 ? errno : EIO;
			close(fd);
			return err_errno(e, ERR_TARGET, saved, "write %s at 0x%llx", path,
					 (unsigned long long)addr);
		}
		p += n;
		addr += (uint64_t)n;
		len -= (size_t)n;
	}
	close(fd);
	return 0;
}

static int poll_one(pid_t which, pid_t *tid, enum target_event *ev, int *sig, struct err *e)
{
	int status;
	pid_t w;
	do
		w = waitpid(which, &status, WNOHANG | __WALL);
	while (w < 0 && errno == EINTR);
	if (w == 0 || (w < 0 && errno == ECHILD))
		return 0;
	if (w < 0)
		return err_errno(e, ERR_INTERNAL, errno, "waitpid");
	*tid = w;
	*sig = 0;
	if (WIFEXITED(status) || WIFSIGNALED(status)) {
		*ev = TARGET_EXITED;
		return 1;
	}
	if (!WIFSTOPPED(status)) {
		*ev = TARGET_OTHER;
		return 1;
	}
	int stopsig = WSTOPSIG(status);
	switch (status >> 16) {
	case 0:
		*ev = TARGET_SIGNAL;
		*sig = stopsig;
		break;
	case PTRACE_EVENT_EXIT:
		*ev = TARGET_EXITING;
		break;
	case PTRACE_EVENT_EXEC:
		*ev = TARGET_EXEC;
		break;
	case PTRACE_EVENT_STOP:
		/* an interrupt reports SIGTRAP; a group-stop its stop signal */
		if (stopsig == SIGSTOP || stopsig == SIGTSTP || stopsig == SIGTTIN || stopsig == SIGTTOU) {
			*ev = TARGET_GROUP_STOP;
			*sig = stopsig;
		} else {
			*ev = TARGET_INTERRUPTED;
		}
		break;
	default:
		*ev = TARGET_OTHER;
	}
	return 1;
}

int target_poll_event(pid_t *tid, enum target_event *ev, int *sig, struct err *e)
{
	return poll_one(-1, tid, ev, sig, e);
}

int target_poll_thread(pid_t tid, enum target_event *ev, int *sig, struct err *e)
{
	pid_t got;
	return poll_one(tid, &got, ev, sig, e);
}
