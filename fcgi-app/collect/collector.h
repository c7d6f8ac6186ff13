/* collector: one tracer thread per target, running one sampling loop for
 * every subscriber at once (CPU profiles, off-CPU waits, traces) and the
 * jobs that must run on the thread that traces the target (thread dumps).
 *
 * How the threads are sampled is a sampler's (collect/sampler.h; ptrace
 * today): the collector attaches it on its thread, follows the target's
 * threads every 100 ms, ticks it at the fastest subscriber's rate (with
 * jitter), drains what it reports, and hands each subscriber the stacks at
 * that subscriber's own rate with the CPU time the thread used since that
 * subscriber's last sample of it. When the last subscriber and job leave,
 * the thread ends, and the kernel detaches every tracee with it: a crash of
 * the app detaches them the same way. */
#ifndef PF_COLLECTOR_H
#define PF_COLLECTOR_H

#include "base/err.h"
#include "collect/sampler.h"

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
	/* a scaled sampler's (ptrace): a stack taken now that weighs one
	 * tick (cpu_ns 0: its time comes later), or, settle (no stack), the
	 * CPU time of tid since its last settling, to be shared out over the
	 * ticks it was given meanwhile in proportion. A thread that used CPU
	 * and was given no tick gets one [not sampled] frame instead. Settled
	 * when the thread exits and when the subscriber leaves. */
	bool tick, settle;
	int64_t ts_ns;         /* CLOCK_BOOTTIME when the stack was taken (or looked at) */
	/* snapshots only */
	char state;            /* R S D T t Z ..., from /proc, or: */
#define COLLECTOR_STATE_EXITING 'E' /* in the exit stop pprof-fcgi asks for */
	const char *wait;      /* the syscall it is blocked in ("futex"), or NULL */
	uint64_t cpu_total_ns; /* since the thread started */
	bool without_stop;     /* unwound from /proc and memory alone (EINTR-prone wait) */
	/* off-CPU only: every look at a thread with a known wait stack */
	int64_t delay_ns;      /* ns the thread waited since it was last settled (the
				* kernel's count); 0: none; negative: a provisional
				* credit taken back (it ran while not looked at) */
	uint64_t waits;        /* waits begun meanwhile (voluntary context switches) */
	const char *wait_label; /* "futex", "read fd 7 (pipe:[1234])", ... */
	int64_t since_ns;      /* CLOCK_BOOTTIME of the look delay_ns counts from */
	bool blocked;          /* in that wait at ts_ns (else it ran since) */
};

struct collector_sub {
	/* set by the subscriber */
	long hz;               /* CPU sampling rate */
	bool offcpu;           /* waiting threads at COLLECTOR_OFFCPU_HZ, wall clock */
	/* with offcpu: when and where threads ran and waited from context
	 * switches where the sampler has them (perf_event: no thread is
	 * traced), handed to on_switch; the waits passes otherwise */
	bool switches;
	void (*on_sample)(void *arg, const struct collector_sample *s);
	void (*on_switch)(void *arg, const struct sampler_event *ev);
	void *arg;
	/* set by the collector; read after collector_unsubscribe */
	bool target_exited;
	struct timespec exited_at;   /* CLOCK_REALTIME */
	bool target_execd;           /* exec'd a new image meanwhile */
	struct timespec execd_at;    /* CLOCK_REALTIME, the first time */
	struct err error;            /* why sampling stopped early, if it did */
	struct sampler_stats stats;
	bool switched;               /* switches: got on_switch, never waits */
	/* private */
	int slot;
	bool due;              /* this tick's stacks are this subscriber's */
	int64_t next_ns;       /* CLOCK_MONOTONIC of its next stacks, below the loop's rate */
	bool joined, leaving, removed, ended;
};

/* What the collector is made with. Its own struct rather than the app's
 * struct config: collect/ sits below config.h and knows nothing of the app,
 * so main fills this from the config (and a test fills it by hand). */
enum collector_sampler {
	COLLECTOR_AUTO,       /* perf_event where it works for the target, else ptrace */
	COLLECTOR_PERF_EVENT, /* the kernel samples: no thread is stopped */
	COLLECTOR_PTRACE,     /* stops threads with ptrace, reads /proc */
};
struct collector_config {
	enum collector_sampler sampler;
	pid_t self;       /* this process: its own tracer threads are no other tracer */
	int perf_refused; /* tests: an errno perf_event_open is taken to fail with */
	bool kernel_frames; /* perf_event: the kernel's frames too, where permitted */
	struct maphist *maps; /* the mappings by time, the owner's (maphist.h); NULL: none */
	int perf_layout;      /* enum sampler_layout */
	int perf_stall_ms;    /* tests: the buffers left unread up to this long, to lose records */
};

struct collector *collector_new(const struct collector_config *cc);
/* Ends the loop and every subscriber's window now; later subscriptions
 * fail. For shutdown, before waiting for requests in progress. */
void collector_close(struct collector *c);
/* Closes (if not yet) and frees. */
void collector_free(struct collector *c);

/* What the sampler needs (attach, read memory, ...), each checked
 * separately so that a refusal says which: ERR_PERMISSION or ERR_BUSY
 * naming it. collector_window, collector_call and collector_snapshot
 * check first; an endpoint that reads the target before its window calls
 * it itself. */
int collector_check(struct collector *c, pid_t pid, struct err *e);
/* Whether pprof-fcgi may trace pid (off-CPU passes and thread dumps are
 * ptrace's whichever sampler runs): ERR_BUSY naming another tracer. */
int collector_check_tracer(struct collector *c, pid_t pid, struct err *e);

/* The lines a profile's comment gets from a window of kind at hz: only
 * what a user can act on, in plain words, none when all went well; the
 * detail goes to the log. */
void collector_comment(const struct collector *c, enum sampler_kind kind, long hz,
		       const struct sampler_stats *st, struct sampler_lines *out);

/* Which CPU sampler a window of pid gets, as a probe says now:
 * "perf_event", "ptrace (perf_event refused: why)", "ptrace (cpu-sampler =
 * ptrace)" or "none (why)". For the index. */
void collector_sampler(struct collector *c, pid_t pid, char *out, size_t size);

/* Starts delivering samples of pid to sub (from the collector thread). */
int collector_subscribe(struct collector *c, pid_t pid, struct collector_sub *sub,
			struct err *e);
/* A job: fn runs on the tracer thread between ticks, where every ptrace
 * call must be made, with the collector's lock held (it must not call the
 * collector). It returns COLLECTOR_JOB_DONE, or COLLECTOR_JOB_AGAIN to be
 * called again at the next turn of the loop (a long job is started, then
 * polled, so it never holds up a concurrent profile's ticks), or -1 with
 * e. The tracer thread starts for a job when no profile runs. */
#define COLLECTOR_JOB_DONE 0
#define COLLECTOR_JOB_AGAIN 1
/* How often a job that asked again is polled when nothing else runs. */
#define COLLECTOR_JOB_HZ 100
/* The loop's rate at most with a sampler without ticks (perf_event): its
 * samples arrive by themselves (the ring buffers wake it at half full,
 * right after a sample, when the target's thread is interrupted anyway),
 * requests wake it through wake_fd, and each wake-up by its own clock
 * preempts a busy thread of the target: at 1,000 Hz in
 * bench/run-bench.sh, 1,000 a second added ~1,800 pauses over 20 us a
 * second, 50 added 349 and 10 added 194, perf record 194 (same run). */
#define COLLECTOR_DRAIN_HZ 10
struct collector_job {
	/* set by the caller */
	int (*fn)(struct collector_job *job, struct err *e);
	void *arg;
	/* what a sampler pass run by fn hands out (a snapshot's stacks), with arg */
	void (*on_sample)(void *arg, const struct collector_sample *s);
	long timeout_ms;       /* from the call to its end; 0: none */
	/* set by the collector for fn */
	pid_t pid;
	struct sampler *sampler;
	const struct sampler_ops *ops;
	struct sampler_stats stats;
	bool switched;               /* switches: got on_switch, never waits */
	/* private */
	int rc;
	bool done;
	struct err error;
	struct collector_job *next;
};

/* Runs job on the tracer thread of pid and waits for its end: 0, or -1
 * with e (the job's error; ERR_BUSY when it did not end in time or the
 * collector serves another target). A job that timed out is not called
 * again; one whose fn is running when the time is up is waited for. */
int collector_call(struct collector *c, pid_t pid, struct collector_job *job, struct err *e);

/* One stack of every thread of pid, delivered to sub before this returns
 * (a job; sub->stats gets its counts): each thread is stopped only for its
 * own unwind, and never one blocked in a syscall that a stop would
 * interrupt with EINTR (epoll_wait...): those are unwound from
 * /proc/PID/task/TID/syscall and a copy of their stack. */
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
