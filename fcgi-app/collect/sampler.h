/* sampler: the seam between the collector (its tracer thread, subscribers,
 * delivery, jobs) and a way of sampling a target's threads. A backend is
 * an ops table; the collector calls it on its tracer thread only, and the
 * backend hands what it saw to the sink the collector lent it. ptrace
 * (sampler_ptrace.c: stop, read, resume) is the one backend today; a
 * perf_event sampler (the kernel samples, the collector drains ring
 * buffers) fits the same table and the same sample record. */
#ifndef PF_SAMPLER_H
#define PF_SAMPLER_H

#include "collect/regs.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct collector_sample;
struct err;
struct maphist;
struct tidtab;
struct unwinder;

/* What a sampler needs of the system: the collector checks each one
 * before a window or a job, separately, so that a refusal names it. */
enum sampler_need {
	SAMPLER_NEEDS_READ_MEM = 1 << 0, /* the target's memory (ptrace access mode) */
	SAMPLER_NEEDS_ATTACH = 1 << 1,   /* ptrace: to be the target's only tracer */
	SAMPLER_NEEDS_PERF = 1 << 2,     /* perf_event_open on the target's threads */
};

/* One sample of one thread. A sampler fills what it has: ptrace unwinds
 * while the thread is stopped and hands pcs; perf_event hands registers
 * and a copy of the top of the stack, which the collector unwinds
 * (unwind_copy). */
struct sampler_sample {
	pid_t pid, tid;
	int64_t time_ns;            /* CLOCK_BOOTTIME when taken */
	uint64_t period_ns;         /* CPU ns this sample stands for (perf_event) */
	uint64_t cpu_total_ns;      /* or the thread's CPU time so far (ptrace); 0: unknown */
	const uint64_t *pcs;        /* an unwound stack, leaf first; NULL: unwind regs + stack */
	size_t npcs;
	bool has_regs;
	bool carried;               /* CPU time only, onto pcs: no new sample (counted) */
	struct regs regs;           /* user registers at the sample */
	const void *stack;          /* a copy of the user stack from regs' SP */
	size_t stack_size;
	const uint64_t *kernel_pcs; /* the kernel call chain, leaf first (perf_event with */
	size_t nkernel_pcs;         /* kernel frames): put above the user stack */
};

/* How the perf_event sampler lays out its events and ring buffers
 * (perf-layout): one buffer per CPU that every thread's inherited events
 * write into, or, the fallback, an event and a buffer per thread. */
enum sampler_layout { SAMPLER_LAYOUT_AUTO, SAMPLER_LAYOUT_PER_CPU, SAMPLER_LAYOUT_PER_THREAD };
/* why the per-thread layout ran */
enum sampler_layout_why { LAYOUT_WHY_NONE, LAYOUT_WHY_FORCED, LAYOUT_WHY_NOFILE, LAYOUT_WHY_MMAP };

/* What a sampler reports between samples, where it sees it. */
enum sampler_event_kind {
	SAMPLER_THREAD_NEW,  /* a thread appeared */
	SAMPLER_THREAD_EXIT, /* a thread is exiting: its last CPU time is in the table */
	SAMPLER_EXEC,        /* the target exec'd a new image: old stacks lose their maps */
	SAMPLER_MMAP,        /* a mapping was added (start, len, pgoff, path) */
	SAMPLER_SWITCH,      /* tid went onto a CPU or off it (switch), at time_ns */
};
/* What a SAMPLER_SWITCH says (a context-switch record, or a look). */
enum sampler_switch {
	SAMPLER_SWITCH_IN,        /* onto a CPU */
	SAMPLER_SWITCH_PREEMPTED, /* off it, still runnable (waits for a CPU) */
	SAMPLER_SWITCH_BLOCKED,   /* off it to wait (a syscall, a page fault...) */
	/* the wait begun by the SWITCH_BLOCKED at time_ns is label: the
	 * thread was found in it when the records were read */
	SAMPLER_SWITCH_LABEL,
	/* where the thread was when its records began (time_ns): running, or
	 * waiting in label; records earlier than time_ns come first */
	SAMPLER_SWITCH_START_RUNNING,
	SAMPLER_SWITCH_START_WAITING,
	/* records were lost (lost of them: the kernel's buffer filled) between
	 * from_ns and time_ns, in the buffer of CPU cpu (tid 0: any thread's
	 * switches may be missing there) or of thread tid alone (cpu -1) */
	SAMPLER_SWITCH_LOST,
};
struct sampler_event {
	enum sampler_event_kind kind;
	pid_t tid;
	int64_t time_ns; /* CLOCK_BOOTTIME */
	uint64_t start, len, pgoff;
	const char *path;
	enum sampler_switch sw; /* SAMPLER_SWITCH */
	const char *label;      /* SAMPLER_SWITCH_LABEL, _START_WAITING: "futex", ... */
	int64_t from_ns;        /* SAMPLER_SWITCH_LOST */
	uint64_t lost;
	int cpu;
};

#define SAMPLER_HIST 1024

/* What sampling a window came to, counted by the sampler. The comment a
 * profile gets is made from these (ops->describe), never formatted by an
 * endpoint. */
struct sampler_stats {
	uint64_t ticks, samples;
	/* per window: stacks not taken (ptrace: a thread not stopped in time;
	 * perf: records lost), cut short, and rate cuts by the kernel */
	uint64_t lost, truncated, throttled;
	/* ptrace: held is from seeing a thread stopped to resuming it;
	 * latency from asking it to stop to its stop, which waits for the
	 * thread's next turn on a CPU when it is runnable but not running */
	uint64_t stops;
	uint64_t held_ns_total, held_ns_max;
	uint64_t latency_ns_total, latency_ns_max;
	/* held times by microsecond: bucket i counts [i, i+1) us, the last
	 * everything longer (held_ns_max says how long) */
	uint32_t held_hist[SAMPLER_HIST];
	/* off-CPU wait stacks: read with a stop, from memory alone, reused */
	uint64_t waits_unwound, waits_without_stop, waits_reused;
	/* ptrace: stops not kept as samples because the thread was waiting
	 * for a CPU when asked (it stopped where it was next scheduled), or
	 * stopped too long after the tick; waiting: threads known to be
	 * waiting for a CPU at the tick before any stop, never stopped */
	uint64_t not_running, late, waiting;
	/* ptrace: stops that ended an EINTR-prone wait the thread had just
	 * entered, whose syscall was set to run again (target_undo_eintr) */
	uint64_t eintr_undone;
	/* threads that used CPU in a window and kept no sample (scaled
	 * samplers: their time is one [not sampled] frame) */
	uint64_t threads_unsampled;
	/* perf: samples with kernel frames; the errno perf_event_open refused
	 * kernel frames with (0: sampled, or not asked for) */
	uint64_t kernel_samples;
	int kernel_refused;
	/* perf: CPU time /proc counted that no sample carried ([not sampled]) */
	uint64_t unsampled_ns;
	/* perf: the layout that ran (enum sampler_layout, 0: none yet) and
	 * why (enum sampler_layout_why); per-thread: threads left unsampled
	 * for want of locked memory for their buffer, and the errno */
	int layout, layout_why;
	uint64_t threads_unbuffered;
	int unbuffered_errno;
};

/* Adds what a pass counted to a subscriber's total. */
void sampler_stats_add(struct sampler_stats *to, const struct sampler_stats *from);
/* The held time (us) below which fraction q of the stops were held,
 * from the histogram: an upper bound, to the microsecond below 1 ms. */
double sampler_held_quantile(const struct sampler_stats *st, double q);

/* Where a sampler hands what it saw (called on the tracer thread). */
struct sampler_sink {
	void (*sample)(void *arg, const struct sampler_sample *s);
	void (*event)(void *arg, const struct sampler_event *ev);
	/* a thread seen by a pass (a wait, or a snapshot's stack) */
	void (*thread)(void *arg, const struct collector_sample *s);
	void *arg;
};

/* What the collector lends a sampler while it is attached: the thread
 * table and the unwinder outlive a sampling loop (stacks of waits are
 * reused by the next request). */
struct sampler_host {
	pid_t pid;
	struct tidtab *threads;
	struct unwinder *unw;
	bool kernel_frames; /* perf_event: sample the kernel's call chains where permitted */
	struct maphist *maps; /* perf_event: where MMAP2 and exec records go; NULL: nowhere */
	int perf_layout;      /* perf_event: enum sampler_layout */
	int perf_stall_ms;    /* perf_event, tests: a timeline's buffers left unread from
			       * 1 s after it began until records are lost, at most this long */
	int wake_fd;          /* readable when the collector has news for its loop (a
			       * request came or left): a drain's wait ends; -1: none */
	struct sampler_sink sink;
};

/* Lines a profile's comment gets: only what a user can act on, in plain
 * words ("12 of 400 stacks were not taken: ..."), none when all went well;
 * the detail (stop latencies, held-time quantiles) goes to the log. */
#define SAMPLER_LINE 400
#define SAMPLER_LINES 6
struct sampler_lines {
	char line[SAMPLER_LINES][SAMPLER_LINE];
	size_t n;
};
enum sampler_kind { SAMPLER_CPU, SAMPLER_WAITS, SAMPLER_SNAPSHOT };

struct sampler; /* a backend's state */

struct sampler_ops {
	const char *name;
	unsigned needs; /* enum sampler_need */
	/* Each sample weighs one tick, and each thread's samples share out
	 * its CPU time over the window (from /proc) when its window ends: the
	 * sampler sees where a thread is, not how long it ran there (ptrace).
	 * Otherwise a sample's CPU time is its own (period_ns, cpu_total_ns). */
	bool scaled;
	/* Attaches to the target's threads there now; NULL with e when it
	 * cannot (ERR_PERMISSION, ERR_TARGET...). */
	struct sampler *(*attach)(const struct sampler_host *host, struct err *e);
	/* Follows the threads that came and went since; -1 with e when
	 * sampling cannot go on (ERR_TARGET: the target is gone). */
	int (*follow)(struct sampler *s, struct err *e);
	/* The CPU sampling rate, the fastest subscriber's (0: none). */
	void (*arm)(struct sampler *s, long hz);
	/* Whether context switches are reported (SAMPLER_SWITCH events), for
	 * a timeline's running slices; called before arm, which opens with
	 * it; NULL when the sampler has no switch records (ptrace). */
	void (*switches)(struct sampler *s, bool on);
	/* One tick of a sampler the collector's clock drives (ptrace: stop
	 * the running threads, unwind, resume); NULL when the kernel samples. */
	void (*tick)(struct sampler *s, struct sampler_stats *st);
	/* Hands what arrived (samples, events) to the sink, waiting up to
	 * timeout_ns for something when nothing is there (or for wake_fd). */
	void (*drain)(struct sampler *s, int64_t timeout_ns, struct sampler_stats *st);
	/* Optional passes, NULL when the backend cannot: every thread's
	 * waiting since it was last settled (settle: skip none, as when a
	 * window begins or ends), and every thread's stack now, handed to
	 * sink.thread. */
	void (*waits)(struct sampler *s, bool settle, struct sampler_stats *st);
	void (*snapshot)(struct sampler *s, struct sampler_stats *st);
	/* Lets go of every thread and frees s. */
	void (*detach)(struct sampler *s);
	/* The comment lines of a window of kind at hz, from its stats; the
	 * detail to the log. */
	void (*describe)(enum sampler_kind kind, long hz, const struct sampler_stats *st,
			 struct sampler_lines *out);
};

extern const struct sampler_ops sampler_ptrace;
extern const struct sampler_ops sampler_perf;

/* The frame of a thread's time in the kernel where kernel frames are not
 * sampled (named "[kernel: not sampled]" in profiles): above any user
 * address and any kernel text. */
#define SAMPLER_PC_KERNEL 0xfffffffffffff000ULL
/* The frame of a thread's CPU time where none of its samples was kept
 * (named "[not sampled]"): the time is known, where it went is not. */
#define SAMPLER_PC_NOT_SAMPLED 0xfffffffffffff001ULL

struct collector_config;
/* The sampler for pid as configured: perf_event when perf_event_open works
 * on it, else (auto) ptrace with why perf_event could not be used in why;
 * NULL with e when perf_event was asked for and is refused. */
const struct sampler_ops *sampler_pick(const struct collector_config *cc, pid_t pid,
				       char *why, size_t size, struct err *e);

/* Appends a line to out (dropped past SAMPLER_LINES). */
void sampler_line(struct sampler_lines *out, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

#endif
