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
	uint64_t sampled_ns; /* the periods of its samples */
	uint64_t counted_ns; /* its events' counts at its exit (READ records: inherited) */
	int exited;          /* 0: alive; else follows since its EXIT record */
	int64_t blocked_ns;  /* its last switch off a CPU to wait, not yet named (0: none) */
};

struct cpubuf {
	int fd;            /* the event whose buffer it is; -1: none yet */
	unsigned char *map;
	size_t len;        /* mapped, header page included */
	bool hup;          /* its event's thread is gone: not polled */
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
	bool no_inherit_thread;   /* a kernel before 5.13 */
	bool kernel;              /* kernel call chains sampled (exclude_kernel = 0) */
	bool switches;            /* context-switch records asked for (context_switch) */
	int kernel_refused;       /* or the errno perf_event_open refused them with */
	uint64_t kpcs[PERF_REC_KERNEL_DEPTH]; /* a sample's kernel frames, leaf first */
	struct err open_err;      /* why events could not be opened (arm), for follow */
	uint64_t proc_stime_ns;   /* the process's kernel time at the last look */
	unsigned char *rec;       /* a record that wraps the ring's end, copied */
	size_t rec_cap;
	struct sampler_stats counts; /* handed out by the next drain */
	struct sampler *pt;       /* ptrace, only for waits and dumps asked meanwhile */
};

/* The sample registers asked for (PERF_SAMPLE_REGS_USER's mask); 0 on an
 * architecture not supported yet. */
uint64_t perf_rec_regs_mask(void);
/* The covered thread tid, or NULL. */
struct task *perf_rec_task_find(struct sampler *s, pid_t tid);
/* Covers tid (its kernel time so far stime_ns), announcing it when new. */
void perf_rec_task_add(struct sampler *s, pid_t tid, uint64_t stime_ns);
/* Hands every record in every buffer to the sink, then frees their room. */
void perf_rec_drain(struct sampler *s);
/* Ends the threads that exited (EXIT records) a follow ago, or all of them
 * (all: the events are closed, every record read): the CPU time their
 * events counted and no sample carried (a thread shorter than a period)
 * goes onto its last stack, or [not sampled] when it had none. */
void perf_rec_settle(struct sampler *s, bool all);
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
