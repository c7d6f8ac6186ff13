/* tidtab: the target's threads by tid, as the collector thread knows them:
 * each one's last stack, what each subscriber was last told of its CPU
 * time, and what the ptrace sampler keeps per thread. Kept across sampling
 * loops while the process stays the same, for the stacks of waits. Used by
 * the collector thread only. */
#ifndef PF_TIDTAB_H
#define PF_TIDTAB_H

#include "collect/collector.h"
#include "collect/unwind.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct thr {
	pid_t tid;
	bool dead;
	bool kept;                /* from an earlier loop: only its stacks hold */
	char comm[16];
	uint64_t cpu_ns;          /* CPU time at the last look */
	uint64_t rq_ns;           /* time runnable but not running, at the same look */
	uint64_t base[COLLECTOR_MAX_SUBS]; /* cpu_ns at each subscriber's last sample */
	uint64_t pcs[UNWIND_DEFAULT_DEPTH];
	size_t npcs;              /* the last stack; 0: never sampled */
	uint64_t pcs_cpu;         /* cpu_ns when pcs was taken: unchanged, pcs still holds */
	int64_t pcs_ts;           /* CLOCK_BOOTTIME when pcs was taken */
	/* the ptrace sampler's */
	bool seized, seen;
	bool selected, sampled;   /* this tick */
	char state;
	uint64_t cpu_prev_tick;
	char wait_line[256];      /* the syscall line pcs was unwound in; "" if none */
	int64_t stop_start_ns;
	/* cheap watching of idle threads: schedstat kept open, and a thread
	 * that keeps not running is looked at every 2^idle ticks */
	int cpu_fd;
	int idle, skip;
	int w_idle, w_skip;
	/* off-CPU: the wait seen at the last look, with its own stack. What a
	 * look settles is the kernel's count since the look before (w_ts:
	 * CLOCK_BOOTTIME, 0: none yet; w_cpu, w_rq, w_nvcsw then); a thread
	 * skipped meanwhile was credited w_prov provisionally, which the
	 * settling corrects; w_debt is what a look credited too much (the
	 * counts of a running thread lag), owed back by the next, or less
	 * than the counts said (negative); w_runnable: in state R then */
	bool w_waiting, w_runnable;
	int64_t w_ts, w_prov_ts, w_debt;
	uint64_t w_cpu, w_rq, w_nvcsw, w_prov;
	char w_line[256];
	char w_label[64];
	uint64_t wpcs[UNWIND_DEFAULT_DEPTH];
	size_t wnpcs;
	/* the ptrace sampler's pick: times the thread was put on a CPU (the
	 * third schedstat field, at the same look as cpu_ns), that count at
	 * the last tick, and rq_ns when it was asked to stop; a stop whose
	 * rq_ns grew meanwhile came when the thread was next scheduled, not
	 * where it ran at the tick (dropped) */
	uint64_t pcount, pcount_prev_tick, rq_asked;
	bool dropped;             /* this tick's stop was not kept */
	int cpu;                  /* the CPU it last ran on, at the last stat read */
	int64_t left_ns;          /* when asked, waiting on the collector's CPU:
				   * when it left that CPU (sched's exec_start);
				   * -1: not read */
	/* samples kept for each subscriber since its CPU time was last given
	 * out (a sampler whose samples weigh one tick each: ptrace) */
	uint32_t ticks[COLLECTOR_MAX_SUBS];
};

struct tidtab {
	struct thr *thr;
	size_t n, cap;
	size_t *index, index_cap; /* tid -> thr position + 1 */
	/* called with each dead thread tidtab_compact drops, before it goes
	 * (the collector gives out the CPU time it has not given yet) */
	void (*on_drop)(void *arg, struct thr *t);
	void *drop_arg;
};

struct thr *tidtab_find(struct tidtab *tt, pid_t tid);
/* A new thread, zeroed but for its tid; pointers into the table move. */
struct thr *tidtab_add(struct tidtab *tt, pid_t tid);
/* A thread kept from an earlier loop starts this one afresh but for the
 * stacks it was last seen with and the waits they were taken in. */
void tidtab_renew(struct thr *t);
/* Drops the dead threads. */
void tidtab_compact(struct tidtab *tt);
/* Forgets every thread (another process, or the collector's end); keeps
 * on_drop. */
void tidtab_forget(struct tidtab *tt);

/* ---- /proc reads of a thread of pid, without stopping anything ---- */

/* Its CPU time so far (schedstat); -1 when it is gone. */
int tidtab_read_cpu(pid_t pid, pid_t tid, uint64_t *ns);
/* The same into t->cpu_ns, its run-queue time into t->rq_ns and its
 * count of turns on a CPU into t->pcount, through
 * t's schedstat file kept open (a pread regenerates it; no path lookup);
 * opened each time when descriptors run out. */
int tidtab_cpu(pid_t pid, struct thr *t);
/* t->state (R S D T t Z ...), t->comm and t->cpu from its stat line. */
int tidtab_state(pid_t pid, struct thr *t);
/* se.exec_start of thread tid of pid (tid 0: the calling thread), in ns
 * of its CPU's run-queue clock; -1 when gone or not shown. */
int tidtab_sched_stamp(pid_t pid, pid_t tid, int64_t *ns);
/* Whether a thread still runs (not gone, not a zombie, not exiting). */
bool tidtab_alive(pid_t pid, pid_t tid);
/* Whether an idle thread is skipped this time; a thread seen idle k times
 * in a row is next looked at after 2^k - 1 skips, at most 15. */
bool tidtab_backoff_skip(int *skip);
void tidtab_backoff_update(int *idle, int *skip, bool ran);

#endif
