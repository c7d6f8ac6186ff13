/* perf_rec: the perf_event sampler's state, shared by its two halves:
 * sampler_perf.c (the ops, opening events and buffers) and perf_rec.c
 * (reading the buffers, the records, the threads covered). Private to them. */
#ifndef PF_PERF_REC_H
#define PF_PERF_REC_H

#include "base/err.h"
#include "collect/sampler.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* kernel frames kept per sample (perf_event_max_stack is 127 by default) */
#define PERF_REC_KERNEL_DEPTH 64

struct task {
	pid_t tid;
	uint64_t stime_ns;   /* its kernel time at the last look (0 for one born since) */
	int64_t moved_ns;    /* when that was last seen to move (CLOCK_BOOTTIME) */
	bool ran;            /* sampled since that look */
	int exited;          /* 0: alive; else drains since its EXIT record */
	size_t fd_at, nfd;   /* its own events in fds (opened, not inherited) */
	int64_t blocked_ns;  /* its last switch off a CPU to wait, not yet named (0: none) */
	pid_t origin;        /* created in the window: whose own events it inherited */
	bool parent;         /* threads it created inherited its own events */
};

struct pollfd;

struct cpubuf {
	int fd;            /* the event whose buffer it is; -1: none yet */
	unsigned char *map;
	size_t len;        /* mapped, header page included */
	bool hup;          /* its event's thread is gone: not polled */
	int64_t last_ns;   /* the time of the last record read from it */
};

struct sampler {
	struct sampler_host host;
	pid_t pid;
	long hz;                  /* events open at this rate; 0: none */
	int ncpu;
	struct cpubuf *buf;       /* by CPU number */
	int *fds;                 /* every event, closed at detach: closing */
	size_t nfds, fds_cap;     /* one frees the events its thread's children inherited */
	struct task *tasks;       /* threads covered: opened or inherited */
	size_t ntasks, tasks_cap;
	uint64_t sampled_ns;      /* the periods of the samples since the events were opened */
	uint64_t given_ns;        /* handed out in all since then: samples, kernel time, rest */
	uint64_t proc_cpu_ns;     /* /proc's count of the process then */
	uint64_t rest_ns;         /* handed out by perf_rec_proc_rest */
	int64_t forked_ns;        /* the last FORK record's time (CLOCK_BOOTTIME) */
	int64_t rest_read_ns;     /* when /proc was last read for the rest (same clock) */
	/* tests (host.perf_stall_ms): no buffer read in this
	 * time, so that they fill and records are lost */
	int64_t stall_from_ns, stall_until_ns;
	int64_t stall_full_ns;     /* when a buffer was first seen full in it */
	int64_t switches_ns;      /* when the timeline's records began */
	bool no_inherit_thread;   /* a kernel before 5.13 */
	bool kernel;              /* kernel call chains sampled (exclude_kernel = 0) */
	bool switches;            /* context-switch records asked for (context_switch) */
	bool listed;              /* listed until no thread was new: later ones inherit */
	int kernel_refused;       /* or the errno perf_event_open refused them with */
	uint64_t kpcs[PERF_REC_KERNEL_DEPTH]; /* a sample's kernel frames, leaf first */
	struct err open_err;      /* why events could not be opened (arm), for follow */
	uint64_t proc_stime_ns;   /* the process's kernel time at the last look */
	uint64_t stime_unseen;    /* how much of its moves no thread read explained */
	int64_t stime_all_ns;     /* when every thread's kernel time was last read */
	unsigned char *rec;       /* a record that wraps the ring's end, copied */
	size_t rec_cap;
	struct sampler_stats counts; /* handed out by the next drain */
	struct sampler *pt;       /* ptrace, only for waits and dumps asked meanwhile */
	/* the per-thread layout (perf_thread.c): each thread's own event and
	 * buffer; threads whose FORK record was read, to open next */
	bool per_thread;
	int layout_why;           /* enum sampler_layout_why */
	struct tbuf {
		pid_t tid;
		struct cpubuf b;
	} *tbufs;
	size_t ntbufs, tbufs_cap;
	pid_t *fresh;
	size_t nfresh, fresh_cap;
	/* perf_drain's poll set: every buffer (per CPU, or per thread), then
	 * the host's wake fd; polled[i] is the buffer of pfd[i] */
	struct pollfd *pfd;
	struct cpubuf **polled;
	size_t pfd_cap, polled_cap;
};

/* sampler_perf.c: an event of tid alone (no inherit), on every CPU, to be
 * mmapped on its own; -1 with errno. */
int sampler_perf_open_own(struct sampler *s, pid_t tid);

/* The sample registers asked for (PERF_SAMPLE_REGS_USER's mask); 0 on an
 * architecture not supported yet. */
uint64_t perf_rec_regs_mask(void);
/* The covered thread tid, or NULL. */
struct task *perf_rec_task_find(struct sampler *s, pid_t tid);
/* Covers tid (its kernel time so far stime_ns), announcing it when new. */
void perf_rec_task_add(struct sampler *s, pid_t tid, uint64_t stime_ns);
/* Hands every record in every buffer to the sink, then frees their room. */
void perf_rec_drain(struct sampler *s);
/* Ends the threads that exited (EXIT records) two drains ago, or all of
 * them (all: the events are closed, every record read). */
void perf_rec_settle(struct sampler *s, bool all);
/* What /proc counted of the process beyond all that was handed out (the
 * time of threads that lived shorter than a sampling period, which no
 * sample carried), handed out as [not sampled] on the creating thread. */
void perf_rec_proc_rest(struct sampler *s);
/* perf_rec_proc_rest every 10 ms while the process creates threads (a
 * FORK record in the last second), so that a window ending between two
 * follows leaves little of their time out. */
void perf_rec_proc_rest_often(struct sampler *s);
/* Where each covered thread is as its switch records begin, as a
 * SAMPLER_SWITCH_START_* event: running, or waiting in which syscall. */
void perf_rec_switch_start(struct sampler *s);
/* Names the waits of the threads switched out to wait at their last
 * record (SAMPLER_SWITCH_LABEL): the syscall each is in now. One /proc
 * read per wait seen at a drain, however many waits came and went. */
void perf_rec_switch_labels(struct sampler *s);
/* Each thread's kernel time since the last look, as a one-frame sample
 * (SAMPLER_PC_KERNEL), where the kernel is not sampled. */
void perf_rec_kernel_time(struct sampler *s);

#endif
