/* inject: calls functions of a running target on one of its threads,
 * stopping that thread only, in a way that survives pprof-fcgi's death.
 *
 * inject_enter (on the tracer thread: a collector job) seizes the thread,
 * maps two pages in the target with one mmap syscall run at the thread's
 * own syscall instruction (the one step that needs the tracer to put the
 * registers back), writes a trampoline there, points the thread at it and
 * detaches. The trampoline saves every register and the extended state
 * (XSAVE), blocks all signals, then runs the calls pprof-fcgi writes into
 * its data page (inject_call, from any thread, through /proc/PID/mem),
 * until told to leave (inject_leave) or until no call came for the
 * timeout; then it restores everything and returns to where the thread
 * was, restarting its syscall as the kernel would have. x86-64 only. */
#ifndef PF_INJECT_H
#define PF_INJECT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct err;

struct inject {
	pid_t pid, tid;
	uint64_t code, data;   /* the trampoline's pages in the target */
	uint64_t seq;          /* the last call written */
	long timeout_ms;       /* bound of each call, and of the idle trampoline */
	int64_t stopped_ns;    /* CLOCK_MONOTONIC: the thread stopped, */
	int64_t entered_ns;    /* entered the trampoline, */
	int64_t left_ns;       /* was seen back in its own code (0: not seen) */
};

/* Bytes of the data page a caller may fill with inject_put. */
#define INJECT_SCRATCH 2048

/* A thread of pid fit to lend itself: blocked in futex, nanosleep or
 * clock_nanosleep (never an EINTR-prone wait), with 64 KiB of stack below
 * its stack pointer, and not one of skip[0..nskip). ERR_BUSY when none
 * is, now. */
int inject_pick_thread(pid_t pid, const pid_t *skip, size_t nskip, pid_t *tid, struct err *e);

/* On the tracer thread: seizes tid of pid, maps and enters the trampoline,
 * detaches. The thread then waits in the trampoline for calls. pause_at
 * (tests; NULL in use) names a step ("seized", "bootstrap") at which to
 * pause (inject_pause). ERR_BUSY when the thread was no longer blocked
 * where it was picked (with its stack pointer at expect_sp, unless 0), or
 * pid runs another program than the one whose auxiliary vector hashed to
 * exec_id (proc_exec_id; 0: not checked): the addresses the calls will
 * use were found in that one. */
int inject_enter(struct inject *in, pid_t pid, pid_t tid, uint64_t expect_sp, uint64_t exec_id,
		 long timeout_ms, const char *pause_at, struct err *e);

/* Copies len bytes into the data page's scratch area at off; *addr gets
 * their address in the target. */
int inject_put(struct inject *in, size_t off, const void *buf, size_t len, uint64_t *addr,
	       struct err *e);

/* fn(args[0..nargs)) on the entered thread; *ret its rax. ERR_TARGET when
 * the target exited; ERR_BUSY when the call did not return within the
 * timeout (the thread finishes it, then leaves on its own). */
int inject_call(struct inject *in, uint64_t fn, const uint64_t *args, size_t nargs,
		uint64_t *ret, struct err *e);

/* Makes the result of the next inject_call a descriptor that the
 * trampoline closes when it leaves: after inject_leave, the timeout, or
 * pprof-fcgi's death, so that none is left open in the target. */
int inject_close_result(struct inject *in, struct err *e);

/* Tells the trampoline to return the thread to its own code, and waits
 * (up to the timeout) to see it leave: left_ns set then. */
void inject_leave(struct inject *in);

/* Tests: when pause_at is step, prints "agent load: paused at STEP" and
 * stops there forever (for a test to kill pprof-fcgi); when it is
 * "STEP:FIFO", goes on once a byte came through the fifo FIFO (for a test
 * to act on the target meanwhile). Nothing otherwise. */
void inject_pause(const char *pause_at, const char *step);

#endif
