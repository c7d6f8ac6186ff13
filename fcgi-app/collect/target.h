/* target: every ptrace call, and nothing else. Linux ties a tracee to the
 * tracer *thread*, so only the collector thread calls these. Threads are
 * seized (PTRACE_SEIZE, never SIGSTOP), stopped with PTRACE_INTERRUPT,
 * and their signals re-delivered, so the target sees no difference. */
#ifndef PF_TARGET_H
#define PF_TARGET_H

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>
#include <sys/types.h>

struct err;
struct regs;

enum target_event {
	TARGET_INTERRUPTED, /* our PTRACE_INTERRUPT took effect: sample, then resume */
	TARGET_SIGNAL,      /* a signal is being delivered: resume with it */
	TARGET_GROUP_STOP,  /* SIGSTOP and friends: keep it stopped (PTRACE_LISTEN) */
	TARGET_EXITING,     /* PTRACE_EVENT_EXIT: last look, then resume */
	TARGET_EXITED,      /* gone; nothing to resume */
	TARGET_EXEC,        /* PTRACE_EVENT_EXEC: a new image; resume */
	TARGET_OTHER,       /* any other stop: resume */
};

/* Attaches without stopping; the thread reports its exit and an exec. */
int target_seize(pid_t tid, struct err *e);
int target_interrupt(pid_t tid, struct err *e);
/* Resumes a stopped thread, delivering sig (0: none). */
int target_resume(pid_t tid, int sig, struct err *e);
/* Leaves a group-stopped thread stopped but lets us see its SIGCONT. */
int target_listen(pid_t tid, struct err *e);
/* Detaches a stopped thread, delivering sig. */
int target_detach(pid_t tid, int sig);
/* A stopped thread's registers, and (in_wait, if not NULL) whether its
 * stop interrupted a system call that was blocked (the kernel restarts it
 * once tid runs on: -ERESTART* in rax): tid was waiting, not running,
 * when the stop was asked for. */
int target_getregs(pid_t tid, struct regs *regs, bool *in_wait, struct err *e);

/* For a thread stopped by our interrupt: when the stop ended a wait that
 * a stop turns into EINTR (epoll_wait...: proc_syscall_eintr_prone), which
 * it entered between our look and the interrupt, that syscall is set to
 * run again on resume, as the kernel restarts the others; not when a
 * signal of the target's own is pending (that EINTR is the target's).
 * True when the wait was restarted. */
bool target_undo_eintr(pid_t pid, pid_t tid);

/* All of a stopped thread's user registers (orig_rax, fs_base... too), as
 * the kernel's struct user_regs_struct (<sys/user.h>), for code that must
 * put them back exactly (collect/inject.c). */
struct user_regs_struct;
int target_getregs_all(pid_t tid, struct user_regs_struct *u, struct err *e);
int target_setregs_all(pid_t tid, const struct user_regs_struct *u, struct err *e);
/* Resumes a stopped thread for one instruction; it stops again after it. */
int target_step(pid_t tid, struct err *e);
/* Writes len bytes at addr of pid's memory through /proc/PID/mem, which
 * writes read-only pages too (as a debugger's breakpoints); needs the
 * permission to trace pid, not a stop. */
int target_write_mem(pid_t pid, uint64_t addr, const void *buf, size_t len, struct err *e);

/* One pending event of any traced thread without blocking: 1 with *tid,
 * *ev and *sig set, 0 when none is pending, -1 on error. */
int target_poll_event(pid_t *tid, enum target_event *ev, int *sig, struct err *e);
/* The same for thread tid alone: the kernel looks at that thread only,
 * where waiting for any looks at every traced thread in turn. */
int target_poll_thread(pid_t tid, enum target_event *ev, int *sig, struct err *e);

#endif
