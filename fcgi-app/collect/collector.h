/* collector: one tracer thread per target, running one sampling loop for
 * every subscriber at once (CPU profiles now; off-CPU and trace later).
 *
 * Linux ties a tracee to the tracer thread, so this thread makes every
 * ptrace call. At each tick it lists the target's threads, seizes new ones,
 * reads each one's CPU time (/proc/PID/task/TID/schedstat), interrupts only
 * the threads that are running and have run since the last tick (a sleeping
 * thread is never stopped: an interrupted epoll_wait returns EINTR to the
 * target), unwinds them, resumes them, then hands each subscriber the stack
 * with the CPU time the thread used since that subscriber's last sample of
 * it. Signals arriving meanwhile are re-delivered and group-stops kept. When
 * the last subscriber leaves the thread ends, and the kernel detaches every
 * tracee with it: a crash of the app detaches them the same way. */
#ifndef PF_COLLECTOR_H
#define PF_COLLECTOR_H

#include "base/err.h"

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

struct collector;

struct collector_sample {
	pid_t tid;
	const char *thread_name;
	const uint64_t *pcs;   /* leaf first; may be empty (never sampled) */
	size_t npcs;
	uint64_t cpu_ns;       /* CPU time since this subscriber's last sample of tid */
	bool sampled;          /* a stack taken now; false: time carried onto the last one */
	int64_t ts_ns;         /* CLOCK_BOOTTIME when the stack was taken (or looked at) */
	/* snapshots only */
	char state;            /* R S D T t Z ..., from /proc */
	const char *wait;      /* the syscall it is blocked in ("futex"), or NULL */
	uint64_t cpu_total_ns; /* since the thread started */
	bool without_stop;     /* unwound from /proc and memory alone (EINTR-prone wait) */
	/* off-CPU only */
	uint64_t delay_ns;     /* wall time the thread spent waiting, this pass */
	bool new_wait;         /* a wait that began since the last pass */
	const char *wait_label; /* "futex", "read fd 7 (pipe:[1234])", ... */
};

#define COLLECTOR_HIST 1024

struct collector_stats {
	uint64_t ticks, samples, stops, lost; /* lost: asked to stop, did not in time */
	uint64_t waits_unwound, waits_without_stop, waits_reused; /* off-CPU */
	/* held: from seeing a thread stopped to resuming it (registers, unwind);
	 * latency: from asking it to stop to its stop, which waits for the
	 * thread's next turn on a CPU when it is runnable but not running */
	uint64_t held_ns_total, held_ns_max;
	uint64_t latency_ns_total, latency_ns_max;
	/* held times by microsecond: bucket i counts [i, i+1) us, the last
	 * everything longer (held_ns_max says how long) */
	uint32_t held_hist[COLLECTOR_HIST];
};

struct collector_sub {
	/* set by the subscriber */
	long hz;               /* CPU sampling rate; ignored for a snapshot */
	bool snapshot;         /* one pass over every thread, then ended */
	bool offcpu;           /* waiting threads at COLLECTOR_OFFCPU_HZ, wall clock */
	void (*on_sample)(void *arg, const struct collector_sample *s);
	void *arg;
	/* set by the collector; read after collector_unsubscribe */
	bool target_exited;
	struct timespec exited_at;   /* CLOCK_REALTIME */
	bool target_execd;           /* exec'd a new image meanwhile */
	struct timespec execd_at;    /* CLOCK_REALTIME, the first time */
	struct err error;            /* why sampling stopped early, if it did */
	struct collector_stats stats;
	/* private */
	int slot;
	bool due;              /* this tick's stacks are this subscriber's */
	int64_t next_ns;       /* CLOCK_MONOTONIC of its next stacks, below the loop's rate */
	bool joined, leaving, removed, ended, offcpu_started;
};

/* What the collector is made with. Its own struct rather than the app's
 * struct config: collect/ sits below config.h and knows nothing of the app,
 * so main fills this from the config (and a test fills it by hand). */
enum collector_sampler {
	COLLECTOR_PTRACE, /* stops threads with ptrace, reads /proc: today's only backend */
};
struct collector_config {
	enum collector_sampler sampler;
	pid_t self;       /* this process: its own tracer threads are no other tracer */
};

struct collector *collector_new(const struct collector_config *cc);
/* Ends the loop and every subscriber's window now; later subscriptions
 * fail. For shutdown, before waiting for requests in progress. */
void collector_close(struct collector *c);
/* Closes (if not yet) and frees. */
void collector_free(struct collector *c);

/* The held time (us) below which fraction q of the stops were held,
 * from the histogram: an upper bound, to the microsecond below 1 ms. */
double collector_held_quantile(const struct collector_stats *st, double q);

/* Starts delivering samples of pid to sub (from the collector thread). */
int collector_subscribe(struct collector *c, pid_t pid, struct collector_sub *sub,
			struct err *e);
/* One stack of every thread of pid, delivered to sub before this returns:
 * each thread is stopped only for its own unwind, and never one blocked in
 * a syscall that a stop would interrupt with EINTR (epoll_wait...): those
 * are unwound from /proc/PID/task/TID/syscall and a copy of their stack. */
int collector_snapshot(struct collector *c, pid_t pid, struct collector_sub *sub,
		       struct err *e);

/* What a window of sampling came to. */
struct collector_window {
	int64_t start_ns;       /* CLOCK_REALTIME, for a profile's time_nanos */
	int64_t duration_ns;    /* as long as asked, or until the target exited */
	bool target_exited;
	double exited_after_s;  /* into the window, when it did */
	bool target_execd;      /* the target exec'd a new image in the window */
	double execd_after_s;
};

/* Runs subs[0..n) together for seconds: subscribes them, waits for the
 * window (or the target's exit), unsubscribes them. 0 when the window
 * ran (to its end or to the target's exit: see w), -1 with e when it could
 * not (no permission, busy, shutting down). */
int collector_window(struct collector *c, pid_t pid, struct collector_sub **subs, size_t n,
		     long seconds, struct collector_window *w, struct err *e);

/* Sleeps until deadline (CLOCK_MONOTONIC) or until sampling ended early
 * (target exit, error); true when it ended early. */
bool collector_wait(struct collector *c, struct collector_sub *sub,
		    const struct timespec *deadline);
/* Sleeps until deadline (CLOCK_MONOTONIC) or until the collector closes. */
void collector_sleep(struct collector *c, const struct timespec *deadline);

/* Ends delivery: CPU time not yet reported goes onto each thread's last
 * stack first. No on_sample call happens after this returns. */
void collector_unsubscribe(struct collector *c, struct collector_sub *sub);

#define COLLECTOR_MAX_SUBS 64
/* Waiting threads are looked at more slowly than running ones: wall-clock
 * profilers use 10-20 Hz, and a wait costs nothing to watch. */
#define COLLECTOR_OFFCPU_HZ 20

#endif
